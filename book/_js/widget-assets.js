// html-manager's stylesheets resolve their icon fonts against the URL of the AMD module that
// holds them ("@jupyter-widgets/base", ".../html-manager/dist/libembed-amd"), by default a
// folder beside the page. Map those modules to the folder this file was served next to, so
// every page, at any depth, finds the fonts in /_vendor/html-manager/. The modules themselves
// are defined inside embed-amd.js, so requirejs never fetches them from there.
(function () {
  const assets = new URL("html-manager", document.currentScript.src).href;
  window.requirejs.config({
    paths: {
      "@jupyter-widgets": assets,
      "@jupyter-widgets/html-manager/dist": assets,
    },
  });
})();
