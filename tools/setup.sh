#!/usr/bin/env bash
# Create ./.venv (if missing) and install keras-lt with the torch (CPU, pinned 2.13.0),
# TensorFlow (CPU) and JAX backends plus the test tools. Safe to re-run.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
    "$PY" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --upgrade pip
# torch==2.13.0 is pinned here, not in the package metadata: an unpinned torch pulls several GB
# of CUDA wheels, and a pin in the metadata would clash with a user's own torch build.
.venv/bin/python -m pip install --quiet "torch==2.13.0" -e ".[all]"
.venv/bin/python -c "import keras, keras_lt; print('keras', keras.__version__, '| keras_lt', keras_lt.__version__)"
