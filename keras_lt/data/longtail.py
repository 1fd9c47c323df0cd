"""The standard exponential long-tailed subsampling of a balanced training set.

This is the CIFAR-10-LT / CIFAR-100-LT construction of Cao et al., "Learning
Imbalanced Datasets with Label-Distribution-Aware Margin Loss" (NeurIPS 2019),
class ``IMBALANCECIFAR10`` of their released code (LDAM-DRW), which later work
such as BCL (Zhu et al., CVPR 2022) and BCCL reuses unchanged:

* class ``i`` of ``C`` keeps ``n_i = int(n_max * (1 / IF) ** (i / (C - 1)))``
  images, where ``IF`` is the imbalance factor (``n_0 / n_{C-1}``);
* NumPy's global generator is seeded once with ``np.random.seed(0)``; then, for
  each class in label order, that class's indices (``np.where(labels == c)[0]``,
  i.e. in the official file order) are shuffled with ``np.random.shuffle`` and
  the first ``n_i`` are kept.

:func:`select_longtail` reproduces that exactly with a private
``np.random.RandomState(seed)`` (the same Mersenne-Twister stream as the seeded
global generator), without touching NumPy's global state.

No deep-learning framework is imported here.
"""

import numpy as np

__all__ = ["longtail_counts", "select_longtail"]


def longtail_counts(n_max, num_classes, imbalance_factor):
    """Per-class image counts of the exponential profile (a list of ints).

    ``n_i = int(n_max * (1 / imbalance_factor) ** (i / (num_classes - 1)))``.
    ``imbalance_factor`` of ``None`` or ``1`` keeps ``n_max`` for every class.
    """
    n_max = int(n_max)
    num_classes = int(num_classes)
    if num_classes < 1:
        raise ValueError(f"num_classes must be >= 1, got {num_classes}")
    if n_max < 0:
        raise ValueError(f"n_max must be >= 0, got {n_max}")
    if imbalance_factor is None:
        return [n_max] * num_classes
    imbalance_factor = float(imbalance_factor)
    if not imbalance_factor >= 1.0:
        raise ValueError(f"imbalance factor must be >= 1, got {imbalance_factor}")
    if num_classes == 1:
        return [n_max]
    return [int(n_max * (1.0 / imbalance_factor) ** (i / (num_classes - 1.0)))
            for i in range(num_classes)]


def select_longtail(labels, imbalance_factor, seed=0, n_max=None, num_classes=None):
    """Indices of the long-tailed subset of ``labels`` (the published selection).

    Parameters
    ----------
    labels : 1-D int array in the source's official order.
    imbalance_factor : IF (``None`` keeps everything, in the same class-by-class order).
    seed : seed of the ``RandomState`` (the published code uses ``np.random.seed(0)``).
    n_max : images of the head class; default ``len(labels) // num_classes`` as in the
        published code (``img_max = len(data) / cls_num``; the sources are balanced).
    num_classes : default ``labels.max() + 1``.

    Returns the concatenated selected indices, class by class in label order, and
    within a class in the shuffled order (as the published code builds its arrays).
    Raises ``ValueError`` when a class has fewer images than its target count.
    """
    labels = np.asarray(labels)
    if labels.ndim != 1:
        raise ValueError(f"labels must be 1-D, got shape {labels.shape}")
    if num_classes is None:
        num_classes = int(labels.max()) + 1 if labels.size else 0
    if num_classes == 0:
        return np.zeros(0, dtype=np.int64)
    if n_max is None:
        n_max = len(labels) // num_classes
    counts = longtail_counts(n_max, num_classes, imbalance_factor)
    rng = np.random.RandomState(seed)
    selected = []
    for c, n_c in enumerate(counts):
        idx = np.where(labels == c)[0]
        if len(idx) < n_c:
            raise ValueError(f"class {c} has {len(idx)} images, fewer than the {n_c} the "
                             f"long-tailed profile asks for")
        rng.shuffle(idx)
        selected.append(idx[:n_c])
    return np.concatenate(selected).astype(np.int64)
