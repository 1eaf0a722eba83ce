#!/usr/bin/env bash
# Idempotent install of ehrdata's build/test dependencies (Debian 12, run as root).
# Installs only the missing Debian packages, then checks that the Swift toolchain is there.
# Usage: bash scripts/install-deps.sh   (sourcing also works; see below)

if [[ "${BASH_SOURCE[0]}" != "$0" ]]; then
    # Sourced: do the work in a child bash so the caller's shell options are left
    # alone, then only put swift on the caller's PATH.
    bash "${BASH_SOURCE[0]}" || return 1
    command -v swift >/dev/null 2>&1 || export PATH="/opt/swift/usr/bin:$PATH"
    return 0
fi
set -euo pipefail

# zstd: the CLI, to check by hand (and in tests) that zstd archives decompress without ehrdata.
# python3-prometheus-client: a real Prometheus text-format parser, for the metrics file's tests.
# restic: the retention rules are checked against restic's own 'forget' (Debian's 0.14).
PACKAGES=(libpq-dev libsqlite3-dev zlib1g-dev libzstd-dev libdeflate-dev postgresql sqlite3 zstd python3-prometheus-client restic logrotate systemd)

missing=()
for pkg in "${PACKAGES[@]}"; do
    # dpkg-query fails for never-seen packages; treat that as missing too.
    status=$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)
    [[ "$status" == "install ok installed" ]] || missing+=("$pkg")
done

if ((${#missing[@]})); then
    sudo=()
    [[ $(id -u) -eq 0 ]] || sudo=(sudo)
    "${sudo[@]}" apt-get update -qq
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive DEBCONF_NOWARNINGS=yes \
        apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    did="installed ${missing[*]}"
else
    did="nothing to install (${PACKAGES[*]} present)"
fi

# The toolchain is not a Debian package: it is expected at /opt/swift.
if ! command -v swift >/dev/null 2>&1 && [[ -x /opt/swift/usr/bin/swift ]]; then
    export PATH="/opt/swift/usr/bin:$PATH"
fi
if ! command -v swift >/dev/null 2>&1; then
    echo "install-deps: error: swift not found on PATH nor in /opt/swift/usr/bin" >&2
    exit 1
fi
echo "install-deps: $did; $(swift --version 2>/dev/null | head -n1)"
