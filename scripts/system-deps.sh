#!/usr/bin/env bash
# Debian packages the tests need. As root they are installed; otherwise the missing ones are
# named and the run fails, because a test that cannot run must not pass by skipping.
set -euo pipefail

declare -A wanted=(
  [/usr/bin/chromium]=chromium          # the browser test of the built book
  [/usr/bin/etcd]=etcd-server           # real etcd 3.4, the reference for behaviour
  [/usr/bin/etcdctl]=etcd-client
  [/usr/bin/npm]=npm                    # vendors the widget runtime into the book
)
missing=()
for path in $(printf '%s\n' "${!wanted[@]}" | sort); do
  command -v "$(basename "$path")" >/dev/null 2>&1 || missing+=("${wanted[$path]}")
done
python3 -c 'import venv, ensurepip' 2>/dev/null || missing+=(python3-venv)

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "error: missing Debian packages: ${missing[*]}" >&2
  echo "       install them with: sudo apt-get install -y ${missing[*]}" >&2
  exit 1
fi
echo "installing Debian packages: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq "${missing[@]}" >/dev/null
