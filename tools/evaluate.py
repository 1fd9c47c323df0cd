#!/usr/bin/env python
"""Evaluate a checkpoint on a prepared split and write the long-tailed report.

Examples::

    python tools/evaluate.py runs/la-c10                       # best checkpoint, test split
    python tools/evaluate.py runs/la-c10 --weights last --split val --out reports/la-val

Writes ``<split>_report.json``, ``<split>_report_per_class.csv``,
``<split>_report_confusion.csv`` and ``<split>_report_per_class.png`` (per-class
accuracy against training count) into ``--out`` (default: the run directory)
and prints top-1, class-average and many/medium/few-shot accuracy.
"""

import argparse
import sys
from pathlib import Path

from _bootstrap import BACKENDS, select_backend


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    p.add_argument("checkpoint", help="a run directory written by tools/train.py")
    p.add_argument("--weights", default="best", help="best, last, or a path to a .weights.h5 file")
    p.add_argument("--split", default="test", help="split of the prepared dataset (default test)")
    p.add_argument("--data", help="prepared dataset to evaluate on (default: the run's)")
    p.add_argument("--out", help="report directory (default: the run directory)")
    p.add_argument("--batch-size", type=int, default=None)
    p.add_argument("--grad-norms", action="store_true",
                   help="also plot per-class classifier-weight gradient norms on the train split "
                        "(grad_norms.png; Reb-SupCon Fig. 2)")
    p.add_argument("--tsne", action="store_true",
                   help="also plot a t-SNE of the split's features for 10 classes spread over "
                        "head/medium/tail (<split>_tsne.png; Reb-SupCon Fig. 5)")
    p.add_argument("--backend", choices=BACKENDS, help="Keras backend (default: $KERAS_BACKEND)")
    return p.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    select_backend(args.backend)
    from keras_lt.eval.runner import EvaluationError, evaluate_checkpoint

    try:
        evaluate_checkpoint(args.checkpoint, weights=args.weights, split=args.split, data=args.data,
                            out_dir=args.out, batch_size=args.batch_size,
                            grad_norms=args.grad_norms, tsne=args.tsne)
    except EvaluationError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
