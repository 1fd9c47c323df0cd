#!/usr/bin/env bash
# Run the test suite once per Keras backend (torch, tensorflow, jax).
# Usage: tools/test.sh [extra pytest args]; BACKENDS="torch jax" tools/test.sh to choose.
set -uo pipefail
cd "$(dirname "$0")/.."
BACKENDS=${BACKENDS:-"torch tensorflow jax"}
status=0
for backend in $BACKENDS; do
    echo "=== KERAS_BACKEND=$backend ==="
    start=$(date +%s)
    KERAS_BACKEND=$backend .venv/bin/python -m pytest -q -m "not slow" -p no:cacheprovider "$@"
    rc=$?
    echo "=== $backend: exit $rc in $(( $(date +%s) - start ))s ==="
    [ $rc -ne 0 ] && status=1
done
exit $status
