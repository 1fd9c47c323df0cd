"""Models: the plain long-tailed classifier (baselines, inference), the methods (each
registers itself in :mod:`keras_lt.models.registry`) and the recipe builder."""

from keras_lt.models.registry import Method, get_method, method_names, register_method
from keras_lt.models.classifier import LTClassifier, LTImageClassifier, l2_penalty, make_classifier
from keras_lt.models.bccl import BCCL
from keras_lt.models.rebsupcon import RebSupCon
from keras_lt.models.builder import build_model

__all__ = ["BCCL", "LTClassifier", "Method", "RebSupCon", "build_model", "get_method",
           "l2_penalty", "make_classifier", "method_names", "register_method"]
