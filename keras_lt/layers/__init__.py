"""Keras layers of keras-lt: projection heads, classifiers and helpers."""

from keras_lt.layers.heads import (
    CosineClassifier, LinearClassifier, ProjectionHead, UnitColumnUniform, l2_normalize,
    torch_linear_initializers)
from keras_lt.layers.preprocessing import ImagePreprocessor, crop_fraction_of

__all__ = [
    "CosineClassifier", "ImagePreprocessor", "LinearClassifier", "ProjectionHead", "UnitColumnUniform",
    "crop_fraction_of", "l2_normalize", "torch_linear_initializers",
]
