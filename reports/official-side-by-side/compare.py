#!/usr/bin/env python
"""keras-lt's BCCL against the authors' BCCL code at an equal budget: the comparison table
and a per-class plot, from the runs' reports.

Each side is a folder holding ``test_report.json`` for its *last* epoch (the official side:
``benchmarks/official_bccl.py train`` output; keras-lt: a run's ``last/`` report, or its
``test_report.json`` when the val-selected epoch is the last); the first side is the reference
the others are compared with. Writes ``comparison.md`` and ``per_class.png`` next to this
script::

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
    ref, others = names[0], names[1:]
    lines = [f"| metric (last epoch, test) | {' | '.join(names)} | "
             + " | ".join(f"{n} - {ref}" for n in others) + " |",
             "|---|" + "---|" * (len(names) + len(others))]
    a = sides[ref]
    for key in GROUPS:
        diffs = ["–" if a.get(key) is None or sides[n].get(key) is None
                 else f"{100 * (sides[n][key] - a[key]):+.2f}" for n in others]
        lines.append(f"| {key} | {' | '.join(pct(s.get(key)) for s in sides.values())} | "
                     + " | ".join(diffs) + " |")
    for i, row_a in enumerate(a["per_class"]):
        accs = [100 * sides[n]["per_class"][i]["accuracy"] for n in names]
        lines.append(f"| {row_a['name']} ({row_a['train_count']} train) | "
                     + " | ".join(f"{v:.1f}" for v in accs) + " | "
                     + " | ".join(f"{v - accs[0]:+.1f}" for v in accs[1:]) + " |")
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
    p.add_argument("sides", nargs="+", help="NAME=FOLDER (two or more; the first is the reference)")
    args = p.parse_args(argv)
    if len(args.sides) < 2:
        p.error("give at least two sides")
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
