"""Reb-SupCon §3.3.1: rebalancing factor, rebalanced supervised contrast and the
closed-form per-sample gradient norm (checked against autodiff on every backend)."""

import keras
import numpy as np
import pytest

from helpers import finite_difference_grad, value_and_grad
from keras_lt.losses.rebalance import (
    class_frequency_weight, rebalanced_supcon_loss, rebalanced_supcon_terms, rebalancing_factor)

F64 = keras.backend.backend() != "jax"
DT = np.float64 if F64 else np.float32


def unit(rng, *shape):
    x = rng.normal(size=shape)
    return (x / np.linalg.norm(x, axis=-1, keepdims=True)).astype(DT)


def np_(x):
    return np.asarray(keras.ops.convert_to_numpy(x), np.float64)


def test_factor_printed_and_inverse_readings():
    counts = [5000, 500, 50]
    wf = class_frequency_weight(counts, beta=0.1, eps=1e-5)
    f = np.array(counts) / sum(counts)
    np.testing.assert_allclose(wf, 0.1 / (f + 1e-5), rtol=1e-6)
    g = np.array([1.0, 2.0, 2.0], "float32")
    printed = np_(rebalancing_factor(g, wf, alpha=0.5))
    np.testing.assert_allclose(printed, 1 / (1 + 0.5 * g * wf), rtol=1e-6)
    assert printed[0] > printed[1] > printed[2]            # as printed: tail weighs *less*
    inverse = np_(rebalancing_factor(g, wf, alpha=0.5, reading="inverse"))
    assert inverse[0] < inverse[1] < inverse[2]            # the prose: tail weighs more
    np.testing.assert_allclose(np_(rebalancing_factor(np.zeros(3, "float32"), wf)), 1.0)
    with pytest.raises(ValueError, match="reading"):
        rebalancing_factor(g, wf, reading="other")
    with pytest.raises(ValueError, match="class_counts"):
        class_frequency_weight([0, 0])


def _numpy_terms(a, ya, k, yk, t, valid):
    out, norms = [], []
    for i in range(len(a)):
        s = k @ a[i] / t
        idx = [j for j in range(len(k)) if valid[j]]
        log_den = np.log(np.sum(np.exp(s[idx])))
        pos = [j for j in idx if yk[j] == ya[i]]
        if not pos:
            out.append(0.0), norms.append(0.0)
            continue
        out.append(-np.mean([s[j] - log_den for j in pos]))
        p = np.zeros(len(k))
        p[idx] = np.exp(s[idx] - log_den)
        grad = (p @ k - k[pos].mean(0)) / t
        norms.append(np.linalg.norm(grad))
    return np.array(out), np.array(norms)


def test_terms_and_gradient_norms():
    rng = np.random.default_rng(0)
    a, k = unit(rng, 6, 8), unit(rng, 10, 8)
    ya = np.array([0, 1, 2, 1, 0, 3], "int32")       # class 3 has no key: no positive
    yk = np.array([0, 1, 2, 0, 1, 2, 0, 1, 2, 0], "int32")
    valid = np.array([1, 1, 1, 1, 1, 1, 1, 1, 0, 0], DT)
    terms, norms, has = rebalanced_supcon_terms(a, ya, k, yk, 0.1, valid)
    want_t, want_n = _numpy_terms(a.astype(np.float64), ya, k.astype(np.float64), yk, 0.1, valid > 0)
    tol = 1e-9 if F64 else 2e-5
    np.testing.assert_allclose(np_(terms), want_t, rtol=tol, atol=tol)
    np.testing.assert_allclose(np_(norms), want_n, rtol=tol, atol=tol)
    assert np_(has).tolist() == [1, 1, 1, 1, 1, 0]
    # the closed form equals autodiff of each anchor's term w.r.t. its embedding
    _, (grad,) = value_and_grad(
        lambda x: keras.ops.sum(rebalanced_supcon_terms(x, ya, k, yk, 0.1, valid)[0]), a)
    np.testing.assert_allclose(np.linalg.norm(grad, axis=-1), want_n, rtol=tol * 10, atol=tol)
    # the weighted loss: mean over anchors with a positive of omega(y_i) * term_i
    w = np.array([1.0, 0.5, 0.25, 2.0], DT)
    loss = np_(rebalanced_supcon_loss(terms, ya, w, has))
    assert float(loss) == pytest.approx(np.sum(w[ya] * want_t) / 5, rel=tol * 10)


@pytest.mark.skipif(not F64, reason="float64 finite differences need torch or TensorFlow")
def test_rebalanced_loss_gradient_check():
    """d L_reb / d anchors and d L_reb / d keys: autodiff == finite differences (float64)."""
    rng = np.random.default_rng(5)
    a, k = unit(rng, 4, 5), unit(rng, 7, 5)
    ya = np.array([0, 1, 1, 2], "int32")
    yk = np.array([0, 1, 2, 0, 1, 2, 2], "int32")
    w = np.array([0.5, 1.0, 2.0])

    def loss_a(x):
        terms, _, has = rebalanced_supcon_terms(x, ya, k, yk, 0.1)
        return rebalanced_supcon_loss(terms, ya, w, has)

    def loss_k(x):
        terms, _, has = rebalanced_supcon_terms(a, ya, x, yk, 0.1)
        return rebalanced_supcon_loss(terms, ya, w, has)

    for fn, x in ((loss_a, a), (loss_k, k)):
        _, (auto,) = value_and_grad(fn, x)
        np.testing.assert_allclose(auto, finite_difference_grad(fn, x), rtol=1e-5, atol=1e-7)
