"""Shared start-up of the command-line tools: import path and ``--backend``.

The backend must be chosen before ``keras`` is imported, so tools call
:func:`select_backend` with their parsed ``--backend`` first. The rule, the same for
every tool: ``--backend``, else ``$KERAS_BACKEND``, else the first installed of torch,
TensorFlow, JAX; the tool prints ``backend: <name> (<why>)`` on standard error when it starts.
"""

import importlib.util
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:      # run from a clone without installing
    sys.path.insert(0, str(ROOT))

BACKENDS = ("torch", "tensorflow", "jax")
#: the backend a tool uses when neither ``--backend`` nor ``KERAS_BACKEND`` names one: the
#: first installed, fastest first as measured end to end on a CPU
#: (reports/benchmarks/end_to_end.txt: torch 1.2x the authors' PyTorch code, TensorFlow 0.96x,
#: JAX 0.27x). Keras' own config file (``~/.keras/keras.json``) is not consulted, so a run
#: does not depend on a file outside the command line and its environment.
DEFAULT_ORDER = ("torch", "tensorflow", "jax")


class BackendError(RuntimeError):
    """No usable backend: unknown name, or not installed."""


def choose_backend(name=None):
    """The backend a tool runs on, and why: ``--backend`` (``name``), else
    ``$KERAS_BACKEND``, else the first installed of :data:`DEFAULT_ORDER`.
    Returns ``(backend, reason)``; raises :class:`BackendError` for a name that is not
    a Keras backend or whose package is not installed. Imports no backend."""
    if name:
        reason = "--backend"
    elif os.environ.get("KERAS_BACKEND"):
        name, reason = os.environ["KERAS_BACKEND"], "$KERAS_BACKEND"
    else:
        name = next((b for b in DEFAULT_ORDER if importlib.util.find_spec(b) is not None), None)
        if name is None:
            raise BackendError(f"no Keras backend is installed; install one of "
                               f"{', '.join(DEFAULT_ORDER)}")
        return name, f"default: first installed of {', '.join(DEFAULT_ORDER)}"
    if name not in BACKENDS:
        raise BackendError(f"{reason} names {name!r}, not a Keras backend; choose one of "
                           f"{', '.join(BACKENDS)}")
    if importlib.util.find_spec(name) is None:
        raise BackendError(f"{reason} names {name!r}, which is not installed")
    return name, reason


def select_backend(name, announce=True):
    """Set ``KERAS_BACKEND`` to :func:`choose_backend`'s choice before ``keras`` is
    imported and, with ``announce``, print ``backend: <name> (<why>)`` on standard error
    (standard output stays the tool's results, e.g. ``tools/predict.py --json``). Returns
    the name."""
    backend, reason = choose_backend(name)
    if "keras" in sys.modules and sys.modules["keras"].backend.backend() != backend:
        raise RuntimeError("keras was imported before the backend was chosen")
    os.environ["KERAS_BACKEND"] = backend
    if backend == "tensorflow":
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    if announce:
        print(f"backend: {backend} ({reason})", file=sys.stderr, flush=True)
    return backend
