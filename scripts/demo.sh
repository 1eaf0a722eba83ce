#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# A guided tour of ehrdata on a copy of the synthetic fixture (fixtures/ehr.sqlite):
# init, config check, backup, list, show, verify, restore, then proof that the restored database
# holds exactly what the source holds, and that the archive is readable with coreutils alone.
#
#   bash scripts/demo.sh
#
# Environment:
#   EHRDATA_DEMO_DIR  workspace to use (must be new or empty; default: a fresh /tmp/ehrdata-demo.XXXXXX)
#   EHRDATA_BIN       use this ehrdata binary instead of building one with `swift build`
#
# Runs scripts/install-deps.sh first (Debian 12, as root). Exits 1 if the restored copy differs.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

bash scripts/install-deps.sh
command -v swift >/dev/null 2>&1 || export PATH="/opt/swift/usr/bin:$PATH"

if [[ -z ${EHRDATA_BIN:-} ]]; then
    echo "building ehrdata (first build takes a few minutes)…"
    # The build's chatter goes to a log, shown only if the build fails.
    build_log=$(mktemp /tmp/ehrdata-build.XXXXXX.log)
    if ! swift build >"$build_log" 2>&1; then
        tail -n 40 "$build_log" >&2
        echo "demo: error: swift build failed; full log: $build_log" >&2
        exit 1
    fi
    rm -f "$build_log"
    EHRDATA_BIN="$(swift build --show-bin-path)/ehrdata"
fi
if [[ ! -x $EHRDATA_BIN ]]; then
    echo "demo: error: no ehrdata binary at $EHRDATA_BIN" >&2
    exit 1
fi

# The workspace: a new directory, or an empty one the caller named.
if [[ -n ${EHRDATA_DEMO_DIR:-} ]]; then
    DEMO=$EHRDATA_DEMO_DIR
    mkdir -p "$DEMO"
    if [[ -n $(ls -A "$DEMO") ]]; then
        echo "demo: error: $DEMO is not empty; point EHRDATA_DEMO_DIR at a new or empty directory" >&2
        exit 1
    fi
else
    DEMO=$(mktemp -d /tmp/ehrdata-demo.XXXXXX)
fi
DEMO=$(cd "$DEMO" && pwd)

# Shown as `ehrdata …` in the echoed commands, whichever binary it really is.
# shellcheck disable=SC2317  # called through run()
ehrdata() { "$EHRDATA_BIN" "$@"; }

# Prints a command, then runs it.
run() {
    printf '\n$ %s\n' "$*"
    "$@"
}

SRC=$DEMO/ehr.sqlite
RESTORED=$DEMO/restored.sqlite
CONFIG=$DEMO/ehrdata.yaml

echo
echo "demo workspace: $DEMO"
# The fixture is in WAL mode: opening it creates -wal/-shm files beside it, so work on a copy
# and never open the committed file.
run cp fixtures/ehr.sqlite "$SRC"

run ehrdata init --config "$CONFIG" --archive "$DEMO/archive"

# init wrote a commented sample config whose source points at /var/lib/ehr/backend.sqlite;
# replace it with one that points at the demo copy.
printf '\n# replacing the sample config with one whose source is the demo copy:\n'
cat >"$CONFIG" <<EOF
archive: $DEMO/archive
sources:
  - name: backend
    kind: sqlite
    path: $SRC
retention:
  keep_last: 7
compression:
  level: 6
EOF
sed 's/^/    /' "$CONFIG"

export EHRDATA_CONFIG=$CONFIG
printf '\n$ export EHRDATA_CONFIG=%s\n' "$CONFIG"

run ehrdata config check
echo "# (placement warnings are expected here: the demo keeps the database and the archive in one"
echo "#  scratch directory; in production the archive goes on another, persistent disk)"
run ehrdata backup
run ehrdata list
run ehrdata show latest
run ehrdata verify
run ehrdata restore latest --to "$RESTORED"

# The archive needs no ehrdata to be read: the manifest is checked with sha256sum, the data
# file is plain gzip, and inflating it gives the same bytes restore wrote.
snapshots=("$DEMO"/archive/snapshots/*)   # ids sort in time order; the demo made one
SNAPSHOT=${snapshots[-1]}
printf '\n# the same snapshot, read with coreutils only:\n'
run cd "$SNAPSHOT"
run sha256sum -c manifest.sha256
run gunzip -t data/backend.sqlite.gz
echo "gunzip -t: ok"
printf '\n$ gunzip -c data/backend.sqlite.gz | sha256sum; sha256sum %s\n' "$RESTORED"
gunzip -c data/backend.sqlite.gz | sha256sum
sha256sum "$RESTORED"
cd "$ROOT"

# Same content: compare full SQL dumps of the source and the restored copy.
printf '\n# comparing the source and the restored copy, row by row:\n'
printf '$ sqlite3 %s .dump | sha256sum\n' "$SRC"
src_sum=$(sqlite3 "$SRC" .dump | sha256sum | cut -d' ' -f1)
echo "$src_sum"
printf '$ sqlite3 %s .dump | sha256sum\n' "$RESTORED"
restored_sum=$(sqlite3 "$RESTORED" .dump | sha256sum | cut -d' ' -f1)
echo "$restored_sum"

echo
if [[ $src_sum == "$restored_sum" ]]; then
    echo "MATCH: the restored database holds exactly the source's data"
    status=0
else
    echo "MISMATCH: the restored database differs from the source"
    status=1
fi
echo "demo workspace: $DEMO (remove it with: rm -rf $DEMO)"
exit "$status"
