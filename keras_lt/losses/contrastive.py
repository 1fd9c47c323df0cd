"""Supervised contrastive losses of the long-tailed literature (``keras.ops`` only).

One published equation per function:

* :func:`supcon_loss` -- SupCon, Khosla et al. 2020, eq. 2 (``L^sup_out``), with the
  ``temperature / base_temperature`` factor of the authors' ``losses.py``.
* :func:`class_averaged_supcon_loss` -- supervised contrast with optional prototypes /
  centroids in the contrast set: BCCL eqs. 2 and 6 as printed (plain sums,
  ``count="printed"``), and the class-averaged denominator of BCL (Zhu et al. 2022,
  eq. 6) that BCL's and BCCL's released code compute (``count="contrast"`` /
  ``"bccl_reference"``).
* :func:`centroid_contrastive_loss` -- BCCL eq. 5, the centroid loss, with the three
  readings of its normaliser (``norm``).
* :func:`bccl_reference_centroid_loss` -- the "centroid loss" as BCCL's released code
  computes it (``average_loss`` of ``loss/contrastive.py``), an option beside eq. 5.

Shapes: ``features`` (B, V, D) with V views per sample, L2-normalised;
``labels`` (B,) integer class ids. Anchors are the V*B view-features in
*view-major* order ``[view 0 of all B; view 1 of all B; ...]`` (as the reference
code's ``torch.cat(torch.unbind(features, 1))``), so their labels are ``tile(labels, V)``.
"""

from keras import ops

from keras_lt.options import CENTROID_NORMS, SCL_COUNTS

__all__ = ["view_major", "supcon_loss", "class_averaged_supcon_loss", "SCL_COUNTS",
           "bccl_reference_centroid_loss", "nearest_subclass", "centroid_contrastive_loss",
           "CENTROID_NORMS"]


def view_major(features):
    """(B, V, D) -> (V*B, D): all samples' view 0, then all samples' view 1, ..."""
    features = ops.convert_to_tensor(features)
    b, v, d = ops.shape(features)
    return ops.reshape(ops.transpose(features, (1, 0, 2)), (v * b, d))


def pairwise_dot(a, b):
    """(N, D) x (M, D) -> (N, M) dot products. ``einsum`` rather than ``matmul``:
    keras' torch ``matmul`` computes float64 inputs in float32, einsum keeps the dtype
    (the float64 parity tests rely on it)."""
    return ops.einsum("nd,md->nm", a, b)


def _mean(x):
    """Mean of all elements as ``sum / size`` (keras' torch ``mean`` loses float64
    precision, about 1e-8 relative)."""
    return ops.sum(x) / ops.cast(ops.size(x), x.dtype)


def at_least(x, floor):
    """Elementwise ``max(x, floor)`` that keeps x's dtype (keras' torch ``ops.maximum``
    returns float32 for float64 inputs, which breaks float64 parity and gradient checks)."""
    return ops.where(x > floor, x, floor)


def _view_anchors(features, labels):
    """View-major anchors (V*B, D) and their int32 labels ``tile(labels, V)``."""
    features = ops.convert_to_tensor(features)
    v = ops.shape(features)[1]
    return view_major(features), ops.tile(ops.cast(ops.reshape(labels, (-1,)), "int32"), (v,))


def _contrast_mask(n_anchor, n_extra, extra_valid, dtype):
    """(n_anchor + n_extra,) 0/1: every view-feature is in the contrast set; an
    extra element (prototype / centroid) only where ``extra_valid`` says so."""
    if extra_valid is None:
        return ops.ones((n_anchor + n_extra,), dtype)
    extra = ops.cast(ops.reshape(extra_valid, (-1,)), dtype)
    return ops.concatenate([ops.ones((n_anchor,), dtype), extra], axis=0)


def _masked_log_softmax_denominator(logits, keep):
    """``log sum_j keep_ij * exp(logits_ij)`` per row, stabilised by the row max (no
    gradient through the max, which cancels exactly). ``keep`` is a 0/1 mask or, for
    class-averaging, a mask divided by per-column weights."""
    row_max = ops.stop_gradient(ops.max(logits, axis=1, keepdims=True))
    return ops.log(ops.sum(ops.exp(logits - row_max) * keep, axis=1, keepdims=True)) + row_max


def supcon_loss(features, labels=None, temperature=0.07, base_temperature=0.07,
                contrast_mode="all"):
    """Supervised contrastive loss (Khosla et al. 2020, eq. 2, ``L^sup_out``).

    For anchor i with positives P(i) (other views with the same label, itself
    excluded) and A(i) = every other view-feature:
    ``L_i = -(T / T_base) / |P(i)| * sum_{p in P(i)} log(exp(z_i.z_p/T) / sum_{a in A(i)} exp(z_i.z_a/T))``,
    averaged over the anchors. ``labels=None`` gives SimCLR (the positive is the
    sample's other view). ``contrast_mode="one"`` uses only view 0 as anchors.

    Args:
        features: (B, V, D) L2-normalised.
        labels: (B,) int or None.
    Returns: scalar.
    """
    features = ops.convert_to_tensor(features)
    b, v = ops.shape(features)[0], ops.shape(features)[1]
    contrast = view_major(features)                                # (V*B, D)
    ids = ops.arange(b) if labels is None else ops.reshape(labels, (-1,))
    contrast_ids = ops.tile(ids, (v,))                             # (V*B,)
    if contrast_mode == "one":
        anchors, anchor_ids, n_anchor = features[:, 0], ids, b
    elif contrast_mode == "all":
        anchors, anchor_ids, n_anchor = contrast, contrast_ids, v * b
    else:
        raise ValueError(f"unknown contrast_mode {contrast_mode!r}; use 'all' or 'one'")
    logits = pairwise_dot(anchors, contrast) / temperature   # (A, V*B)
    not_self = 1.0 - ops.eye(n_anchor, v * b, dtype=logits.dtype)
    positive = ops.cast(ops.equal(anchor_ids[:, None], contrast_ids[None, :]), logits.dtype)
    positive = positive * not_self
    log_prob = logits - _masked_log_softmax_denominator(logits, not_self)
    mean_log_prob_pos = ops.sum(positive * log_prob, axis=1) / ops.sum(positive, axis=1)
    return -(temperature / base_temperature) * _mean(mean_log_prob_pos)


def class_averaged_supcon_loss(features, labels, num_classes, temperature=0.1,
                               prototypes=None, prototype_labels=None, count="contrast",
                               prototype_valid=None):
    """Supervised contrast with optional prototypes, plain or class-averaged.

    BCCL eq. 2 (view-features only) and eq. 6 ("class-complement": the C*k k-means
    centroids join the contrast set, so every class is present in every batch); BCL
    (Zhu et al. 2022) eq. 6 with its class prototypes. Only view-features are anchors.
    For anchor i:

    ``log p_ij = s_ij - log sum_{j' != i} exp(s_ij') / w_ij'``,  ``s = z_i.z_j / T``,
    ``L_i = -1/|P(i)| sum_{p in P(i)} log p_ip``, the loss the mean over anchors,

    where P(i) are the contrast elements with the anchor's label (itself excluded,
    prototypes of its class included) and ``w_ij`` weighs contrast element j in row i:

    * ``count="printed"``: ``w = 1``, the plain sums of BCCL eqs. 2 and 6 as printed;
    * ``count="contrast"`` (default): class-averaging, BCL eq. 6 and BCL's code --
      ``w_ij = N_{y_j} - [j in P(i)]`` with ``N_c`` the number of contrast elements of
      class c (``V * n_c`` + its prototypes), so each class adds the *mean* of its
      exp-similarities to the denominator. BCCL ("balanced") builds on it, and its
      released code class-averages too; the default follows the code here because the
      printed sums would let head classes dominate every denominator again;
    * ``count="bccl_reference"``: BCCL's released ``SupConLoss``: ``N_c`` is the count of
      class c among the B labels of *one* view, and weights below 1e-6 become 1
      (singleton classes). Same-class columns are then divided by ``n_c - 1`` and the
      others by ``n_c``: each class weighs about twice its mean.

    Args:
        features: (B, V, D) L2-normalised view features.
        labels: (B,) int class ids.
        num_classes: C.
        prototypes: optional (P, D) extra contrast elements (not anchors).
        prototype_labels: (P,) int class of each prototype (required with ``prototypes``).
        count: ``"contrast"``, ``"printed"`` or ``"bccl_reference"``.
        prototype_valid: optional (P,) 0/1; prototypes marked 0 (e.g. centroids of a
            class whose queue is still empty) are left out of the contrast set.
    Returns: scalar.
    """
    if count not in SCL_COUNTS:
        raise ValueError(f"unknown count {count!r}; use one of {SCL_COUNTS}")
    labels = ops.cast(ops.reshape(labels, (-1,)), "int32")
    anchors, anchor_ids = _view_anchors(features, labels)         # (A, D), (A,); A = V*B
    contrast, contrast_ids = anchors, anchor_ids
    if prototypes is not None:
        if prototype_labels is None:
            raise ValueError("prototype_labels are required with prototypes")
        prototypes = ops.cast(prototypes, anchors.dtype)
        contrast = ops.concatenate([anchors, prototypes], axis=0)  # (A + P, D)
        contrast_ids = ops.concatenate(
            [anchor_ids, ops.cast(ops.reshape(prototype_labels, (-1,)), "int32")], axis=0)
    n_anchor = ops.shape(anchors)[0]
    n_contrast = ops.shape(contrast)[0]
    dtype = anchors.dtype
    in_set = _contrast_mask(n_anchor, n_contrast - n_anchor, prototype_valid, dtype)  # (A + P,)
    logits = pairwise_dot(anchors, contrast) / temperature   # (A, A + P)
    not_self = (1.0 - ops.eye(n_anchor, n_contrast, dtype=dtype)) * in_set[None, :]
    positive = ops.cast(ops.equal(anchor_ids[:, None], contrast_ids[None, :]), dtype) * not_self
    if count == "printed":
        weight = ops.ones_like(not_self)
    else:
        # per-class counts by segment sums (a one-hot would be (A + P) x C: 1.3 GB at
        # iNaturalist's C = 8142 with its 40,710 centroids)
        if count == "contrast":
            class_count = ops.segment_sum(in_set, contrast_ids, num_segments=num_classes)
        else:
            class_count = ops.segment_sum(ops.ones_like(labels, dtype=dtype), labels,
                                          num_segments=num_classes)
        # counts are integers; weights below 1 occur only where the reference code's
        # `weight < 1e-6 -> 1` rule applies, or in columns left out of the set
        weight = at_least(ops.take(class_count, contrast_ids)[None, :] - positive, 1.0)
    log_prob = logits - _masked_log_softmax_denominator(logits, not_self / weight)
    mean_log_prob_pos = ops.sum(positive * log_prob, axis=1) / at_least(
        ops.sum(positive, axis=1), 1.0)
    return -_mean(mean_log_prob_pos)


def bccl_reference_centroid_loss(features, labels, centroids):
    """BCCL's released "centroid loss" (``average_loss`` in ``loss/contrastive.py``).

    With ``a_ij = z_i . mu_j`` over every view-feature i and every centroid j of
    ``centroids`` (C, k, D) (class-major), and ``m_ij = 1`` when centroid j belongs to
    the anchor's class, the code evaluates ``-log(exp(a*m) / exp(a*(1-m)))`` averaged
    over the (V*B, C*k) matrix, i.e. ``mean((1 - 2m) * a)``: linear in the
    similarities, no temperature. The paper's eq. 5 is
    :func:`centroid_contrastive_loss`; this is the reference-code option.
    """
    anchors, anchor_ids = _view_anchors(features, labels)
    c, k, d = ops.shape(centroids)
    flat = ops.reshape(ops.cast(centroids, anchors.dtype), (c * k, d))
    centroid_ids = ops.repeat(ops.arange(c, dtype="int32"), k)
    sim = pairwise_dot(anchors, flat)                 # (A, C*k)
    own = ops.cast(ops.equal(anchor_ids[:, None], centroid_ids[None, :]), sim.dtype)
    return _mean((1.0 - 2.0 * own) * sim)


def nearest_subclass(anchors, anchor_ids, centroids, centroid_valid=None):
    """Sub-class id ``y * k + j`` of each anchor: its nearest (Euclidean) centroid j
    among the k centroids of its own class y (BCCL §3.3). ``centroids``: (C, k, D);
    ``centroid_valid``: optional (C, k) 0/1, invalid centroids are never chosen
    (unless all of a class's are invalid)."""
    c, k, d = ops.shape(centroids)
    anchor_ids = ops.cast(ops.convert_to_tensor(anchor_ids), "int32")
    own = ops.take(ops.cast(centroids, anchors.dtype), anchor_ids, axis=0)  # (A, k, D)
    dist = ops.sum(ops.square(own - anchors[:, None, :]), axis=-1)         # (A, k)
    if centroid_valid is not None:
        own_valid = ops.take(ops.cast(centroid_valid, dist.dtype), anchor_ids, axis=0)
        dist = dist + (1.0 - own_valid) * 1e6
    return anchor_ids * k + ops.cast(ops.argmin(dist, axis=-1), "int32")


def centroid_contrastive_loss(features, labels, centroids, temperature=0.1,
                              centroid_valid=None, norm="class"):
    """Centroid loss L_CL (BCCL eq. 5): a sub-class supervised contrast.

    Each view-feature's sub-class is its nearest centroid within its own class
    (:func:`nearest_subclass`). For anchor i, the positives are the other
    view-features of the same sub-class plus that sub-class's centroid; the
    denominator runs over all other view-features and all C*k centroids:

    ``L_CL = -1/(N_B + |C|) * sum_i 1/|P(i)| sum_{p in P(i)} log(exp(z_i.p/T) / sum_{a in A(i)} exp(z_i.a/T))``

    with N_B = V*B view-features. The sum runs over the N_B view-features only:
    centroids carry no gradient and are not anchors. What |C| counts decides the
    scale of the term, and the paper's own definitions settle it (``norm``):

    * ``"class"`` (default): |C| = k. Eq. 4 defines C per class, as the k centroids
      ``{mu_y^1..mu_y^k}`` of class y, and eq. 5 uses that symbol; the normaliser is
      N_B + k, so L_CL stays at ``N_B/(N_B + k)`` (0.98 at B = 128, V = 2, k = 5) of the
      per-anchor mean at any number of classes;
    * ``"all"``: |C| = C*k, every centroid of every class. The term then shrinks by
      ``N_B/(N_B + C*k)``: 0.84 at C = 10, 0.34 at C = 100, 0.049 at C = 1000 and 0.0063
      at iNaturalist's C = 8142 (B = 128, V = 2, k = 5) -- with gamma = 0.1 on top, it
      is effectively off on ImageNet-LT and iNaturalist;
    * ``"anchor"``: the mean over the N_B anchors, like eq. 6 and
      :func:`class_averaged_supcon_loss`.

    Args:
        features: (B, V, D) L2-normalised; labels: (B,); centroids: (C, k, D).
        centroid_valid: optional (C, k) 0/1; invalid centroids (classes whose queue
            was empty at the refresh) are left out of the contrast set (and, with
            ``norm="all"``, of |C|).
        norm: ``"class"``, ``"all"`` or ``"anchor"``.
    Returns: scalar.
    """
    if norm not in CENTROID_NORMS:
        raise ValueError(f"unknown norm {norm!r}; use one of {CENTROID_NORMS}")
    anchors, anchor_ids = _view_anchors(features, labels)         # (A, D), (A,)
    c, k, d = ops.shape(centroids)
    flat = ops.cast(ops.reshape(centroids, (c * k, d)), anchors.dtype)
    sub = nearest_subclass(anchors, anchor_ids, centroids, centroid_valid)   # (A,)
    contrast = ops.concatenate([anchors, flat], axis=0)            # (A + C*k, D)
    contrast_sub = ops.concatenate([sub, ops.arange(c * k, dtype="int32")], axis=0)
    n_anchor = ops.shape(anchors)[0]
    n_contrast = ops.shape(contrast)[0]
    logits = pairwise_dot(anchors, contrast) / temperature
    in_set = _contrast_mask(n_anchor, c * k, centroid_valid, logits.dtype)   # (A + C*k,)
    not_self = (1.0 - ops.eye(n_anchor, n_contrast, dtype=logits.dtype)) * in_set[None, :]
    positive = ops.cast(ops.equal(sub[:, None], contrast_sub[None, :]), logits.dtype) * not_self
    log_prob = logits - _masked_log_softmax_denominator(logits, not_self)
    per_anchor = ops.sum(positive * log_prob, axis=1) / at_least(ops.sum(positive, axis=1), 1.0)
    if norm == "all":
        denominator = ops.sum(in_set)
    else:
        denominator = ops.cast(n_anchor + (k if norm == "class" else 0), logits.dtype)
    return -ops.sum(per_anchor) / denominator
