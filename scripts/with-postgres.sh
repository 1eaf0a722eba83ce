#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# Run a command against a throwaway PostgreSQL server:
#   scripts/with-postgres.sh CMD ARGS...
# The server is stopped and its files deleted when the command ends (or on Ctrl-C / TERM);
# the script exits with the command's status. See scripts/lib/pg.sh for the exported variables.
set -euo pipefail

if (($# == 0)); then
    echo "usage: $0 CMD [ARGS...]" >&2
    exit 2
fi
# shellcheck source=lib/pg.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/pg.sh"

trap pg_stop EXIT
# exit from a signal trap runs the EXIT trap, i.e. pg_stop (128 + signal number).
trap 'exit 130' INT
trap 'exit 143' TERM

pg_start
status=0
"$@" || status=$?
exit "$status"
