#!/usr/bin/env python
"""Own classifier vs. a balanced linear probe on the frozen backbone, for the
30-epoch CIFAR-10-LT IF100 runs (issue 4: why Reb-SupCon trails logit adjustment).

For every run directory given (``NAME=RUN_DIR``), runs ``tools/evaluate.py RUN_DIR
--linear-probe --out reports/cifar10lt-if100/probe/NAME`` (best checkpoint, test
split; the probe's L2 is chosen on the val split) and writes the comparison to
``reports/cifar10lt-if100/linear_probe.txt``.

    .venv/bin/python reports/cifar10lt-if100/linear_probe.py --backend torch \\
        la=runs/la-c10lt-if100-e30 bccl=runs/bccl-c10lt-if100-e30 ...

The run directories (with weights) are not in the repository; the published
checkpoints of the four cards are the ``best.weights.h5`` of the la, ce, bccl and
reb-printed runs.
"""

import argparse
import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(ROOT / "tools"))


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("runs", nargs="+", help="NAME=RUN_DIR")
    p.add_argument("--backend", default="torch")
    p.add_argument("--out", default=str(HERE / "linear_probe.txt"))
    p.add_argument("--reuse", action="store_true",
                   help="keep a run's probe report when reports/.../probe/NAME already has one")
    args = p.parse_args(argv)
    from _bootstrap import select_backend

    select_backend(args.backend)
    import evaluate

    rows = []
    for item in args.runs:
        name, _, run = item.partition("=")
        out = HERE / "probe" / name
        done = (out / "test_report.json").is_file() and (out / "test_probe_report.json").is_file()
        if not (args.reuse and done) and evaluate.main([run, "--linear-probe", "--out", str(out)]):
            return 1
        own = json.loads((out / "test_report.json").read_text())
        probe = json.loads((out / "test_probe_report.json").read_text())
        rows.append((name, own, probe))

    def pct(v):
        return "   -  " if v is None else f"{100 * v:6.2f}"

    lines = ["# CIFAR-10-LT IF100 test split (10,000 images), best checkpoint of each 30-epoch run.",
             "# own = the model's trained classifier; probe = a logit-adjusted linear classifier fitted",
             "# by L-BFGS on the frozen backbone features of the train split (eval view, no augmentation),",
             "# L2 chosen on the val split. Written by reports/cifar10lt-if100/linear_probe.py.",
             f"{'run':<18}{'own top-1':>10}{'probe top-1':>12}{'probe-own':>10}"
             f"{'own many':>10}{'own med':>9}{'probe many':>11}{'probe med':>10}{'probe l2':>10}"]
    for name, own, probe in rows:
        lines.append(f"{name:<18}{pct(own['top1']):>10}{pct(probe['top1']):>12}"
                     f"{100 * (probe['top1'] - own['top1']):>+10.2f}"
                     f"{pct(own['many']):>10}{pct(own['medium']):>9}{pct(probe['many']):>11}"
                     f"{pct(probe['medium']):>10}{probe['info']['probe']['l2']:>10g}")
    Path(args.out).write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
