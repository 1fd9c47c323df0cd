"""Building layers under a temporary Keras dtype policy, restoring the previous one exactly."""

import contextlib

import keras

__all__ = ["dtype_policy"]


@contextlib.contextmanager
def dtype_policy(name):
    """Layers created inside compute (and store) with the Keras dtype policy ``name``.

    Keras keeps the global policy as a global attribute that stays unset until a policy is
    read or set, and an unset policy follows ``keras.config.floatx()``. Restoring the previous
    *attribute* (possibly "unset") rather than an explicit float32 policy keeps ``floatx`` in
    charge afterwards.

    Example:
    >>> with dtype_policy("mixed_bfloat16"):
    ...     layer = keras.layers.Dense(2)
    >>> layer.dtype_policy.name
    'mixed_bfloat16'
    """
    from keras.src.backend.common import global_state     # Keras has no public getter

    previous = global_state.get_global_attribute("dtype_policy", None)
    keras.mixed_precision.set_dtype_policy(name)
    try:
        yield
    finally:
        global_state.set_global_attribute("dtype_policy", previous)
