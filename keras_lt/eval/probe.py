"""Linear probe: a fresh balanced linear classifier on frozen backbone features.

The probe separates the two things a long-tailed model has to get right: the
*representation* (backbone features) and the *classifier* on top of it. It
freezes the backbone, extracts features of the train split with the eval view
(no augmentation), fits a new multinomial linear classifier with the
logit-adjusted loss (Menon et al. 2021, eq. 10, tau = 1) by L-BFGS, chooses the
L2 strength on the validation split (class-average accuracy) and reports the
test split. Two models whose probes agree have equally good features; a model
whose own classifier falls short of its probe has a classifier problem.

This is the standard linear evaluation of contrastive learning (e.g. SupCon,
Khosla et al. 2020, §4) made balanced for long-tailed data; it is a diagnostic
of this project, not part of either paper's method.

Example::

    feats, _, labels = features_and_logits(model, ds.split("train"), mean, std)
    probe = fit_linear_probe(feats, labels, ds.train_counts, l2=1e-3)
    pred = probe.predict(test_feats)
"""

from dataclasses import dataclass

import numpy as np

from keras_lt.eval.metrics import lt_metrics

__all__ = ["LinearProbe", "logit_adjusted_probe_objective", "fit_linear_probe", "select_probe"]

DEFAULT_L2_GRID = (1e-5, 1e-4, 1e-3, 1e-2, 1e-1, 1.0)


@dataclass
class LinearProbe:
    """A fitted probe: standardisation of the features, then ``x @ weights + bias``."""

    mean: np.ndarray      # (d,)
    scale: np.ndarray     # (d,)
    weights: np.ndarray   # (d, C)
    bias: np.ndarray      # (C,)
    l2: float

    def logits(self, feats):
        """(N, C) test-time logits (no adjustment: the prior only enters training)."""
        x = (np.asarray(feats, np.float64) - self.mean) / self.scale
        return x @ self.weights + self.bias

    def predict(self, feats):
        return self.logits(feats).argmax(axis=1)


def logit_adjusted_probe_objective(params, x, labels, log_prior, l2):
    """Mean logit-adjusted cross-entropy of a linear classifier plus ``l2/2 ||W||^2``,
    and its gradient (for L-BFGS).

    Menon et al. 2021, eq. 10 with tau = 1:
    ``loss_i = -log softmax(W^T x_i + b + log pi)_{y_i}`` with ``pi`` the training
    class prior. ``params`` is ``W`` (d, C) and ``b`` (C,) flattened; ``x`` (N, d).
    """
    n, d = x.shape
    c = log_prior.shape[0]
    w = params[: d * c].reshape(d, c)
    b = params[d * c:]
    z = x @ w + b + log_prior                         # (N, C)
    z = z - z.max(axis=1, keepdims=True)
    log_p = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    loss = -log_p[np.arange(n), labels].mean() + 0.5 * l2 * np.sum(w * w)
    coef = np.exp(log_p)                               # dloss_i / dz_i = p_i - onehot_i
    coef[np.arange(n), labels] -= 1.0
    coef /= n
    grad_w = x.T @ coef + l2 * w                       # (d, C)
    grad_b = coef.sum(axis=0)                          # (C,)
    return loss, np.concatenate([grad_w.ravel(), grad_b])


def fit_linear_probe(feats, labels, train_counts, l2=1e-3, max_iter=1000):
    """Fit a :class:`LinearProbe` on ``feats`` (N, d) / ``labels`` (N,) with the
    logit-adjusted loss; ``train_counts`` (C,) gives the prior."""
    from scipy.optimize import minimize

    feats = np.asarray(feats, np.float64)
    labels = np.asarray(labels, np.int64)
    counts = np.asarray(train_counts, np.float64)
    if feats.ndim != 2 or feats.shape[0] != labels.shape[0]:
        raise ValueError(f"features {feats.shape} and labels {labels.shape} do not match")
    if counts.min() <= 0:
        raise ValueError(f"every class needs a training image for the prior; counts {counts.tolist()}")
    mean = feats.mean(axis=0)
    scale = feats.std(axis=0) + 1e-6
    x = (feats - mean) / scale
    d, c = x.shape[1], counts.size
    log_prior = np.log(counts / counts.sum())
    res = minimize(logit_adjusted_probe_objective, np.zeros(d * c + c), jac=True, method="L-BFGS-B",
                   args=(x, labels, log_prior, float(l2)), options={"maxiter": max_iter})
    return LinearProbe(mean, scale, res.x[: d * c].reshape(d, c), res.x[d * c:], float(l2))


def select_probe(train, val, train_counts, l2_grid=DEFAULT_L2_GRID):
    """Fit one probe per L2 strength on ``train = (feats, labels)`` and keep the one
    with the best class-average accuracy on ``val = (feats, labels)``.

    Returns ``(probe, scores)`` with ``scores`` a list of ``{"l2", "val_class_avg"}``."""
    best, scores = None, []
    for l2 in l2_grid:
        probe = fit_linear_probe(train[0], train[1], train_counts, l2=l2)
        m = lt_metrics(val[1], probe.predict(val[0]), train_counts)
        scores.append({"l2": float(l2), "val_class_avg": m["class_avg"]})
        if best is None or m["class_avg"] > best[1]:
            best = (probe, m["class_avg"])
    return best[0], scores
