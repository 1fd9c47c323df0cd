"""Whether the training step is compiled (XLA / torch.compile), per backend."""

import keras

__all__ = ["resolve_jit"]


def resolve_jit(setting="auto"):
    """``"auto"`` -> True on JAX, False on torch and TensorFlow; otherwise ``bool(setting)``.

    Measured on CPU: XLA (TensorFlow ``jit_compile``) and Inductor (``torch.compile``) run
    these convolutions slower than eager, or crash; JAX without jit runs op by op.
    """
    if setting == "auto":
        return keras.backend.backend() == "jax"
    return bool(setting)
