"""Diagnostic plots of a trained model (Reb-SupCon Figs. 2 and 5):

* :func:`classifier_gradient_norms` / :func:`plot_gradient_norms` -- per class, the
  L2 norm of the cross-entropy gradient with respect to that class's classifier
  weights, averaged over the samples, split into the part coming from the class's
  own samples (positive) and from the other classes' samples (negative), plotted
  against the class index sorted by training frequency. Head classes dominating
  the positive part and tail classes receiving mostly negative gradient is the
  imbalance the rebalancing factor targets.
* :func:`tsne_plot` -- a t-SNE (scikit-learn) of backbone features for up to 10
  classes spread over head, medium and tail.

Both work on any model with ``features(images)`` and ``classifier`` (every
keras_lt model): features and logits are computed once, the gradients in closed
form (``dCE/dlogit_c = p_c - [c = y]``).
"""

import numpy as np

from keras_lt.data.pipeline import make_loader
from keras_lt.utils.files import replace_atomically

__all__ = ["features_and_logits", "classifier_gradient_norms", "plot_gradient_norms",
           "pick_spread_classes", "tsne_plot"]


def features_and_logits(model, split, mean, std, eval_view="cifar_eval", batch_size=256,
                        image_size=None, indices=None):
    """Backbone features (N, d) and logits (N, C) of ``split`` (or of ``indices`` of it)."""
    from keras import ops

    loader = make_loader(split, views=[eval_view], batch_size=batch_size, mean=mean, std=std,
                         shuffle=False, drop_last=False, workers=0, image_size=image_size)
    feats, logits, labels = [], [], []
    wanted = None if indices is None else set(int(i) for i in indices)
    for b in range(len(loader)):
        x, y = loader[b]
        if wanted is not None:
            ids = np.arange(b * batch_size, b * batch_size + len(y))
            keep = np.array([i in wanted for i in ids])
            if not keep.any():
                continue
            x, y = x[keep], y[keep]
        f = model.features(x, training=False)
        feats.append(np.asarray(ops.convert_to_numpy(f)))
        logits.append(np.asarray(ops.convert_to_numpy(model.classifier(f))))
        labels.append(np.asarray(y))
    loader.close()
    return np.concatenate(feats), np.concatenate(logits), np.concatenate(labels)


def _classifier_inputs(model, feats):
    """What multiplies the weights in each logit: the features for a linear
    classifier, ``scale * f / ||f||`` for a cosine one (gradient w.r.t. the
    normalised weight direction)."""
    if getattr(model, "classifier_kind", "linear") == "cosine":
        scale = float(getattr(model.classifier, "scale", 1.0))
        return scale * feats / np.maximum(np.linalg.norm(feats, axis=1, keepdims=True), 1e-12)
    return feats


def classifier_gradient_norms(model, feats, logits, labels):
    """Per-class gradient norms of the mean cross-entropy w.r.t. the class's weights.

    Returns a dict of (C,) arrays: ``positive`` = ``||1/N sum_{i: y_i = c} (p_ic - 1) x_i||``,
    ``negative`` = ``||1/N sum_{i: y_i != c} p_ic x_i||`` and ``total`` (both together),
    with x_i the classifier input of sample i.
    """
    x = _classifier_inputs(model, np.asarray(feats, np.float64))
    z = np.asarray(logits, np.float64)
    p = np.exp(z - z.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    n, c = p.shape
    onehot = np.eye(c)[np.asarray(labels, int)]
    coef = p - onehot                                       # dCE_i / dlogit_ic
    pos = (coef * onehot).T @ x / n                         # (C, d)
    neg = (coef * (1 - onehot)).T @ x / n
    return {"positive": np.linalg.norm(pos, axis=1), "negative": np.linalg.norm(neg, axis=1),
            "total": np.linalg.norm(pos + neg, axis=1)}


def plot_gradient_norms(norms, train_counts, path, title=None):
    """Bar plot of the positive / negative gradient norms against the class index
    sorted by training frequency (most frequent first); writes a PNG atomically."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    order = np.argsort(-np.asarray(train_counts), kind="stable")
    idx = np.arange(len(order))
    fig, ax = plt.subplots(figsize=(max(6, min(0.25 * len(order), 16)), 3.6))
    ax.bar(idx, norms["positive"][order], color="tab:blue", label="positive (own samples)")
    ax.bar(idx, -norms["negative"][order], color="tab:red", label="negative (other samples)")
    ax.axhline(0, color="black", lw=0.5)
    ax.set_xlabel("class index, sorted by training frequency (head -> tail)")
    ax.set_ylabel("classifier-weight gradient L2 norm")
    ax.set_title(title or "Per-class classifier gradient norms")
    ax.legend(fontsize=8)
    fig.tight_layout()
    replace_atomically(path, lambda tmp: fig.savefig(tmp, dpi=120))
    plt.close(fig)


def pick_spread_classes(train_counts, k=10):
    """Up to k classes at evenly spaced frequency ranks (head, medium and tail)."""
    order = np.argsort(-np.asarray(train_counts), kind="stable")
    k = min(k, len(order))
    return [int(order[i]) for i in np.linspace(0, len(order) - 1, k).round().astype(int)]


def tsne_plot(feats, labels, classes, path, class_names=None, per_class=200, seed=0,
              title=None):
    """t-SNE (scikit-learn) of the features of ``classes`` (up to ``per_class``
    samples each), one colour per class; writes a PNG atomically. Returns the
    (n, 2) embedding and its labels."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from sklearn.manifold import TSNE

    rng = np.random.default_rng(seed)
    labels = np.asarray(labels)
    take = []
    for c in classes:
        ids = np.flatnonzero(labels == c)
        take.extend(rng.permutation(ids)[:per_class].tolist())
    take = np.array(sorted(take))
    if len(take) < 5:
        raise ValueError(f"t-SNE needs at least 5 samples of classes {classes}, found {len(take)}")
    emb = TSNE(n_components=2, perplexity=min(30.0, (len(take) - 1) / 3), init="pca",
               random_state=seed).fit_transform(np.asarray(feats)[take])
    fig, ax = plt.subplots(figsize=(6, 5))
    for c in classes:
        m = labels[take] == c
        name = class_names[c] if class_names is not None else str(c)
        ax.scatter(emb[m, 0], emb[m, 1], s=6, label=name)
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title(title or "t-SNE of backbone features")
    ax.legend(fontsize=7, markerscale=2, loc="best")
    fig.tight_layout()
    replace_atomically(path, lambda tmp: fig.savefig(tmp, dpi=120))
    plt.close(fig)
    return emb, labels[take]
