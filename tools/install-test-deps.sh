#!/usr/bin/env bash
# Installs the Debian packages listed in tools/test-deps/apt.txt that are not installed yet.
# Needs root (or sudo) and apt; elsewhere it says what is missing and carries on: the tests that need a
# missing package skip.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
mapfile -t wanted < <(sed -e 's/#.*//' -e 's/[[:space:]]//g' "$here/test-deps/apt.txt" | grep -v '^$' || true)
missing=()
for pkg in "${wanted[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if [ ${#missing[@]} -eq 0 ]; then
    echo "test deps: all ${#wanted[@]} Debian packages present"
    exit 0
fi
sudo=""
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then sudo="sudo"; else
        echo "test deps: not root and no sudo; missing (their tests will skip): ${missing[*]}"; exit 0
    fi
fi
if ! command -v apt-get >/dev/null 2>&1; then
    echo "test deps: no apt-get; missing (their tests will skip): ${missing[*]}"; exit 0
fi
echo "test deps: installing ${missing[*]}"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
