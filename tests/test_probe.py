"""The balanced linear probe (keras_lt.eval.probe): gradient, fit, prior and selection."""

import numpy as np
import pytest

from keras_lt.eval.probe import fit_linear_probe, logit_adjusted_probe_objective, select_probe


def _blobs(counts, d=6, sep=2.0, seed=0):
    """Gaussian classes with means ``sep`` apart along their own axis."""
    rng = np.random.default_rng(seed)
    x, y = [], []
    for c, n in enumerate(counts):
        centre = np.zeros(d)
        centre[c % d] = sep
        x.append(rng.normal(size=(n, d)) + centre)
        y.append(np.full(n, c))
    return np.concatenate(x), np.concatenate(y)


def test_objective_gradient_matches_finite_differences():
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(7, 4)), np.array([0, 1, 2, 2, 1, 0, 2])
    log_prior = np.log(np.array([0.6, 0.3, 0.1]))
    params = rng.normal(size=4 * 3 + 3)
    _, grad = logit_adjusted_probe_objective(params, x, y, log_prior, 0.3)
    num = np.zeros_like(params)
    for i in range(params.size):
        e = np.zeros_like(params)
        e[i] = 1e-6
        num[i] = (logit_adjusted_probe_objective(params + e, x, y, log_prior, 0.3)[0]
                  - logit_adjusted_probe_objective(params - e, x, y, log_prior, 0.3)[0]) / 2e-6
    np.testing.assert_allclose(grad, num, rtol=1e-6, atol=1e-8)


def test_objective_value_is_adjusted_cross_entropy():
    x, y = np.array([[1.0, 0.0]]), np.array([1])
    w = np.array([[2.0, 0.0], [0.0, 0.0]])
    log_prior = np.log(np.array([0.5, 0.5]))
    loss, _ = logit_adjusted_probe_objective(np.concatenate([w.ravel(), [0.0, 0.0]]), x, y,
                                             log_prior, 0.0)
    # logits (2, 0) + equal prior: -log softmax_1 = log(1 + e^2)
    assert loss == pytest.approx(np.log1p(np.exp(2.0)))


def test_prior_enters_training_only_and_helps_the_tail():
    counts = [500, 20]
    x, y = _blobs(counts, d=2, sep=1.5)
    xt, yt = _blobs([400, 400], d=2, sep=1.5, seed=5)
    balanced = fit_linear_probe(x, y, counts, l2=1e-4)
    # a probe that believes the classes were equally frequent: plain cross-entropy
    plain = fit_linear_probe(x, y, [1, 1], l2=1e-4)
    tail = yt == 1
    acc_bal = (balanced.predict(xt)[tail] == 1).mean()
    acc_plain = (plain.predict(xt)[tail] == 1).mean()
    assert acc_bal > acc_plain + 0.15, (acc_bal, acc_plain)
    # the balanced probe's decision bias is close to zero (the prior was absorbed in training)
    assert abs(balanced.bias[1] - balanced.bias[0]) < abs(plain.bias[1] - plain.bias[0])


def test_select_probe_keeps_the_best_val_score():
    counts = [200, 60, 15]
    train = _blobs(counts, d=3, sep=3.0)
    val = _blobs([30, 30, 30], d=3, sep=3.0, seed=3)
    probe, scores = select_probe(train, val, counts, l2_grid=(1e-4, 10.0))
    assert [s["l2"] for s in scores] == [1e-4, 10.0]
    best = max(scores, key=lambda s: s["val_class_avg"])
    assert probe.l2 == best["l2"]
    assert best["val_class_avg"] > 0.85


def test_bad_inputs_are_named():
    with pytest.raises(ValueError, match="do not match"):
        fit_linear_probe(np.zeros((3, 2)), np.zeros(4, int), [1, 1])
    with pytest.raises(ValueError, match="counts"):
        fit_linear_probe(np.zeros((3, 2)), np.zeros(3, int), [3, 0])
