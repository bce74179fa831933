#!/usr/bin/env bash
# The project's test command (the README's): the whole suite, then the operator tests under two
# portable CPU targets. Run from the repository root in an environment with the test extra.
# Each run spreads its tests over one pytest-xdist worker per core (BCE_GRAD_TEST_WORKERS
# overrides: a number, or 0 for one process without pytest-xdist). Exits non-zero when any run
# fails or collects no test.
set -uo pipefail
cd "$(dirname "$0")/.."

status=0
run() {
    local rc=0
    echo "== $*" >&2
    "$@" || rc=$?
    if [ "$rc" -eq 5 ]; then
        echo "error: pytest collected no tests: $*" >&2
        rc=1
    fi
    if [ "$rc" -ne 0 ]; then status=1; fi
}

workers="${BCE_GRAD_TEST_WORKERS:-auto}"
spread=(-n "$workers")
if [ "$workers" = "0" ]; then
    spread=()  # one process: runs without pytest-xdist installed, too
fi
run python -m pytest "${spread[@]}" "$@"
for mcpu in x86-64-v3 x86-64; do
    run env BCE_GRAD_MCPU="$mcpu" python -m pytest "${spread[@]}" -p no:cacheprovider \
        testcases/operator
done
exit "$status"
