#!/usr/bin/env bash
# Installs the unattended nightly run: the ehrdata binary into /usr/local/bin, the cron.d file
# (or, with --systemd, the service and timer units), the logrotate file, the log directory, and
# a config skeleton under /etc/ehrdata if there is none (mode 0600). Idempotent: a second run
# changes nothing. --uninstall removes exactly what an install put there (a config it did not
# create, and the logs, are left).
#
#   bash scripts/install-cron.sh [--systemd] [--uninstall] [--binary PATH] [--root DIR]
#
# --binary: the ehrdata to install (default: build it, release). --root: install below DIR
# instead of / (for tests and packaging; cron itself is then not installed). Debian 12, as root.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)
systemd=0 uninstall=0 binary="" dest=""
while (($#)); do
    case $1 in
        --systemd) systemd=1 ;;
        --uninstall) uninstall=1 ;;
        --binary) binary=$2; shift ;;
        --root) dest=${2%/}; shift ;;
        -h | --help) sed -n '2,12p' "$0"; exit 0 ;;
        *) echo "install-cron: unknown argument $1 (see --help)" >&2; exit 64 ;;
    esac
    shift
done

# What an install writes, relative to the root, and from where. The record of what this script
# created lives beside them, so --uninstall removes those and nothing else.
BIN=usr/local/bin/ehrdata
CROND=etc/cron.d/ehrdata
LOGROTATE=etc/logrotate.d/ehrdata
UNITS=(ehrdata-backup.service ehrdata-backup.timer ehrdata-drill.service ehrdata-drill.timer)
CONFIG=etc/ehrdata/ehrdata.yaml
RECORD=etc/ehrdata/.installed-by-install-cron
LOGDIR=var/log/ehrdata

target() { echo "$dest/$1"; }

# Creates root-relative DIR and its missing parents, recording each one created (outermost
# first, so --uninstall, going backwards, removes the innermost first, and only if empty).
ensure_dir() {
    local rel=$1 parts=() p
    while [[ $rel != . && $rel != / && ! -d $(target "$rel") ]]; do
        parts=("$rel" "${parts[@]}")
        rel=$(dirname "$rel")
    done
    for p in "${parts[@]}"; do
        mkdir "$(target "$p")"
        record "$p"
    done
}

# Copies SRC to root-relative DST with MODE only when the content or mode differs.
put() {
    local src=$1 dst mode=$3
    dst=$(target "$2")
    ensure_dir "$(dirname "$2")"
    if [[ -f $dst ]] && cmp -s "$src" "$dst" && [[ $(stat -c %a "$dst") == "$mode" ]]; then return 0; fi
    install -m "$mode" "$src" "$dst.tmp.$$"
    mv -f "$dst.tmp.$$" "$dst"
    echo "install-cron: wrote /$2"
}

record() {
    local r
    r=$(target "$RECORD")
    [[ -d $(dirname "$r") ]] || { mkdir -p "$(dirname "$r")"; echo "$(dirname "$RECORD")" >>"$r"; }
    grep -qxF "$1" "$r" 2>/dev/null || echo "$1" >>"$r"
}

if ((uninstall)); then
    r=$(target "$RECORD")
    if [[ ! -f $r ]]; then echo "install-cron: nothing recorded as installed; nothing removed"; exit 0; fi
    if [[ -z $dest ]] && command -v systemctl >/dev/null 2>&1 && [[ -d /run/systemd/system ]]; then
        systemctl disable --now ehrdata-backup.timer ehrdata-drill.timer >/dev/null 2>&1 || true
    fi
    while IFS= read -r path; do
        [[ -n $path ]] || continue
        if [[ -d $(target "$path") ]]; then rmdir "$(target "$path")" 2>/dev/null || true; else rm -f "$(target "$path")"; fi
        echo "install-cron: removed /$path"
    done < <(tac "$r")
    rm -f "$r"
    # The record's own directory, if the install made it (its name is in the record, first).
    rmdir "$(target "$(dirname "$RECORD")")" 2>/dev/null || true
    exit 0
fi

if [[ -z $dest ]]; then
    # cron is not installed on these machines by default (nor logrotate).
    packages=(logrotate)
    ((systemd)) || packages+=(cron)
    missing=()
    for p in "${packages[@]}"; do
        [[ $(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true) == "install ok installed" ]] || missing+=("$p")
    done
    if ((${#missing[@]})); then
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
        echo "install-cron: installed ${missing[*]}"
    fi
fi

if [[ -z $binary ]]; then
    command -v swift >/dev/null 2>&1 || export PATH="/opt/swift/usr/bin:$PATH"
    (cd "$ROOT" && swift build -c release >/dev/null)
    binary="$ROOT/.build/release/ehrdata"
fi
[[ -x $binary ]] || { echo "install-cron: no executable ehrdata at $binary" >&2; exit 66; }

# put, recording the file when this install created it (after its directories).
install_file() {
    local created=0
    [[ -e $(target "$2") ]] || created=1
    put "$@"
    ((created == 0)) || record "$2"
}

install_file "$binary" "$BIN" 755
if ((systemd)); then
    for u in "${UNITS[@]}"; do install_file "$ROOT/cron/$u" "etc/systemd/system/$u" 644; done
else
    install_file "$ROOT/cron/ehrdata" "$CROND" 644
fi
install_file "$ROOT/cron/ehrdata.logrotate" "$LOGROTATE" 644
if [[ ! -d $(target "$LOGDIR") ]]; then
    ensure_dir "$LOGDIR"
    chmod 750 "$(target "$LOGDIR")"
fi
if [[ ! -e $(target "$CONFIG") ]]; then
    # The skeleton ehrdata itself writes, commented; 0600 since a connection string may follow.
    ensure_dir etc/ehrdata
    tmp=$(mktemp)
    "$binary" config sample --archive /srv/backups/ehrdata >"$tmp"
    install -m 600 "$tmp" "$(target "$CONFIG")"
    rm -f "$tmp"
    record "$CONFIG"
    echo "install-cron: wrote /$CONFIG (a skeleton: set the archive and sources, then run ehrdata init)"
fi
if ((systemd)) && [[ -z $dest ]] && command -v systemctl >/dev/null 2>&1 && [[ -d /run/systemd/system ]]; then
    systemctl daemon-reload
    systemctl enable --now ehrdata-backup.timer ehrdata-drill.timer >/dev/null
fi
echo "install-cron: done ($( ((systemd)) && echo "systemd timers" || echo "cron.d file"); log /var/log/ehrdata/ehrdata.log)"
