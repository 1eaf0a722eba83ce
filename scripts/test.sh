#!/usr/bin/env bash
# Builds ehrdata and its tests once, then runs the whole test suite against two throwaway
# PostgreSQL servers (scripts/with-postgres.sh exports EHRDATA_TEST_PG and EHRDATA_TEST_PG2; the
# PostgreSQL tests fail, never skip, without them).
#
#   bash scripts/test.sh                      # everything
#   bash scripts/test.sh --filter Archive     # extra arguments go to `swift test`
#
# Runs scripts/install-deps.sh first (Debian 12, as root). Exits with swift test's status.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

bash scripts/install-deps.sh
command -v swift >/dev/null 2>&1 || export PATH="/opt/swift/usr/bin:$PATH"

swift build --build-tests

# The CLI tests run the real binary.
EHRDATA_BINARY="$(swift build --show-bin-path)/ehrdata"
export EHRDATA_BINARY
if [[ ! -x $EHRDATA_BINARY ]]; then
    echo "test: error: no ehrdata binary at $EHRDATA_BINARY after the build" >&2
    exit 1
fi

# Built once, above: --skip-build. The tests are Swift Testing's (run in parallel, its
# default); --disable-xctest drops XCTest's empty "Executed 0 tests" run before them.
exec bash scripts/with-postgres.sh swift test --skip-build --disable-xctest "$@"
