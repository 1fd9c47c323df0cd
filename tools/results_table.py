#!/usr/bin/env python
"""Generate the results tables of README.md and reports/README.md from the committed
evaluation reports.

Each table is a block of one of those documents between ``<!-- results:NAME -->`` and
``<!-- /results:NAME -->``; its rows are the ``test_report.json`` files listed in
:data:`TABLES` (or, for :data:`PROBES`, a run's own report beside its linear-probe
report), and the ``zoo-models`` block is the model zoo from
``keras_lt.list_models()`` (numbers are never typed by hand). The figure
``reports/cifar10lt_by_if.png`` (top-1 against the imbalance factor) is drawn from
the same reports and checked like the tables.

    python tools/results_table.py            # rewrite the blocks in both documents
    python tools/results_table.py --check    # exit 1 if one is stale (used by the tests)
"""

import argparse
import json
import sys
from pathlib import Path

from keras_lt_cli.bootstrap import ROOT, select_backend  # noqa: E402  (a clone's keras_lt on the import path)

#: table name -> rows (label, report directory relative to the repository root[, zoo name
#: whose published figure is compared, see keras_lt.hub.paper_results])
TABLES = {
    # the papers' schedules, unscaled (val-selected checkpoint, and the last epoch)
    "cifar10lt-full-schedule": [
        ("IF100: BCCL, 200 epochs, val-selected", "reports/cifar10lt-if100/bccl-resnet32-e200",
         "bccl-resnet32-cifar10lt-if100"),
        ("IF100: BCCL, 200 epochs, last epoch", "reports/cifar10lt-if100/bccl-resnet32-e200/last",
         "bccl-resnet32-cifar10lt-if100"),
        ("IF100: logit adjustment, 200 epochs, val-selected",
         "reports/cifar10lt-if100/la-resnet32-e200", "la-resnet32-cifar10lt-if100"),
        ("IF100: logit adjustment, 200 epochs, last epoch",
         "reports/cifar10lt-if100/la-resnet32-e200/last", "la-resnet32-cifar10lt-if100"),
    ],
    "cifar10lt-if100-e30": [
        ("cross-entropy", "reports/cifar10lt-if100/ce-resnet32-e30"),
        ("logit adjustment (tau = 1)", "reports/cifar10lt-if100/la-resnet32-e30"),
        ("BCCL", "reports/cifar10lt-if100/bccl-resnet32-e30"),
        ("BCCL, corrected (eq. 5 over the class's k centroids, k-means to tolerance, "
         "Cutout before normalisation, view fixes)",
         "reports/cifar10lt-if100/bccl-resnet32-e30-corrected"),
        ("Reb-SupCon (printed omega)", "reports/cifar10lt-if100/rebsupcon-resnet32-e30"),
        ("Reb-SupCon (inverse omega)", "reports/cifar10lt-if100/rebsupcon-inverse-resnet32-e30"),
        ("Reb-SupCon (printed omega), lr 0.1 + 3 warm-up epochs",
         "reports/cifar10lt-if100/rebsupcon-lr0.1-resnet32-e30"),
        ("Reb-SupCon (printed omega), lr 0.1 + 3 warm-up, classifier weight 3",
         "reports/cifar10lt-if100/rebsupcon-lr0.1-cw3-resnet32-e30"),
        ("Reb-SupCon ablation: SupCon (MoCo) only",
         "reports/cifar10lt-if100/rebsupcon_supcon-resnet32-e30"),
    ],
    # equal budget at 50 epochs: does Reb-SupCon overtake logit adjustment?
    # (val-selected checkpoint, and the last one: the 180-image val split is noisy)
    "cifar10lt-if100-budget": [
        ("LA, 30 epochs, val-selected", "reports/cifar10lt-if100/la-resnet32-e30"),
        ("Reb-SupCon lr 0.1, 30 epochs, val-selected",
         "reports/cifar10lt-if100/rebsupcon-lr0.1-resnet32-e30"),
        ("LA, 30 epochs, last epoch", "reports/cifar10lt-if100/la-resnet32-e30/last"),
        ("Reb-SupCon lr 0.1, 30 epochs, last epoch",
         "reports/cifar10lt-if100/rebsupcon-lr0.1-resnet32-e30/last"),
        ("LA, 50 epochs, val-selected", "reports/cifar10lt-if100/la-resnet32-e50"),
        ("Reb-SupCon lr 0.1, 50 epochs, val-selected",
         "reports/cifar10lt-if100/rebsupcon-lr0.1-resnet32-e50"),
        ("LA, 50 epochs, last epoch", "reports/cifar10lt-if100/la-resnet32-e50/last"),
        ("Reb-SupCon lr 0.1, 50 epochs, last epoch",
         "reports/cifar10lt-if100/rebsupcon-lr0.1-resnet32-e50/last"),
    ],
    # the three methods at every imbalance factor, 30 epochs each; Reb-SupCon with the
    # lr 0.1 + 3 warm-up settings of its published IF100 checkpoint
    "cifar10lt-by-if-e30": [
        ("IF100: logit adjustment", "reports/cifar10lt-if100/la-resnet32-e30"),
        ("IF100: BCCL", "reports/cifar10lt-if100/bccl-resnet32-e30"),
        ("IF100: Reb-SupCon lr 0.1", "reports/cifar10lt-if100/rebsupcon-lr0.1-resnet32-e30"),
        ("IF50: logit adjustment", "reports/cifar10lt-if50/la-resnet32-e30"),
        ("IF50: BCCL", "reports/cifar10lt-if50/bccl-resnet32-e30"),
        ("IF50: Reb-SupCon lr 0.1", "reports/cifar10lt-if50/rebsupcon-lr0.1-resnet32-e30"),
        ("IF10: logit adjustment", "reports/cifar10lt-if10/la-resnet32-e30"),
        ("IF10: BCCL", "reports/cifar10lt-if10/bccl-resnet32-e30"),
        ("IF10: Reb-SupCon lr 0.1", "reports/cifar10lt-if10/rebsupcon-lr0.1-resnet32-e30"),
    ],
    # BCCL Table 4 rows at the 30-epoch CPU budget (same settings as the BCCL row above)
    "bccl-ablation-cifar10lt-if100": [
        ("SCL only (Table 4 row 1)", "reports/cifar10lt-if100/bccl_scl-resnet32-e30"),
        ("SCL + centroid loss", "reports/cifar10lt-if100/bccl_scl_cl-resnet32-e30"),
        ("SCL + logit compensation", "reports/cifar10lt-if100/bccl_scl_lc-resnet32-e30"),
        ("full BCCL", "reports/cifar10lt-if100/bccl-resnet32-e30"),
    ],
    # Reb-SupCon Table 6 rows, all with the paper's lr 0.02 at 30 epochs
    "rebsupcon-ablation-cifar10lt-if100": [
        ("SupCon (MoCo) only", "reports/cifar10lt-if100/rebsupcon_supcon-resnet32-e30"),
        ("+ rebalancing factor", "reports/cifar10lt-if100/rebsupcon_reb-resnet32-e30"),
        ("+ prototype module", "reports/cifar10lt-if100/rebsupcon_proto-resnet32-e30"),
        ("full Reb-SupCon (printed omega)", "reports/cifar10lt-if100/rebsupcon-resnet32-e30"),
    ],
}


def _pct(value):
    return "absent" if value is None else f"{100 * value:.2f}"


def _card_cells(metrics):
    """A card's test top-1 / class-avg / many / medium / few (percent, as in
    ``eval_results.json``) as table cells, "–" for a missing group."""
    return " | ".join("–" if metrics.get(k) is None else f"{metrics[k]:.2f}"
                      for k in ("top1", "class_avg", "many", "medium", "few"))


def render(name):
    """Markdown table of one entry of :data:`TABLES`, from the reports that exist; rows that
    name a zoo entry get the paper's figure for it and the gap."""
    from keras_lt.hub.paper_results import paper_result

    rows = TABLES[name]
    compared = any(len(row) > 2 for row in rows)
    head = ["recipe", "top-1", "class-avg", "many", "medium", "few", "epoch used / epochs",
            "train time"] + (["paper top-1", "gap"] if compared else [])
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for label, rel, *zoo_name in rows:
        path = ROOT / rel / "test_report.json"
        if not path.exists():
            lines.append(f"| {label} | not trained yet |" + "  |" * (len(head) - 2))
            continue
        r = json.loads(path.read_text())
        info = r["info"]
        groups = [f"{_pct(r[g])} ({r[f'num_classes_{g}']} cl.)" if r[g] is not None else "absent"
                  for g in ("many", "medium", "few")]
        cells = [label, _pct(r["top1"]), _pct(r["class_avg"]), *groups,
                 f"{info.get('weights_epoch', info.get('best_epoch'))} / {info.get('epochs')}",
                 f"{info['train_seconds']:.0f} s" if info.get("train_seconds") else "–"]
        if compared:
            ref = paper_result(zoo_name[0]) if zoo_name else None
            cells += (["–", "–"] if ref is None else
                      [f"{ref.top1:.2f}", f"{100 * r['top1'] - ref.top1:+.2f}"])
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


#: probe table name -> rows (label, directory holding test_report.json and
#: test_probe_report.json, written by reports/cifar10lt-if100/linear_probe.py)
PROBES = {
    "cifar10lt-if100-probe": [
        ("cross-entropy", "reports/cifar10lt-if100/probe/ce"),
        ("logit adjustment", "reports/cifar10lt-if100/probe/la"),
        ("BCCL", "reports/cifar10lt-if100/probe/bccl"),
        ("Reb-SupCon (printed omega), lr 0.02", "reports/cifar10lt-if100/probe/reb-printed"),
        ("Reb-SupCon (printed omega), lr 0.1", "reports/cifar10lt-if100/probe/reb-printed-lr0.1"),
        ("Reb-SupCon (printed omega), lr 0.1, classifier weight 3",
         "reports/cifar10lt-if100/probe/reb-printed-lr0.1-cw3"),
        ("Reb-SupCon (inverse omega), lr 0.02", "reports/cifar10lt-if100/probe/reb-inverse"),
        ("Reb-SupCon ablation: SupCon (MoCo) only", "reports/cifar10lt-if100/probe/reb-supcon-only"),
    ],
}


def render_probe(name):
    """Markdown table: each run's own classifier against a linear probe of its backbone."""
    lines = ["| run (30 epochs) | own top-1 | probe top-1 | probe - own | probe many | probe medium "
             "| probe L2 |", "|---|---|---|---|---|---|---|"]
    for label, rel in PROBES[name]:
        own_path, probe_path = ROOT / rel / "test_report.json", ROOT / rel / "test_probe_report.json"
        if not (own_path.exists() and probe_path.exists()):
            continue
        own, probe = json.loads(own_path.read_text()), json.loads(probe_path.read_text())
        lines.append(f"| {label} | {_pct(own['top1'])} | {_pct(probe['top1'])} | "
                     f"{100 * (probe['top1'] - own['top1']):+.2f} | {_pct(probe['many'])} | "
                     f"{_pct(probe['medium'])} | {probe['info']['probe']['l2']:g} |")
    return "\n".join(lines)


def _card_epochs(entry):
    """The number of epochs a published card's checkpoint was trained for (its metadata)."""
    meta = json.loads((entry.card_dir / "metadata.json").read_text())
    return meta.get("training", {}).get("epochs", "?")


def render_models():
    """The zoo: every published entry with its headline test numbers, then the entries that
    have a recipe but no checkpoint yet, by name."""
    from keras_lt.hub.registry import list_models

    lines = ["| model | dataset | epochs | top-1 | class-avg | many | medium | few |",
             "|---|---|---|---|---|---|---|---|"]
    waiting = []
    for e in list_models():
        if e.status != "published":
            waiting.append(f"`{e.name}`")
            continue
        m = e.metrics.get("test", {})
        nums = _card_cells(m)
        lines.append(f"| `{e.name}` | {e.dataset_title} | {_card_epochs(e)} | {nums} |")
    if waiting:
        lines += ["", f"Recipes without a checkpoint yet ({len(waiting)}; `keras_lt.list_models()` "
                      f"gives the command that trains each): {', '.join(waiting)}."]
    return "\n".join(lines)


def render_vs_paper(dataset="cifar10lt"):
    """Published checkpoints of one dataset against the paper's figure for the same setting
    (:mod:`keras_lt.hub.paper_results`), ours from each card's ``eval_results.json``."""
    from keras_lt.hub.paper_results import paper_result
    from keras_lt.hub.registry import list_models

    lines = ["| model | IF | epochs | top-1 | class-avg | many | medium | few | last-epoch top-1 "
             "| paper top-1 | gap | paper source |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    entries = [e for e in list_models(published_only=True) if e.dataset == dataset]
    entries.sort(key=lambda e: (-(e.imbalance_factor or 0), e.name))
    for e in entries:
        m = e.metrics.get("test", {})
        meta = json.loads((e.card_dir / "metadata.json").read_text())
        epochs = _card_epochs(e)
        nums = _card_cells(m)
        last = meta.get("training", {}).get("last_epoch_test")
        nums += " | " + ("not kept" if last is None else _pct(last["top1"]))
        ref = paper_result(e.name)
        if ref is None:
            paper = "not recorded | – | –"
        else:
            gap = "–" if m.get("top1") is None else f"{m['top1'] - ref.top1:+.2f}"
            paper = f"{ref.top1:.2f} | {gap} | {ref.source}"
        lines.append(f"| `{e.name}` | {e.imbalance_factor} | {epochs} | {nums} | {paper} |")
    return "\n".join(lines)


BLOCKS = [*TABLES, *PROBES, "zoo-models", "cifar10lt-vs-paper"]

#: the README figure drawn from the ``cifar10lt-by-if-e30`` table (top-1 against the
#: imbalance factor, ours and the papers'); its PNG carries the plotted numbers as text
BY_IF_TABLE = "cifar10lt-by-if-e30"
BY_IF_PLOT = "reports/cifar10lt_by_if.png"
#: method label in BY_IF_TABLE -> zoo recipe prefix (for the paper's figure)
BY_IF_METHODS = {"logit adjustment": "la", "BCCL": "bccl", "Reb-SupCon lr 0.1": "rebsupcon"}


def by_if_points():
    """``{"ours": {method: {IF: top-1 %}}, "paper": {...}}`` from the reports of
    :data:`BY_IF_TABLE` (rows labelled ``IF<n>: <method>``; untrained rows are left out) and
    :mod:`keras_lt.hub.paper_results`."""
    from keras_lt.hub.paper_results import paper_result

    ours, paper = {}, {}
    for label, rel in TABLES[BY_IF_TABLE]:
        head, method = label.split(": ", 1)
        imb = int(head.removeprefix("IF"))
        path = ROOT / rel / "test_report.json"
        if path.exists():
            top1 = json.loads(path.read_text())["top1"]
            ours.setdefault(method, {})[str(imb)] = round(100 * top1, 2)
        ref = paper_result(f"{BY_IF_METHODS[method]}-resnet32-cifar10lt-if{imb}")
        if ref is not None:
            paper.setdefault(method, {})[str(imb)] = ref.top1
    return {"ours": ours, "paper": paper}


def plot_by_if(points, path):
    """PNG: test top-1 against the imbalance factor, one colour per method; ours solid,
    the paper's 200-epoch figure dashed. The numbers go into the PNG's ``Description``."""
    import os

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    colours = dict(zip(BY_IF_METHODS, ("#1f77b4", "#2ca02c", "#d62728")))
    for method, colour in colours.items():
        for kind, style, suffix in (("ours", "-o", "ours, 30 CPU epochs"),
                                    ("paper", "--s", "paper, 200 epochs")):
            series = points[kind].get(method)
            if series:
                xs = sorted(int(k) for k in series)
                ax.plot(xs, [series[str(x)] for x in xs], style, color=colour,
                        label=f"{method} ({suffix})", alpha=1.0 if kind == "ours" else 0.6)
    ax.set_xscale("log")
    ax.set_xticks([10, 50, 100])
    ax.set_xticklabels(["10", "50", "100"])
    ax.invert_xaxis()                               # left to right: more imbalance
    ax.set_xlabel("imbalance factor")
    ax.set_ylabel("test top-1 (%)")
    ax.set_title("ResNet-32 on CIFAR-10-LT (real CIFAR-10, JPEG q75)", fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    tmp = Path(f"{path}.tmp-{os.getpid()}.png")
    fig.savefig(tmp, dpi=110, metadata={"Description": json.dumps(points, sort_keys=True)})
    plt.close(fig)
    tmp.replace(path)


def plot_is_current(points, path):
    """True when ``path`` exists and was drawn from exactly ``points``."""
    from PIL import Image

    if not Path(path).exists():
        return False
    with Image.open(path) as im:
        return im.text.get("Description") == json.dumps(points, sort_keys=True)


#: the documents that hold the blocks (each block in exactly one of them)
DOCUMENTS = ("README.md", "reports/README.md")


def blocks_in(text):
    """The names of :data:`BLOCKS` that ``text`` holds."""
    return [name for name in BLOCKS if f"<!-- results:{name} -->" in text]


def update(text, names=None):
    """``text`` with its results blocks (``names``, default all of :data:`BLOCKS`)
    regenerated."""
    for name in BLOCKS if names is None else names:
        start, end = f"<!-- results:{name} -->", f"<!-- /results:{name} -->"
        if start not in text or end not in text:
            raise SystemExit(f"no {start} ... {end} block")
        head, rest = text.split(start, 1)
        _, tail = rest.split(end, 1)
        body = (render_models() if name == "zoo-models" else
                render_vs_paper() if name == "cifar10lt-vs-paper" else
                render_probe(name) if name in PROBES else render(name))
        text = f"{head}{start}\n{body}\n{end}{tail}"
    return text


def main(argv=None):
    select_backend(None, announce=False)     # keras_lt imports Keras: the tools' rule
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--check", action="store_true", help="only check that the documents are current")
    p.add_argument("--doc", action="append", dest="docs", metavar="PATH",
                   help="a document holding results blocks (repeatable; default: "
                        f"{' and '.join(DOCUMENTS)}); together they must hold every block once")
    p.add_argument("--plot", default=str(ROOT / BY_IF_PLOT),
                   help="the README's top-1-by-imbalance-factor figure (PNG)")
    args = p.parse_args(argv)
    docs = [Path(d) for d in (args.docs or [ROOT / d for d in DOCUMENTS])]
    texts = {doc: doc.read_text() for doc in docs}
    held = {doc: blocks_in(text) for doc, text in texts.items()}
    for name in BLOCKS:
        where = [str(doc) for doc, names in held.items() if name in names]
        if len(where) != 1:
            raise SystemExit(f"results block {name!r} is in {len(where)} of the documents "
                             f"{[str(d) for d in docs]} ({where}); it must be in exactly one")
    new = {doc: update(text, held[doc]) for doc, text in texts.items()}
    points = by_if_points()
    if args.check:
        stale = False
        for doc in docs:
            if new[doc] != texts[doc]:
                print(f"{doc} results tables are stale; run tools/results_table.py",
                      file=sys.stderr)
                stale = True
        if not plot_is_current(points, args.plot):
            print(f"{args.plot} is stale; run tools/results_table.py", file=sys.stderr)
            stale = True
        return 1 if stale else 0
    for doc in docs:
        if new[doc] != texts[doc]:
            doc.write_text(new[doc])
    if not plot_is_current(points, args.plot):
        plot_by_if(points, args.plot)
    return 0


if __name__ == "__main__":
    sys.exit(main())
