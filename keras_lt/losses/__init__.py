"""Losses (one published equation per function, ``keras.ops`` only)."""

from keras_lt.losses.classification import (
    LOSSES,
    BalancedSoftmaxLoss,
    CrossEntropy,
    LogitAdjustedLoss,
    balanced_softmax_cross_entropy,
    cross_entropy,
    get_loss,
    log_class_prior,
    logit_adjusted_cross_entropy,
)

__all__ = [
    "LOSSES", "BalancedSoftmaxLoss", "CrossEntropy", "LogitAdjustedLoss",
    "balanced_softmax_cross_entropy", "cross_entropy", "get_loss", "log_class_prior",
    "logit_adjusted_cross_entropy",
]
