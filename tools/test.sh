#!/usr/bin/env bash
# Run the test suite once per Keras backend (torch, tensorflow, jax).
# Usage: tools/test.sh [extra pytest args]; BACKENDS="torch jax" tools/test.sh to choose.
# TensorFlow and JAX run on 2 pytest-xdist workers (their graph tracing and compilation are
# single-threaded: 772 -> 397 s and 1077 -> 634 s on a 2-core CPU); torch runs in one process
# (its eager ops already use both cores: 266 s, 325 s on 2 workers). TEST_WORKERS=N overrides.
# JAX compiles every training step; the tests train the same tiny models many times, so a
# persistent compilation cache, fresh for each run, compiles each program once (the JAX suite
# on 2 workers: 540 -> 423 s).
set -uo pipefail
cd "$(dirname "$0")/.."
BACKENDS=${BACKENDS:-"torch tensorflow jax"}
JAX_COMPILATION_CACHE_DIR=$(mktemp -d)
trap 'rm -rf "$JAX_COMPILATION_CACHE_DIR"' EXIT
export JAX_COMPILATION_CACHE_DIR JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS=0 \
    JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES=0
status=0
for backend in $BACKENDS; do
    case $backend in torch) workers=1 ;; *) workers=2 ;; esac
    workers=${TEST_WORKERS:-$workers}
    parallel=()
    [ "$workers" -gt 1 ] && parallel=(-n "$workers")
    echo "=== KERAS_BACKEND=$backend (${workers} worker(s)) ==="
    start=$(date +%s)
    KERAS_BACKEND=$backend .venv/bin/python -m pytest -q -m "not slow" -p no:cacheprovider \
        "${parallel[@]}" "$@"
    rc=$?
    echo "=== $backend: exit $rc in $(( $(date +%s) - start ))s ==="
    [ $rc -ne 0 ] && status=1
done
exit $status
