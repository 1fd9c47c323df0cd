"""Reb-SupCon's rebalanced supervised contrast (Lv et al. 2025, §3.3.1).

A MoCo-style supervised contrast between query anchors G(x_i) and a set of keys
(the batch's keys and a queue of past keys, with their labels), each anchor's
term scaled by a per-class rebalancing factor

``omega(c) = 1 / (1 + alpha * grad_c * omega_f(c))``,  ``omega_f(c) = beta / (f(c) + eps)``,

with f(c) the class frequency and grad_c the mean per-sample loss-gradient norm of
class c (Table 7: alpha = 0.5, beta = 0.1, eps = 1e-5).

Shapes: B anchors, N keys, D dimensions, C classes.
"""

import numpy as np
from keras import ops

from keras_lt.losses.contrastive import _masked_log_softmax_denominator, at_least, pairwise_dot

__all__ = ["class_frequency_weight", "rebalancing_factor", "rebalanced_supcon_terms",
           "rebalanced_supcon_loss"]


def class_frequency_weight(class_counts, beta=0.1, eps=1e-5):
    """``omega_f(c) = beta / (f(c) + eps)`` (Reb-SupCon §3.3.1) with f(c) = n_c / sum n,
    the class's share of the training set (a fraction: with eps = 1e-5 a raw count
    would make eps meaningless). Returns a float32 numpy array (C,)."""
    counts = np.asarray(class_counts, np.float64)
    if counts.ndim != 1 or np.any(counts < 0) or counts.sum() <= 0:
        raise ValueError(f"class_counts must be non-negative with a positive sum, got {counts}")
    return (beta / (counts / counts.sum() + eps)).astype("float32")


def rebalancing_factor(grad_norm, freq_weight, alpha=0.5, reading="printed"):
    """Per-class rebalancing factor omega(c) (Reb-SupCon §3.3.1), no gradient.

    ``reading="printed"`` (default): ``1 / (1 + alpha * grad_c * omega_f(c))`` as the
    equation is printed -- a larger gradient or a rarer class *lowers* the weight.
    ``reading="inverse"``: ``1 + alpha * grad_c * omega_f(c)``, the reading that
    matches the prose (hard and tail classes get more attention).

    Args:
        grad_norm: (C,) running mean per-sample gradient norm of each class.
        freq_weight: (C,) :func:`class_frequency_weight`.
    Returns: (C,).
    """
    x = alpha * ops.stop_gradient(ops.convert_to_tensor(grad_norm)) * ops.cast(
        freq_weight, "float32")
    if reading == "printed":
        return 1.0 / (1.0 + x)
    if reading == "inverse":
        return 1.0 + x
    raise ValueError(f"unknown rebalancing reading {reading!r}; use 'printed' or 'inverse'")


def rebalanced_supcon_terms(anchors, anchor_labels, keys, key_labels, temperature=0.1,
                            key_valid=None):
    """Per-anchor supervised-contrast terms and their gradient norms.

    For anchor i (query projection, L2-normalised) and the keys R(i) (L2-normalised;
    the anchor itself is not among them -- its own key, another view, is a positive):
    ``l_i = -1/|S_i+| sum_{c in S_i+} log(exp(z_c.a_i/T) / sum_{j in R(i)} exp(z_j.a_i/T))``
    with S_i+ the keys of class y_i.

    The gradient of l_i with respect to the anchor embedding a_i has the closed form
    ``(sum_j p_ij z_j - mean_{c in S_i+} z_c) / T`` (p_ij the softmax over R(i)); its
    L2 norm is the per-sample gradient estimator of the rebalancing factor -- exact for
    the anchor embedding, computed without second-order terms (no gradient flows
    through it).

    Args:
        anchors: (B, D). anchor_labels: (B,). keys: (N, D). key_labels: (N,).
        key_valid: optional (N,) 0/1 (empty queue slots are 0).
    Returns: ``(terms (B,), grad_norm (B,), has_positive (B,))``; anchors without a
    positive key get term 0 and ``has_positive`` 0.
    """
    anchor_labels = ops.cast(ops.reshape(anchor_labels, (-1,)), "int32")
    key_labels = ops.cast(ops.reshape(key_labels, (-1,)), "int32")
    logits = pairwise_dot(anchors, ops.cast(keys, anchors.dtype)) / temperature     # (B, N)
    keep = ops.ones_like(logits) if key_valid is None else ops.broadcast_to(
        ops.cast(key_valid, logits.dtype)[None, :], ops.shape(logits))
    positive = ops.cast(ops.equal(anchor_labels[:, None], key_labels[None, :]), logits.dtype) * keep
    log_den = _masked_log_softmax_denominator(logits, keep)                       # (B, 1)
    n_pos = ops.sum(positive, axis=1)
    has_pos = ops.cast(n_pos > 0, logits.dtype)
    terms = -ops.sum(positive * (logits - log_den), axis=1) / at_least(n_pos, 1.0)
    # closed-form d l_i / d a_i
    prob = ops.stop_gradient(ops.exp(logits - log_den) * keep)                   # (B, N)
    pos_mean = ops.stop_gradient(positive / at_least(n_pos, 1.0)[:, None])
    k = ops.stop_gradient(ops.cast(keys, anchors.dtype))
    grad = ops.einsum("bn,nd->bd", prob - pos_mean, k) / temperature
    # sqrt(sum(x^2)) rather than ops.norm, which computes in float32 on torch
    return terms * has_pos, ops.sqrt(ops.sum(ops.square(grad), axis=-1)) * has_pos, has_pos


def rebalanced_supcon_loss(terms, anchor_labels, class_weight, has_positive=None):
    """``L_reb = -sum_i omega(y_i) * L_i / |S_i+|`` (Reb-SupCon §3.3.1), from the
    per-anchor terms of :func:`rebalanced_supcon_terms` (which already carry the
    ``-1/|S_i+|``). The sum over anchors is divided by the number of anchors with a
    positive (a mean, so the loss scale does not grow with the batch size; the
    printed sum differs by that constant factor only).

    Args:
        terms: (B,). anchor_labels: (B,). class_weight: (C,) omega, no gradient.
    Returns: scalar.
    """
    anchor_labels = ops.cast(ops.reshape(anchor_labels, (-1,)), "int32")
    w = ops.take(ops.stop_gradient(ops.cast(class_weight, terms.dtype)), anchor_labels)
    n = ops.shape(terms)[0] if has_positive is None else at_least(ops.sum(has_positive), 1.0)
    return ops.sum(w * terms) / ops.cast(n, terms.dtype)
