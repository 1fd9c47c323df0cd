"""Classification losses for long-tailed training.

Each function implements one published equation with ``keras.ops`` only, so it
runs on the torch, TensorFlow and JAX backends. The ``keras.losses.Loss``
wrappers at the bottom hold the class prior as a constant and are what
``model.compile(loss=...)`` receives.

Shapes: ``logits`` (B, C) float, ``labels`` (B,) integer class ids,
``class_counts`` (C,) training images per class.
"""

import numpy as np
import keras
from keras import ops


def log_class_prior(class_counts):
    """Return ``log(n_c / sum(n))`` as a float64 numpy array of shape (C,).

    Classes with zero images get ``log(1e-12 / sum)`` instead of ``-inf`` so
    that logits stay finite (they never appear as labels anyway).
    """
    counts = np.asarray(class_counts, dtype=np.float64)
    if counts.ndim != 1 or counts.size == 0:
        raise ValueError(f"class_counts must be a non-empty 1-D list, got shape {counts.shape}")
    if np.any(counts < 0):
        raise ValueError(f"class_counts must be non-negative, got {counts.tolist()}")
    total = counts.sum()
    if total <= 0:
        raise ValueError("class_counts sum to zero")
    return np.log(np.maximum(counts, 1e-12) / total)


def cross_entropy(labels, logits):
    """Mean softmax cross-entropy, ``-mean_i log softmax(logits_i)[y_i]``.

    labels: (B,) int; logits: (B, C) -> scalar.
    """
    labels = ops.cast(ops.reshape(labels, (-1,)), "int32")
    logits = ops.convert_to_tensor(logits)
    log_probs = ops.log_softmax(logits, axis=-1)                      # (B, C)
    picked = ops.take_along_axis(log_probs, labels[:, None], axis=1)  # (B, 1)
    return -ops.mean(picked)


def logit_adjusted_cross_entropy(labels, logits, log_prior, tau=1.0):
    """Logit-adjusted loss (Menon et al. 2021, "Long-tail learning via logit
    adjustment", eq. 10): cross-entropy of ``logits + tau * log pi``.

    Also BCCL's logit compensation (Kim & Ko 2025, eqs. 7-8) with
    ``lambda_y = log(n_y / sum n)`` and tau = 1. ``log_prior``: (C,) from
    :func:`log_class_prior`. Predictions use the *unadjusted* logits.
    """
    logits = ops.convert_to_tensor(logits)
    adjusted = logits + ops.cast(tau, logits.dtype) * ops.cast(log_prior, logits.dtype)[None, :]
    return cross_entropy(labels, adjusted)


def balanced_softmax_cross_entropy(labels, logits, class_counts):
    """Balanced Softmax (Ren et al. 2020, "Balanced Meta-Softmax", eq. 4):
    ``p_y = n_y exp(z_y) / sum_j n_j exp(z_j)``, i.e. cross-entropy of
    ``logits + log n``. Equal to the logit-adjusted loss with tau = 1 up to a
    constant shift of every logit, which softmax ignores.
    """
    logits = ops.convert_to_tensor(logits)
    log_counts = np.log(np.maximum(np.asarray(class_counts, dtype=np.float64), 1e-12))
    return cross_entropy(labels, logits + ops.cast(log_counts, logits.dtype)[None, :])


@keras.saving.register_keras_serializable(package="keras_lt")
class CrossEntropy(keras.losses.Loss):
    """Plain softmax cross-entropy from logits (the CE baseline)."""

    def __init__(self, name="cross_entropy", **kwargs):
        super().__init__(name=name, **kwargs)

    def call(self, y_true, y_pred):
        return cross_entropy(y_true, y_pred)


@keras.saving.register_keras_serializable(package="keras_lt")
class LogitAdjustedLoss(keras.losses.Loss):
    """``keras.losses.Loss`` wrapper of :func:`logit_adjusted_cross_entropy`.

    Example:
    >>> loss = LogitAdjustedLoss(class_counts=[5000, 50], tau=1.0)
    >>> float(loss(np.array([1]), np.array([[0.0, 0.0]])))  # doctest: +ELLIPSIS
    4.6...
    """

    def __init__(self, class_counts, tau=1.0, name="logit_adjusted", **kwargs):
        super().__init__(name=name, **kwargs)
        self.class_counts = [int(c) for c in class_counts]
        self.tau = float(tau)
        self._log_prior = log_class_prior(self.class_counts).astype("float32")

    def call(self, y_true, y_pred):
        return logit_adjusted_cross_entropy(y_true, y_pred, self._log_prior, self.tau)

    def get_config(self):
        return {**super().get_config(), "class_counts": self.class_counts, "tau": self.tau}


@keras.saving.register_keras_serializable(package="keras_lt")
class BalancedSoftmaxLoss(keras.losses.Loss):
    """``keras.losses.Loss`` wrapper of :func:`balanced_softmax_cross_entropy`."""

    def __init__(self, class_counts, name="balanced_softmax", **kwargs):
        super().__init__(name=name, **kwargs)
        self.class_counts = [int(c) for c in class_counts]

    def call(self, y_true, y_pred):
        return balanced_softmax_cross_entropy(y_true, y_pred, self.class_counts)

    def get_config(self):
        return {**super().get_config(), "class_counts": self.class_counts}


LOSSES = {
    "ce": lambda class_counts, **kw: CrossEntropy(),
    "logit_adjusted": lambda class_counts, tau=1.0, **kw: LogitAdjustedLoss(class_counts, tau=tau),
    "balanced_softmax": lambda class_counts, **kw: BalancedSoftmaxLoss(class_counts),
}


def get_loss(name, class_counts, **kwargs):
    """Build a classification loss by name: ``ce``, ``logit_adjusted`` or ``balanced_softmax``."""
    if name not in LOSSES:
        raise ValueError(f"unknown loss {name!r}; choose one of {sorted(LOSSES)}")
    return LOSSES[name](class_counts, **kwargs)
