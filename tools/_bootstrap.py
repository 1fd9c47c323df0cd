"""Shared start-up of the command-line tools: import path and ``--backend``.

The backend must be chosen before ``keras`` is imported, so tools call
:func:`select_backend` with their parsed ``--backend`` first.
"""

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:      # run from a clone without installing
    sys.path.insert(0, str(ROOT))

BACKENDS = ("torch", "tensorflow", "jax")


def select_backend(name):
    """Set ``KERAS_BACKEND`` from ``--backend`` (None keeps the environment's;
    keras' own default is tensorflow)."""
    if name:
        if "keras" in sys.modules:
            raise RuntimeError("keras was imported before the backend was chosen")
        os.environ["KERAS_BACKEND"] = name
    if os.environ.get("KERAS_BACKEND", "tensorflow") == "tensorflow":
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
