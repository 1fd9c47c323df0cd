"""Seeding without importing TensorFlow on the torch and JAX backends."""

import sys

import keras

__all__ = ["set_seed"]

_ABSENT = object()


def set_seed(seed):
    """Seed Python's ``random``, NumPy, the backend and Keras' global seed generator, as
    ``keras.utils.set_random_seed`` does -- which also imports TensorFlow whenever it is
    installed (seconds and hundreds of MB on torch / JAX). Here, unless TensorFlow is the
    backend or already imported, it is hidden for the call: Keras then finds it unavailable
    (and remembers that; nothing on these backends needs it). Same seeds, same draws.

    Example:
    >>> set_seed(0)
    >>> "tensorflow" in sys.modules or keras.backend.backend() == "tensorflow"
    False
    """
    if keras.backend.backend() == "tensorflow" or sys.modules.get("tensorflow") is not None:
        keras.utils.set_random_seed(int(seed))
        return
    saved = sys.modules.get("tensorflow", _ABSENT)
    sys.modules["tensorflow"] = None              # "import tensorflow" raises ImportError
    try:
        keras.utils.set_random_seed(int(seed))
    finally:
        if saved is _ABSENT:
            del sys.modules["tensorflow"]
        else:
            sys.modules["tensorflow"] = saved
