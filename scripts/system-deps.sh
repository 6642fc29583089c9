#!/usr/bin/env bash
# Debian packages the project needs. As root they are installed; otherwise the missing ones are
# named and the run fails, because a test that cannot run must not pass by skipping.
# `system-deps.sh book` asks only for what the book build needs; there a missing etcd is not
# fatal: the chapter that reruns experiments on real etcd then shows a visible note instead.
set -euo pipefail

declare -A wanted=(
  [/usr/bin/chromium]=chromium          # the browser test of the built book
  [/usr/bin/etcd]=etcd-server           # real etcd 3.4, the reference for behaviour
  [/usr/bin/etcdctl]=etcd-client
  [/usr/bin/curl]=curl                  # the runtime is checked with etcd's curl examples
  [/usr/sbin/ip]=iproute2               # network namespaces: partitions of real etcd (root)
  [/usr/bin/node]=nodejs                # npm vendors Pyodide for the book's live mode
  [/usr/bin/npm]=npm
)
optional=()
if [ "${1:-}" = book ]; then
  declare -A wanted=([/usr/bin/etcd]=etcd-server [/usr/sbin/ip]=iproute2
                     [/usr/bin/node]=nodejs [/usr/bin/npm]=npm)
  optional=(etcd-server iproute2)
fi
missing=()
for path in $(printf '%s\n' "${!wanted[@]}" | sort); do
  command -v "$(basename "$path")" >/dev/null 2>&1 || missing+=("${wanted[$path]}")
done
python3 -c 'import venv, ensurepip' 2>/dev/null || missing+=(python3-venv)

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  required=()
  for p in "${missing[@]}"; do
    [[ " ${optional[*]} " == *" $p "* ]] || required+=("$p")
  done
  if [ ${#required[@]} -eq 0 ]; then
    echo "note: ${missing[*]} missing; the real-etcd chapter will say so in the book" >&2
    echo "      (install with: sudo apt-get install -y ${missing[*]})" >&2
    exit 0
  fi
  echo "error: missing Debian packages: ${missing[*]}" >&2
  echo "       install them with: sudo apt-get install -y ${missing[*]}" >&2
  exit 1
fi
echo "installing Debian packages: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq "${missing[@]}" >/dev/null
