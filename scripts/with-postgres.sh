#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# Run a command against two throwaway PostgreSQL servers (the second one bare, for restores
# onto a new server):
#   scripts/with-postgres.sh CMD ARGS...
# Both servers are stopped and their files deleted when the command ends, when starting either
# fails, or on Ctrl-C / TERM; the script exits with the command's status. See scripts/lib/pg.sh
# for the exported variables (EHRDATA_TEST_PG, EHRDATA_TEST_PG2, PGHOST, PGPORT, PGUSER).
set -euo pipefail

if (($# == 0)); then
    echo "usage: $0 CMD [ARGS...]" >&2
    exit 2
fi
# shellcheck source=lib/pg.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/pg.sh"

trap pg_stop_all EXIT
# exit from a signal trap runs the EXIT trap, i.e. pg_stop_all (128 + signal number).
trap 'exit 130' INT
trap 'exit 143' TERM

pg_start
pg_start_second
status=0
"$@" || status=$?
exit "$status"
