"""keras-lt: long-tailed image recognition for Keras 3 (torch, TensorFlow and JAX backends)."""

__version__ = "0.1.0"
