"""Diagnostics of tools/evaluate.py: per-class classifier gradient norms (closed form
checked against autodiff of the cross-entropy) and class picking for the t-SNE plot."""

import keras
import numpy as np

from helpers import value_and_grad
from keras_lt.eval.diagnostics import (
    classifier_gradient_norms, pick_spread_classes, plot_gradient_norms, tsne_plot)


class _Linear:
    classifier_kind = "linear"


def test_gradient_norms_equal_autodiff_of_cross_entropy():
    rng = np.random.default_rng(0)
    n, d, c = 12, 5, 3
    feats = rng.normal(size=(n, d))
    w = rng.normal(size=(d, c))
    labels = np.array([0, 0, 0, 0, 0, 0, 1, 1, 1, 2, 2, 0])
    logits = feats @ w

    def ce(weights):
        z = keras.ops.matmul(keras.ops.convert_to_tensor(feats, weights.dtype), weights)
        logp = keras.ops.log_softmax(z, axis=-1)
        return -keras.ops.sum(keras.ops.convert_to_tensor(np.eye(c)[labels], z.dtype) * logp) / n

    _, (grad,) = value_and_grad(ce, w.astype("float32"))
    norms = classifier_gradient_norms(_Linear(), feats, logits, labels)
    np.testing.assert_allclose(norms["total"], np.linalg.norm(grad, axis=0), rtol=1e-4)
    # the rarest class gets more gradient from other classes' samples than from its own
    assert norms["negative"][2] > norms["positive"][2]


def test_spread_classes_and_plots(tmp_path):
    counts = [500, 300, 200, 120, 80, 50, 30, 20, 12, 8, 5, 3]
    picked = pick_spread_classes(counts, 4)
    assert picked[0] == 0 and picked[-1] == 11 and len(set(picked)) == 4
    rng = np.random.default_rng(0)
    norms = {"positive": rng.random(12), "negative": rng.random(12), "total": rng.random(12)}
    plot_gradient_norms(norms, counts, tmp_path / "g.png")
    assert (tmp_path / "g.png").stat().st_size > 1000
    feats = rng.normal(size=(60, 8)) + np.repeat(np.arange(3), 20)[:, None] * 3
    emb, labels = tsne_plot(feats, np.repeat(np.arange(3), 20), [0, 1, 2], tmp_path / "t.png",
                            per_class=15)
    assert emb.shape == (45, 2) and (tmp_path / "t.png").stat().st_size > 1000
