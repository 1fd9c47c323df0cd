#!/usr/bin/env python
"""keras-lt's BCCL against the authors' BCCL code at an equal budget: the comparison table
and a per-class plot, from the runs' reports.

Each side is a folder holding ``test_report.json`` for its *last* epoch (the official side:
``benchmarks/official_bccl.py train`` output; keras-lt: a run's ``last/`` report, or its
``test_report.json`` when the val-selected epoch is the last). Sides named ``GROUP/SEED`` are
seeds of one code: the table adds each group's seed mean, and compares the groups' means
with the first group's. Writes ``comparison.md`` and ``per_class.png`` next to this script::

    .venv/bin/python reports/official-side-by-side/compare.py \\
        official/seed0=reports/official-side-by-side/official-e30 \\
        keras-lt/seed0=reports/official-side-by-side/keras-lt-reference-e30/last
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


def group_of(name):
    """``official/seed1`` -> ``official``: sides sharing a group are seeds of one code."""
    return name.split("/")[0]


def mean_report(reports):
    """The seed mean of several reports (each metric and each class's accuracy)."""
    out = {}
    for key in GROUPS:
        values = [r.get(key) for r in reports]
        out[key] = None if any(v is None for v in values) else sum(values) / len(values)
    out["per_class"] = [{**rows[0], "accuracy": sum(r["accuracy"] for r in rows) / len(rows)}
                        for rows in zip(*(r["per_class"] for r in reports))]
    return out


def columns(sides):
    """The sides, then each group's seed mean; and the groups' summaries (a group of one
    side is that side) in order, the first being the reference."""
    groups = {}
    for name, report in sides.items():
        groups.setdefault(group_of(name), []).append(report)
    cols = dict(sides)
    summary = {}
    for group, reports in groups.items():
        if len(reports) > 1:
            cols[f"{group} mean"] = summary[group] = mean_report(reports)
        else:
            summary[group] = reports[0]
    return cols, summary


def table(sides):
    cols, summary = columns(sides)
    names = list(cols)
    groups = list(summary)
    ref, others = groups[0], groups[1:]
    label = {g: (f"{g} mean" if f"{g} mean" in cols else next(n for n in sides if group_of(n) == g))
             for g in groups}
    lines = [f"| metric (last epoch, test) | {' | '.join(names)} | "
             + " | ".join(f"{label[g]} - {label[ref]}" for g in others) + " |",
             "|---|" + "---|" * (len(names) + len(others))]
    a = summary[ref]
    for key in GROUPS:
        diffs = ["–" if a.get(key) is None or summary[g].get(key) is None
                 else f"{100 * (summary[g][key] - a[key]):+.2f}" for g in others]
        lines.append(f"| {key} | {' | '.join(pct(c.get(key)) for c in cols.values())} | "
                     + " | ".join(diffs) + " |")
    for i, row_a in enumerate(a["per_class"]):
        accs = [100 * cols[n]["per_class"][i]["accuracy"] for n in names]
        ref_acc = 100 * row_a["accuracy"]
        lines.append(f"| {row_a['name']} ({row_a['train_count']} train) | "
                     + " | ".join(f"{v:.1f}" for v in accs) + " | "
                     + " | ".join(f"{100 * summary[g]['per_class'][i]['accuracy'] - ref_acc:+.1f}"
                                  for g in others) + " |")
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
