#!/usr/bin/env bash
# The real servers prwarden's tests run against, from Debian's packages: PostgreSQL (the
# scale-out store and queue) and Chromium with its WebDriver (the security console's browser
# tests). Installs whichever is missing; nothing is downloaded at test time.
set -euo pipefail
packages=(postgresql chromium chromium-driver)
missing=()
for package in "${packages[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed"; then
        missing+=("$package")
    fi
done
if ((${#missing[@]} == 0)); then
    exit 0
fi
as_root=()
if [ "$(id -u)" -ne 0 ]; then
    as_root=(sudo)
fi
echo "installing ${missing[*]} from Debian's packages"
"${as_root[@]}" apt-get update -qq
DEBIAN_FRONTEND=noninteractive "${as_root[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
