"""Batched k-means against scikit-learn's Lloyd KMeans from the same initial centroids
(tests/fixtures/kmeans_reference.npz, ../shared/oracles README section 6)."""

import keras
import numpy as np
import pytest
from keras import ops

from conftest import FIXTURES
from keras_lt.layers.clustering import batched_kmeans, kmeans_init

with np.load(FIXTURES / "kmeans_reference.npz", allow_pickle=False) as _z:
    REF = {k: _z[k] for k in _z.files}
F64 = keras.backend.backend() != "jax"
DTYPE = np.float64 if F64 else np.float32


def np_(x):
    return np.asarray(ops.convert_to_numpy(x))


@pytest.mark.parametrize("iters", [1, 3, 10])
def test_matches_sklearn_fixed_iterations(iters):
    x = REF["X"].astype(DTYPE)
    centers, assign, ok = batched_kmeans(x, k=5, num_iters=iters, tol=None,
                                         init=REF["init_centroids"].astype(DTYPE))
    np.testing.assert_allclose(np_(centers), REF[f"sk/iter{iters}/centers"],
                               rtol=1e-9 if F64 else 1e-5, atol=1e-9 if F64 else 1e-6)
    np.testing.assert_array_equal(np_(assign), REF[f"sk/iter{iters}/labels"])
    assert np_(ok).all()


def test_converges_to_sklearn():
    """The default (tolerance 1e-4, at most 100 iterations) runs to convergence."""
    x = REF["X"].astype(DTYPE)
    centers, assign, _ = batched_kmeans(x, k=5, init=REF["init_centroids"].astype(DTYPE))
    np.testing.assert_allclose(np_(centers), REF["sk/converged/centers"], atol=1e-5)
    np.testing.assert_array_equal(np_(assign), REF["sk/converged/labels"])


def test_tolerance_stops_the_iterations():
    """A tolerance every move satisfies stops after one iteration; a tiny one runs on
    until the centroids stop moving (then more iterations change nothing)."""
    x = REF["X"].astype(DTYPE)
    init = REF["init_centroids"].astype(DTYPE)
    once = np_(batched_kmeans(x, k=5, num_iters=100, init=init, tol=1e9)[0])
    np.testing.assert_allclose(once, np_(batched_kmeans(x, k=5, num_iters=1, init=init,
                                                        tol=None)[0]), atol=1e-12)
    assert not np.allclose(once, REF["sk/converged/centers"], atol=1e-3)
    early = np_(batched_kmeans(x, k=5, num_iters=100, init=init, tol=0.0)[0])
    np.testing.assert_allclose(early, np_(batched_kmeans(x, k=5, num_iters=100, init=init,
                                                         tol=None)[0]), atol=1e-6)


def test_partial_queues_empty_clusters_and_empty_classes():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(4, 12, 6)).astype("float32")
    valid = np.ones((4, 12), "float32")
    valid[1, 3:] = 0          # 3 points for 5 clusters
    valid[2, :] = 0           # an empty class
    # class 3: all initial centroids far from the data except one -> 4 empty clusters
    init = np.stack([x[c, :5] for c in range(4)]).copy()
    init[3, 1:] = 100.0
    centers, assign, ok = batched_kmeans(x, k=5, num_iters=5, valid=valid, init=init)
    centers = np_(centers)
    assert np_(ok).tolist() == [True, True, False, True]
    # never a zero or far-away centroid for a class with points: each is near its data
    for c in (0, 1, 3):
        pts = x[c][valid[c] > 0]
        d = ((centers[c][:, None] - pts[None]) ** 2).sum(-1).min(axis=1)
        assert np.all(np.linalg.norm(centers[c], axis=-1) > 0)
        assert np.all(d < 50.0), (c, d)
    # class 1 has 3 points: every centroid is one of its points or their mean
    assert np.isfinite(centers).all()


def test_random_init_picks_distinct_valid_points():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(3, 10, 4)).astype("float32")
    valid = np.ones((3, 10), "float32")
    valid[0, 6:] = 0
    valid[1, 2:] = 0          # fewer valid points than k
    init = np_(kmeans_init(x, valid, 5, seed=0))
    for c in range(3):
        pts = x[c][valid[c] > 0]
        match = [np.where((np.abs(pts - cen).sum(-1) < 1e-6))[0] for cen in init[c]]
        assert all(len(m) == 1 for m in match), c          # every centroid is a valid point
        chosen = [int(m[0]) for m in match]
        assert len(set(chosen)) == min(5, len(pts))         # distinct while possible


def test_scales_to_inaturalist_in_one_call():
    """8,142 classes x M=100 x d=128 in float32 clusters in one call (memory check)."""
    x = np.random.default_rng(0).normal(size=(8142, 100, 128)).astype("float32")
    centers, assign, ok = batched_kmeans(x, k=5, num_iters=2, seed=0)
    assert tuple(centers.shape) == (8142, 5, 128) and np_(ok).all()
