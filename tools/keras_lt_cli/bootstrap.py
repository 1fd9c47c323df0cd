"""Shared start-up of the command-line tools: import path and ``--backend``.

``import keras_lt`` imports Keras, so the tools choose the backend before any keras-lt import.

The backend must be chosen before ``keras`` is imported, so tools call
:func:`select_backend` with their parsed ``--backend`` first. The rule, the same for
every tool: ``--backend``, else ``$KERAS_BACKEND``, else the first installed of torch,
TensorFlow, JAX; the tool prints ``backend: <name> (<why>)`` on standard error when it starts.
"""

import contextlib
import importlib.abc
import importlib.util
import os
import sys
from pathlib import Path

#: the source checkout when run from one (tools/keras_lt_cli/bootstrap.py -> the clone)
ROOT = Path(__file__).resolve().parents[2]
if (ROOT / "keras_lt" / "__init__.py").is_file() and str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))      # run from a clone without installing

BACKENDS = ("torch", "tensorflow", "jax")
#: the backend a tool uses when neither ``--backend`` nor ``KERAS_BACKEND`` names one: the
#: first installed, fastest first as measured end to end on a CPU
#: (reports/benchmarks/end_to_end_startup.txt: torch 1.25x the authors' PyTorch code,
#: TensorFlow 1.09x, JAX 0.29x). Keras' own config file (``~/.keras/keras.json``) is not consulted, so a run
#: does not depend on a file outside the command line and its environment.
DEFAULT_ORDER = ("torch", "tensorflow", "jax")


#: packages ``import keras`` loads for integrations the tools never use on a backend: the
#: ``jax.monitoring`` shim of Keras' Orbax callback (``jax``) and the scikit-learn wrappers
#: (``sklearn``, which brings SciPy). Both are optional to Keras (it catches the ImportError);
#: skipping them takes about a second off every tool's start on torch and TensorFlow.
UNUSED_BY_KERAS = {"torch": ("jax", "sklearn"), "tensorflow": ("jax", "sklearn"),
                   "jax": ("sklearn",)}


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


class _Skip(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """While installed, ``import`` of the named top-level packages raises ImportError
    (lookups without import, such as ``importlib.util.find_spec``, get a spec without origin)."""

    def __init__(self, names):
        self.names = frozenset(names)

    def find_spec(self, fullname, path=None, target=None):
        if fullname.partition(".")[0] in self.names:
            return importlib.util.spec_from_loader(fullname, self)
        return None

    def create_module(self, spec):
        raise ImportError(f"{spec.name} is skipped while keras is imported")

    def exec_module(self, module):    # never reached: create_module raises
        raise ImportError(f"{module.__name__} is skipped while keras is imported")


@contextlib.contextmanager
def skipping(names):
    """Within the block, importing a package in ``names`` (not yet imported) raises
    ImportError; after it, they import normally (e.g. keras-lt's own use of scikit-learn)."""
    finder = _Skip(n for n in names if n not in sys.modules)
    sys.meta_path.insert(0, finder)
    try:
        yield
    finally:
        sys.meta_path.remove(finder)


def select_backend(name, announce=True, load=True):
    """Set ``KERAS_BACKEND`` to :func:`choose_backend`'s choice and, with ``load``, import
    ``keras`` without the integrations of :data:`UNUSED_BY_KERAS`; with ``announce``, first
    print ``backend: <name> (<why>)`` on standard error (standard output stays the tool's
    results, e.g. ``tools/predict.py --json``). Returns the name."""
    backend, reason = choose_backend(name)
    if "keras" in sys.modules and sys.modules["keras"].backend.backend() != backend:
        raise RuntimeError("keras was imported before the backend was chosen")
    os.environ["KERAS_BACKEND"] = backend
    if backend == "tensorflow":
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    if announce:
        print(f"backend: {backend} ({reason})", file=sys.stderr, flush=True)
    if load and "keras" not in sys.modules:
        with skipping(UNUSED_BY_KERAS[backend]):
            import keras  # noqa: F401  (now, without the integrations above)
    return backend
