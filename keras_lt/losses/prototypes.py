"""Prototype losses of Reb-SupCon's prototype-aware module (Lv et al. 2025, §3.3.2).

K trainable prototypes c_k (L2-normalised, K x D) give each projection z a score
vector ``z . C``. Soft assignments Q come from Sinkhorn-Knopp optimal transport
with equal-partition constraints (SwAV, Caron et al. 2020); three losses use them:

* :func:`swapped_prediction_loss`  -- L1: predict one branch's code from the other's scores;
* :func:`aggregation_loss`        -- L2: pull z towards the prototypes it is assigned to;
* :func:`separation_loss`         -- L3: hinge pushing prototypes at least delta apart.

Shapes: B samples, K prototypes, D dimensions.
"""

from keras import ops

from keras_lt.losses.contrastive import at_least

__all__ = ["sinkhorn", "swapped_prediction_loss", "aggregation_loss", "separation_loss",
           "prototype_scores"]


def l2_normalize(x, axis=-1):
    """``x / max(||x||, 1e-12)`` with the norm as ``sqrt(sum(x^2))`` (keras' torch
    ``ops.norm`` computes in float32 even for float64 inputs)."""
    norm = ops.sqrt(ops.sum(ops.square(x), axis=axis, keepdims=True))
    return x / at_least(norm, 1e-12)


def prototype_scores(z, prototypes):
    """Cosine scores (B, K) of L2-normalised projections z (B, D) against the
    prototypes (K, D), which are L2-normalised here (the stored ones are free
    parameters)."""
    protos = l2_normalize(prototypes)
    return ops.einsum("bd,kd->bk", z, ops.cast(protos, z.dtype))


def sinkhorn(scores, epsilon=0.05, num_iters=3):
    """Soft assignments Q (B, K) by Sinkhorn-Knopp (Reb-SupCon §3.3.2; SwAV's
    ``distributed_sinkhorn``), without gradient.

    ``Q = exp(scores / epsilon)``, transposed to (K, B) and divided by its total;
    then ``num_iters`` times every prototype row is scaled to sum 1/K and every
    sample column to 1/B; finally multiplied by B, so each sample's row sums to 1
    and each prototype receives about B/K samples (the equal-partition constraint).
    Computed in float32 with the largest score subtracted before ``exp`` (a global
    factor that the division by the total cancels exactly -- a per-sample shift would
    not cancel within 3 iterations), so scores far above 1 cannot overflow where
    SwAV's plain ``exp`` would.

    Args:
        scores: (B, K) sample-prototype scores.
        epsilon: entropic regularisation (0.05). num_iters: iterations (3).
    Returns: (B, K) float32, rows summing to 1.
    """
    s = ops.stop_gradient(ops.cast(scores, "float32"))
    s = s - ops.max(s)                                           # global shift
    q = ops.transpose(ops.exp(s / epsilon))                      # (K, B)
    k, b = ops.shape(q)[0], ops.shape(q)[1]
    q = q / ops.sum(q)
    for _ in range(int(num_iters)):
        q = q / ops.sum(q, axis=1, keepdims=True) / ops.cast(k, q.dtype)   # rows: 1/K each
        q = q / ops.sum(q, axis=0, keepdims=True) / ops.cast(b, q.dtype)   # columns: 1/B each
    return ops.stop_gradient(ops.transpose(q * ops.cast(b, q.dtype)))


def _soft_cross_entropy(target, scores, temperature):
    """mean_b -sum_k target_bk log softmax(scores_b / T)_k."""
    logp = ops.log_softmax(scores / temperature, axis=-1)
    return -ops.sum(ops.cast(target, logp.dtype) * logp) / ops.cast(ops.shape(scores)[0], logp.dtype)


def swapped_prediction_loss(scores_q, scores_k, codes_q, codes_k, temperature=0.1):
    """Swapped prediction L1 (Reb-SupCon §3.3.2; SwAV eq. 1):
    ``L1 = 1/(2B) sum_i [CE(Q_k^i, P_q^i) + CE(Q_q^i, P_k^i)]``, ``P = softmax(scores / T)``.

    Args:
        scores_q, scores_k: (B, K) prototype scores of the query / key branch.
        codes_q, codes_k: (B, K) their Sinkhorn codes (no gradient).
        temperature: T (0.1, SwAV's default).
    Returns: scalar.
    """
    return 0.5 * (_soft_cross_entropy(codes_k, scores_q, temperature)
                  + _soft_cross_entropy(codes_q, scores_k, temperature))


def aggregation_loss(z, prototypes, codes):
    """Aggregation L2 (Reb-SupCon §3.3.2): ``1/B sum_i sum_k Q^{ki} ||z^i - c_k||^2``,
    with z (B, D) the query projections, c_k the L2-normalised prototypes and Q
    (B, K) the query branch's codes (no gradient). For unit vectors
    ``||z - c||^2 = 2 - 2 z.c``."""
    protos = ops.cast(l2_normalize(prototypes), z.dtype)
    sq = (ops.sum(ops.square(z), axis=-1, keepdims=True)              # (B, K)
          - 2.0 * ops.einsum("bd,kd->bk", z, protos)
          + ops.sum(ops.square(protos), axis=-1)[None, :])
    return ops.sum(ops.cast(codes, z.dtype) * sq) / ops.cast(ops.shape(z)[0], z.dtype)


def separation_loss(prototypes, delta=1.0, normalize=True):
    """Separation L3 (Reb-SupCon §3.3.2): ``sum_k sum_{k' != k} max(0, delta - ||c_k - c_k'||^2)``
    over the (L2-normalised, with ``normalize``) prototypes; delta = 1 keeps every pair
    at least 60 degrees apart on the unit sphere. Summed, as printed (not averaged)."""
    c = prototypes
    if normalize:
        c = l2_normalize(c)
    sq_norm = ops.sum(ops.square(c), axis=-1)
    dist = sq_norm[:, None] + sq_norm[None, :] - 2.0 * ops.einsum("kd,jd->kj", c, c)   # (K, K)
    off_diag = 1.0 - ops.eye(ops.shape(c)[0], dtype=dist.dtype)
    return ops.sum(ops.relu(delta - dist) * off_diag)
