#!/usr/bin/env python
"""keras-lt's BCCL against the authors' BCCL code at an equal budget: the comparison table
and a per-class plot, from the runs' reports.

Each side is a folder holding ``test_report.json`` for its *last* epoch (the official side:
``benchmarks/official_bccl.py train`` output; keras-lt: a run's ``last/`` report, or its
``test_report.json`` when the val-selected epoch is the last). Writes ``comparison.md`` and
``per_class.png`` next to this script::

    .venv/bin/python reports/official-side-by-side/compare.py \\
        official=reports/official-side-by-side/official-e30 \\
        keras-lt=reports/official-side-by-side/keras-lt-reference-e30/last
"""

import argparse
import json
import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
GROUPS = ("top1", "class_avg", "many", "medium", "few")


def load(folder):
    path = Path(folder) / "test_report.json"
    if not path.is_file():
        sys.exit(f"{path}: missing (run the side's training first)")
    return json.loads(path.read_text())


def pct(value):
    return "absent" if value is None else f"{100 * value:.2f}"


def table(sides):
    names = list(sides)
    lines = [f"| metric (last epoch, test) | {' | '.join(names)} | {names[1]} - {names[0]} |",
             "|---|" + "---|" * (len(names) + 1)]
    a, b = sides[names[0]], sides[names[1]]
    for key in GROUPS:
        diff = ("–" if a.get(key) is None or b.get(key) is None
                else f"{100 * (b[key] - a[key]):+.2f}")
        lines.append(f"| {key} | {' | '.join(pct(s.get(key)) for s in sides.values())} | {diff} |")
    for row_a, row_b in zip(a["per_class"], b["per_class"]):
        lines.append(f"| {row_a['name']} ({row_a['train_count']} train) | "
                     f"{100 * row_a['accuracy']:.1f} | {100 * row_b['accuracy']:.1f} | "
                     f"{100 * (row_b['accuracy'] - row_a['accuracy']):+.1f} |")
    return "\n".join(lines)


def plot(sides, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    names = list(sides)
    rows = sides[names[0]]["per_class"]
    x = np.arange(len(rows))
    fig, ax = plt.subplots(figsize=(7.5, 3.8))
    width = 0.8 / len(names)
    for i, name in enumerate(names):
        acc = [100 * r["accuracy"] for r in sides[name]["per_class"]]
        ax.bar(x + (i - (len(names) - 1) / 2) * width, acc, width,
               label=f"{name} (top-1 {pct(sides[name]['top1'])})")
    ax.set_xticks(x)
    ax.set_xticklabels([f"{r['name']}\n{r['train_count']}" for r in rows], fontsize=7)
    ax.set_ylabel("test accuracy (%)")
    ax.set_title("BCCL, ResNet-32, CIFAR-10-LT IF100 (JPEG), last epoch; classes by training count",
                 fontsize=9)
    ax.legend(fontsize=8, loc="lower left")
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    tmp = Path(f"{path}.tmp-{os.getpid()}.png")
    fig.savefig(tmp, dpi=110)
    plt.close(fig)
    tmp.replace(path)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("sides", nargs=2, help="NAME=FOLDER (the first is the reference)")
    args = p.parse_args(argv)
    sides = {}
    for item in args.sides:
        name, _, folder = item.partition("=")
        sides[name] = load(folder)
    text = table(sides)
    tmp = HERE / f"comparison.md.tmp-{os.getpid()}"
    tmp.write_text(text + "\n")
    tmp.replace(HERE / "comparison.md")
    plot(sides, HERE / "per_class.png")
    print(text)


if __name__ == "__main__":
    main()
