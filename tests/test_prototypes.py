"""Reb-SupCon's prototype losses: Sinkhorn and swapped prediction against SwAV's
own code (tests/fixtures/swav_sinkhorn.npz, from ../shared/oracles), aggregation
and separation against direct NumPy transcriptions of §3.3.2."""

import keras
import numpy as np
import pytest

from conftest import FIXTURES
from helpers import finite_difference_grad, rel_err, value_and_grad
from keras_lt.losses.prototypes import (
    aggregation_loss, separation_loss, sinkhorn, swapped_prediction_loss)

SWAV = dict(np.load(FIXTURES / "swav_sinkhorn.npz", allow_pickle=False))
F64 = keras.backend.backend() != "jax"


def np_(x):
    return np.asarray(keras.ops.convert_to_numpy(x), np.float64)


@pytest.mark.parametrize("case", list(SWAV["case_names"]))
def test_sinkhorn_matches_swav(case):
    q = np_(sinkhorn(SWAV[f"{case}/scores"], float(SWAV["epsilon"]),
                     int(SWAV["sinkhorn_iterations"])))
    # float32 by design (issue: "computed in float32"); SwAV's float64 result to float32 accuracy
    assert rel_err(q, SWAV[f"{case}/Q_f64"]) < 1e-5
    np.testing.assert_allclose(q.sum(axis=1), 1.0, rtol=1e-5)


def test_sinkhorn_survives_large_scores():
    """SwAV's plain exp overflows in float32 once a score exceeds ~4.4; the shifted one does not."""
    scores = SWAV["b32_k30/scores"].astype("float32")
    big = np_(sinkhorn(scores * 10.0))
    assert np.all(np.isfinite(big))
    np.testing.assert_allclose(big.sum(axis=1), 1.0, rtol=1e-4)
    # a constant added to every score changes nothing
    np.testing.assert_allclose(np_(sinkhorn(scores + 3.0)), np_(sinkhorn(scores)), atol=1e-6)


def test_swapped_prediction_matches_swav():
    b = int(SWAV["swap/batch_size"])
    scores = SWAV["swap/scores"].astype(np.float64 if F64 else np.float32)
    q0 = np_(sinkhorn(scores[:b]))
    q1 = np_(sinkhorn(scores[b:]))
    assert rel_err(q0, SWAV["swap/q0_f64"]) < 1e-5 and rel_err(q1, SWAV["swap/q1_f64"]) < 1e-5
    codes0, codes1 = SWAV["swap/q0_f64"], SWAV["swap/q1_f64"]
    if not F64:
        codes0, codes1 = codes0.astype(np.float32), codes1.astype(np.float32)
    t = float(SWAV["temperature"])
    value, (grad,) = value_and_grad(
        lambda s: swapped_prediction_loss(s[:b], s[b:], codes0, codes1, t), scores)
    tol = 1e-9 if F64 else 1e-5
    assert abs(float(value) - float(SWAV["swap/loss_f64"])) <= tol * abs(float(SWAV["swap/loss_f64"]))
    assert rel_err(grad, SWAV["swap/dloss_dscores_f64"]) < tol


def test_aggregation_and_separation_match_numpy():
    rng = np.random.default_rng(0)
    z = rng.normal(size=(6, 8))
    z /= np.linalg.norm(z, axis=-1, keepdims=True)
    c = rng.normal(size=(5, 8))
    q = rng.random(size=(6, 5))
    q /= q.sum(1, keepdims=True)
    cn = c / np.linalg.norm(c, axis=-1, keepdims=True)
    expected = np.mean([sum(q[i, k] * np.sum((z[i] - cn[k]) ** 2) for k in range(5))
                        for i in range(6)])
    assert abs(float(np_(aggregation_loss(z, c, q))) - expected) < 1e-6
    for delta in (1.0, 2.5):
        want = sum(max(0.0, delta - np.sum((cn[a] - cn[b]) ** 2))
                   for a in range(5) for b in range(5) if a != b)
        assert abs(float(np_(separation_loss(c, delta))) - want) < 1e-5
    assert float(np_(separation_loss(np.eye(4, 8) * 3.0, 1.0))) == pytest.approx(0.0)   # orthogonal


@pytest.mark.skipif(not F64, reason="float64 finite differences need torch or TensorFlow "
                                    "(JAX runs float32 without x64)")
def test_prototype_losses_gradient_check():
    """Autodiff gradients of every prototype loss term equal finite differences (float64)."""
    rng = np.random.default_rng(3)
    z = rng.normal(size=(5, 4))
    z /= np.linalg.norm(z, axis=-1, keepdims=True)
    c = rng.normal(size=(3, 4))
    q = rng.random(size=(5, 3))
    q /= q.sum(1, keepdims=True)
    t64 = lambda a: keras.ops.convert_to_tensor(a, "float64")    # noqa: E731 (no float32 casts)
    cases = {
        "aggregation/z": (lambda x: aggregation_loss(x, t64(c), t64(q)), z),
        "aggregation/prototypes": (lambda x: aggregation_loss(t64(z), x, t64(q)), c),
        "separation": (lambda x: separation_loss(x, 1.5), c),
        "swap": (lambda x: swapped_prediction_loss(x[:5], x[5:], t64(q), t64(q[::-1]), 0.1),
                 rng.normal(size=(10, 3))),
    }
    for name, (fn, x) in cases.items():
        _, (auto,) = value_and_grad(fn, x)
        np.testing.assert_allclose(auto, finite_difference_grad(fn, x), rtol=1e-5, atol=1e-7,
                                   err_msg=name)
