"""Keras layers of keras-lt: projection heads, classifiers and helpers."""

from keras_lt.layers.heads import (
    CosineClassifier, LinearClassifier, ProjectionHead, UnitColumnUniform, l2_normalize,
    torch_linear_initializers)

__all__ = [
    "CosineClassifier", "LinearClassifier", "ProjectionHead", "UnitColumnUniform",
    "l2_normalize", "torch_linear_initializers",
]
