"""Batched k-means over class-wise queues (BCCL eq. 4), ``keras.ops`` only.

All C classes are clustered at once on a (C, M, D) tensor -- no Python loop over
classes -- so the same code runs under ``jit`` on every backend and scales to
iNaturalist's 8,142 classes x M = 100 x D = 128 (a 417 MB float32 queue; every
iteration works on (C, M, k) distances and (C, k, D) sums).

Semantics (checked against scikit-learn's Lloyd ``KMeans`` from the same initial
centroids, ``tests/test_clustering.py``):

* assignment: squared Euclidean distance, ties to the lowest centroid index;
* update: the mean of the assigned points (only ``valid`` points count, so a
  queue that is not yet full is clustered on what it holds);
* an empty cluster is re-seeded to the valid point farthest from its own centroid
  (like scikit-learn's relocation; BCCL's ``kmeans_gpu`` leaves a zero centroid
  instead): a centroid is never zero while its class has any point;
* a class with no valid point keeps its initial centroids and is flagged in the
  returned ``class_valid`` mask so that losses can ignore it.
"""

from keras import ops

__all__ = ["kmeans_init", "kmeans_assign", "kmeans_step", "batched_kmeans"]


def _sq_dist(points, centroids):
    """(C, M, D), (C, k, D) -> (C, M, k) squared Euclidean distances."""
    p2 = ops.sum(ops.square(points), axis=-1)[:, :, None]
    c2 = ops.sum(ops.square(centroids), axis=-1)[:, None, :]
    cross = ops.einsum("cmd,ckd->cmk", points, centroids)
    return ops.maximum(p2 - 2.0 * cross + c2, 0.0)


def kmeans_assign(points, centroids):
    """Nearest centroid index (C, M) int32 and its squared distance (C, M)."""
    dist = _sq_dist(points, centroids)
    assign = ops.cast(ops.argmin(dist, axis=-1), "int32")
    return assign, ops.min(dist, axis=-1)


def kmeans_step(points, centroids, valid):
    """One Lloyd iteration with empty-cluster re-seeding (see module doc).

    points (C, M, D), centroids (C, k, D), valid (C, M) float 0/1 -> new centroids.
    """
    k = ops.shape(centroids)[1]
    assign, dist = kmeans_assign(points, centroids)
    onehot = ops.one_hot(assign, k, dtype=points.dtype) * valid[:, :, None]      # (C, M, k)
    sums = ops.einsum("cmk,cmd->ckd", onehot, points)
    counts = ops.sum(onehot, axis=1)                                             # (C, k)
    means = sums / ops.maximum(counts, 1.0)[:, :, None]
    # re-seed empty clusters to the valid point farthest from its centroid
    far_score = ops.where(valid > 0, dist, -1.0)
    far_idx = ops.argmax(far_score, axis=1)                                      # (C,)
    far_point = ops.take_along_axis(points, ops.cast(far_idx, "int32")[:, None, None], axis=1)
    has_points = (ops.sum(valid, axis=1) > 0)[:, None, None]                     # (C, 1, 1)
    empty = (counts == 0)[:, :, None]
    reseeded = ops.where(empty, ops.where(has_points, far_point, centroids), means)
    return reseeded


def kmeans_init(points, valid, k, seed=None, noise=None):
    """k distinct random valid points per class as initial centroids, (C, k, D).

    A class with n < k valid points repeats them (point ``j mod n``); a class with
    none gets its first k slots (flagged invalid by :func:`batched_kmeans`).
    ``seed``: an int or a ``keras.random.SeedGenerator``; or pass ``noise``, (C, M)
    uniform [0, 1) numbers drawn by the caller (e.g. outside a ``cond`` branch, where
    a JAX seed-generator update may not happen).
    """
    import keras

    c, m = ops.shape(valid)[0], ops.shape(valid)[1]
    if noise is None:
        noise = keras.random.uniform((c, m), seed=seed, dtype="float32")
    score = noise + ops.cast(valid, "float32")          # valid slots rank first
    top = ops.cast(ops.top_k(score, k=min(k, m))[1], "int32")                  # (C, min(k, M))
    n_valid = ops.maximum(ops.cast(ops.sum(valid, axis=1), "int32"), 1)         # (C,)
    pick = ops.mod(ops.arange(k, dtype="int32")[None, :], n_valid[:, None])     # (C, k)
    pick = ops.minimum(pick, ops.shape(top)[1] - 1)
    idx = ops.take_along_axis(top, pick, axis=1)                                # (C, k)
    return ops.take_along_axis(points, idx[:, :, None], axis=1)


def batched_kmeans(points, k=5, num_iters=100, valid=None, init=None, seed=None, noise=None,
                   tol=1e-4):
    """Cluster every class's queue into k centroids at once (BCCL eq. 4).

    Args:
        points: (C, M, D) features (e.g. the class-wise queues).
        k: clusters per class.
        num_iters: the most Lloyd iterations.
        valid: (C, M) 0/1 mask of filled queue slots (default: all).
        init: optional (C, k, D) initial centroids (default: :func:`kmeans_init`).
        seed: seed of the random initialisation (or ``noise``, see :func:`kmeans_init`).
        tol: stop once no class's centroids moved more than this in an iteration
            (the sum of squared moves over its k centroids, the criterion of the
            ``kmeans_gpu`` package BCCL's code uses, with its tolerance 1e-4 and at
            most 100 iterations); ``None`` runs exactly ``num_iters`` iterations.
            The loop is an ``ops.while_loop``, so it compiles under ``jit``.

    Returns:
        ``(centroids (C, k, D), assignment (C, M) int32, class_valid (C,) bool)``;
        ``assignment`` is the final E-step against the returned centroids.

    Example:
    >>> x = np.random.rand(3, 50, 8).astype("float32")
    >>> centroids, assign, ok = batched_kmeans(x, k=4, num_iters=10, seed=0)
    >>> tuple(centroids.shape), tuple(assign.shape)
    ((3, 4, 8), (3, 50))
    """
    points = ops.convert_to_tensor(points)
    if valid is None:
        valid = ops.ones(ops.shape(points)[:2], dtype=points.dtype)
    valid = ops.cast(valid, points.dtype)
    centroids = (kmeans_init(points, valid, k, seed, noise) if init is None
                 else ops.cast(ops.convert_to_tensor(init), points.dtype))
    if tol is None:
        for _ in range(int(num_iters)):
            centroids = kmeans_step(points, centroids, valid)
    else:
        def cond(i, current, moved):
            return ops.logical_and(i < int(num_iters), moved > float(tol))

        def body(i, current, moved):
            new = kmeans_step(points, current, valid)
            return i + 1, new, ops.max(ops.sum(ops.square(new - current), axis=(1, 2)))

        start = (ops.convert_to_tensor(0, "int32"), centroids,
                 ops.convert_to_tensor(float("inf"), points.dtype))
        _, centroids, _ = ops.while_loop(cond, body, start)
    assign, _ = kmeans_assign(points, centroids)
    return centroids, assign, ops.sum(valid, axis=1) > 0
