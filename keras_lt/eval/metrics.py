"""Long-tailed evaluation metrics (pure NumPy).

Shot groups follow the convention of Liu et al. 2019 (OLTR) used by BCL and
BCCL: by *training* image count, many-shot > 100, medium-shot 20-100
(inclusive), few-shot < 20. Each group's accuracy is the mean of its classes'
accuracies; a group with no class is reported as ``None`` (absent), never 0.
"""

import numpy as np

MANY_THRESHOLD = 100
FEW_THRESHOLD = 20


def confusion_matrix(y_true, y_pred, num_classes):
    """(C, C) int64 matrix, rows = true class, columns = predicted class."""
    y_true = np.asarray(y_true, dtype=np.int64).ravel()
    y_pred = np.asarray(y_pred, dtype=np.int64).ravel()
    if y_true.shape != y_pred.shape:
        raise ValueError(f"y_true has {y_true.size} labels but y_pred has {y_pred.size}")
    for name, arr in (("y_true", y_true), ("y_pred", y_pred)):
        if arr.size and (arr.min() < 0 or arr.max() >= num_classes):
            raise ValueError(f"{name} holds a label outside [0, {num_classes}): {arr.min()}..{arr.max()}")
    cm = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(cm, (y_true, y_pred), 1)
    return cm


def per_class_accuracy(cm):
    """Accuracy of each class from a confusion matrix; NaN for a class with no test image."""
    support = cm.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(support > 0, np.diag(cm) / np.maximum(support, 1), np.nan)


def shot_groups(train_counts, many=MANY_THRESHOLD, few=FEW_THRESHOLD):
    """Map each class to ``"many"``, ``"medium"`` or ``"few"`` by its training count."""
    counts = np.asarray(train_counts)
    return np.where(counts > many, "many", np.where(counts < few, "few", "medium"))


def lt_metrics(y_true, y_pred, train_counts, class_names=None):
    """Top-1, class-average and many/medium/few-shot accuracy (fractions in [0, 1]).

    Returns a dict with ``top1``, ``class_avg``, ``many``, ``medium``, ``few``
    (``None`` when the group is empty or has no test image), ``num_classes_*``,
    ``per_class`` (a list of dicts), ``confusion`` (C x C list) and ``num_samples``.
    """
    counts = np.asarray(train_counts, dtype=np.int64)
    num_classes = counts.size
    cm = confusion_matrix(y_true, y_pred, num_classes)
    acc = per_class_accuracy(cm)
    groups = shot_groups(counts)
    names = list(class_names) if class_names is not None else [str(i) for i in range(num_classes)]
    total = int(cm.sum())
    out = {
        "num_samples": total,
        "top1": float(np.trace(cm) / total) if total else None,
        "class_avg": float(np.nanmean(acc)) if np.any(~np.isnan(acc)) else None,
    }
    for group in ("many", "medium", "few"):
        sel = (groups == group) & ~np.isnan(acc)
        out[group] = float(acc[sel].mean()) if sel.any() else None
        out[f"num_classes_{group}"] = int((groups == group).sum())
    out["per_class"] = [
        {"class": i, "name": names[i], "train_count": int(counts[i]), "group": str(groups[i]),
         "support": int(cm[i].sum()), "accuracy": None if np.isnan(acc[i]) else float(acc[i])}
        for i in range(num_classes)
    ]
    out["confusion"] = cm.tolist()
    return out


def format_summary(metrics, title=None):
    """A short human-readable table of the headline metrics (percentages)."""
    def pct(v):
        return "  absent" if v is None else f"{100 * v:7.2f}%"
    lines = [] if title is None else [title]
    lines.append(f"  top-1      {pct(metrics['top1'])}   ({metrics['num_samples']} images)")
    lines.append(f"  class-avg  {pct(metrics['class_avg'])}")
    for group in ("many", "medium", "few"):
        lines.append(f"  {group:<10} {pct(metrics[group])}   ({metrics[f'num_classes_{group}']} classes)")
    return "\n".join(lines)
