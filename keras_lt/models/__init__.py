"""Models: the plain long-tailed classifier (baselines, inference) and builders."""

from keras_lt.models.classifier import LTClassifier, l2_penalty, make_classifier
from keras_lt.models.bccl import BCCL
from keras_lt.models.rebsupcon import RebSupCon
from keras_lt.models.builder import build_model

__all__ = ["BCCL", "LTClassifier", "RebSupCon", "build_model", "l2_penalty", "make_classifier"]
