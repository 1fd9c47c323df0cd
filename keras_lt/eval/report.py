"""Evaluation of a model on a prepared split, and the report files it writes.

:func:`evaluate_model` runs inference with the split's eval view and returns
the metrics of :mod:`keras_lt.eval.metrics`; :func:`write_report` writes them
as ``<prefix>.json``, ``<prefix>_per_class.csv``, ``<prefix>_confusion.csv``
and ``<prefix>_per_class.png`` (per-class accuracy against training count,
classes sorted by frequency).
"""

import csv
import json
import sys
from pathlib import Path

import numpy as np

from keras_lt.data.pipeline import make_loader
from keras_lt.eval.metrics import lt_metrics
from keras_lt.utils.files import atomic_write_text, replace_atomically


def predict_logits(model, split, mean, std, eval_view="cifar_eval", batch_size=256, image_size=None):
    """Logits (N, C) of ``model`` on every image of ``split`` in order."""
    loader = make_loader(split, views=[eval_view], batch_size=batch_size, mean=mean, std=std,
                         shuffle=False, drop_last=False, workers=0, image_size=image_size)
    outs = []
    for i in range(len(loader)):
        x, _ = loader[i]
        outs.append(np.asarray(model.predict_on_batch(x)))
    return np.concatenate(outs, axis=0)


def evaluate_model(model, split, train_counts, class_names, mean, std, eval_view="cifar_eval",
                   batch_size=256, image_size=None):
    """Predict ``split`` and return :func:`~keras_lt.eval.metrics.lt_metrics` of it."""
    logits = predict_logits(model, split, mean, std, eval_view, batch_size, image_size)
    return lt_metrics(np.asarray(split.labels), logits.argmax(axis=1), train_counts, class_names)


def plot_per_class(metrics, path, title=None):
    """PNG: per-class accuracy bars (classes sorted by training count, most
    frequent first, coloured by shot group) with the training count on a log
    axis. Returns False, with a note, when matplotlib (the ``train`` extra) is not
    installed: the reports are written without their plot."""
    try:
        import matplotlib
    except ImportError:
        print(f"note: matplotlib is not installed (pip install 'keras-lt[train]'): "
              f"{Path(path).name} not drawn", file=sys.stderr)
        return False

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = sorted(metrics["per_class"], key=lambda r: -r["train_count"])
    acc = [100 * (r["accuracy"] or 0.0) for r in rows]
    counts = [r["train_count"] for r in rows]
    colours = {"many": "#1f77b4", "medium": "#ff7f0e", "few": "#d62728"}
    n = len(rows)
    fig, ax = plt.subplots(figsize=(max(6.0, min(0.35 * n, 18.0)), 4.2))
    x = np.arange(n)
    ax.bar(x, acc, color=[colours[r["group"]] for r in rows], width=0.85)
    ax.set_ylabel("test accuracy (%)")
    ax.set_ylim(0, 100)
    ax.set_xlabel("class (sorted by training count)")
    if n <= 40:
        ax.set_xticks(x)
        ax.set_xticklabels([r["name"] for r in rows], rotation=60, ha="right", fontsize=8)
    ax2 = ax.twinx()
    ax2.plot(x, counts, color="black", marker="." if n <= 100 else None, lw=1.2)
    ax2.set_yscale("log")
    ax2.set_ylabel("training images (log)")
    handles = [plt.Rectangle((0, 0), 1, 1, color=c) for c in colours.values()]
    labels = [f"{g} ({metrics[f'num_classes_{g}']})" for g in colours]
    ax.legend(handles, labels, loc="lower left", fontsize=8)
    def pct(v):
        return "absent" if v is None else f"{100 * v:.1f}"
    ax.set_title(title or f"top-1 {pct(metrics['top1'])}  class-avg {pct(metrics['class_avg'])}  "
                 f"many {pct(metrics['many'])}  medium {pct(metrics['medium'])}  few {pct(metrics['few'])}",
                 fontsize=9)
    fig.tight_layout()
    replace_atomically(path, lambda tmp: fig.savefig(tmp, dpi=110))
    plt.close(fig)
    return True


def write_report(metrics, out_dir, prefix="test_report", extra=None, plot=True):
    """Write JSON, per-class CSV, confusion CSV and (optionally) the PNG plot.

    Returns the path of the JSON report. ``extra`` (a dict: checkpoint, recipe,
    split, ...) is stored under ``"info"`` in the JSON.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    data = {"info": dict(extra or {}), **{k: v for k, v in metrics.items() if k != "confusion"}}
    json_path = out_dir / f"{prefix}.json"
    atomic_write_text(json_path, json.dumps(data, indent=2) + "\n")
    lines = ["class,name,train_count,group,support,accuracy"]
    for r in metrics["per_class"]:
        acc = "" if r["accuracy"] is None else f"{r['accuracy']:.6f}"
        name = str(r["name"]).replace(",", " ")
        lines.append(f"{r['class']},{name},{r['train_count']},{r['group']},{r['support']},{acc}")
    atomic_write_text(out_dir / f"{prefix}_per_class.csv", "\n".join(lines) + "\n")
    cm_lines = [",".join(str(v) for v in row) for row in metrics["confusion"]]
    atomic_write_text(out_dir / f"{prefix}_confusion.csv", "\n".join(cm_lines) + "\n")
    if plot:
        plot_per_class(metrics, out_dir / f"{prefix}_per_class.png")
    return json_path


def read_per_class_csv(path):
    """Read back a per-class CSV written by :func:`write_report` (list of dicts)."""
    with open(path, newline="") as f:
        return list(csv.DictReader(f))
