"""Shared start-up of the command-line tools: import path and ``--backend``.

The backend must be chosen before ``keras`` is imported, so tools call
:func:`select_backend` with their parsed ``--backend`` first.
"""

import importlib.util
import json
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:      # run from a clone without installing
    sys.path.insert(0, str(ROOT))

BACKENDS = ("torch", "tensorflow", "jax")
#: the backend a tool uses when neither ``--backend``, ``KERAS_BACKEND`` nor Keras' config file
#: names one: the first installed, fastest first as measured end to end on a CPU
#: (reports/benchmarks/end_to_end.txt: torch 1.2x the authors' PyTorch code, TensorFlow 0.96x,
#: JAX 0.27x)
DEFAULT_ORDER = ("torch", "tensorflow", "jax")


def configured_backend():
    """The backend named by ``KERAS_BACKEND`` or by Keras' config file
    (``$KERAS_HOME/keras.json``, default ``~/.keras/keras.json``), or None."""
    if os.environ.get("KERAS_BACKEND"):
        return os.environ["KERAS_BACKEND"]
    home = Path(os.environ.get("KERAS_HOME", Path.home() / ".keras"))
    try:
        return json.loads((home / "keras.json").read_text()).get("backend")
    except (OSError, ValueError, AttributeError):
        return None


def select_backend(name):
    """Set ``KERAS_BACKEND`` from ``--backend``; without it keep the configured one
    (:func:`configured_backend`), else the first installed of :data:`DEFAULT_ORDER`."""
    if not name and not configured_backend():
        name = next((b for b in DEFAULT_ORDER if importlib.util.find_spec(b) is not None), None)
    if name:
        if "keras" in sys.modules:
            raise RuntimeError("keras was imported before the backend was chosen")
        os.environ["KERAS_BACKEND"] = name
    if os.environ.get("KERAS_BACKEND", "tensorflow") == "tensorflow":
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
