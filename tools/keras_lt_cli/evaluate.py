#!/usr/bin/env python
"""Evaluate a checkpoint on a prepared split and write the long-tailed report.

Examples::

    python tools/evaluate.py runs/la-c10                       # best checkpoint, test split
    python tools/evaluate.py runs/la-c10 --weights last --split val --out reports/la-val
    # a pretrained model (zoo name, Hub id or folder) against its card's numbers
    python tools/evaluate.py la-resnet32-cifar10lt-if100 --data data_cache/cifar10-lt-if100 --check-card

Writes ``<split>_report.json``, ``<split>_report_per_class.csv``,
``<split>_report_confusion.csv`` and ``<split>_report_per_class.png`` (per-class
accuracy against training count) into ``--out`` (default: the run directory)
and prints top-1, class-average and many/medium/few-shot accuracy.

Images of another size than the model's input are resized to it (one note says
so); an empty or missing split, or images with another number of channels, end
in one ``error:`` line on stderr and exit code 2.
"""

import argparse
import sys
from pathlib import Path

from keras_lt_cli.bootstrap import BACKENDS, BackendError, select_backend


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    p.add_argument("checkpoint", help="a run directory written by tools/train.py, or a pretrained "
                                      "model: zoo name, Hub repository id or folder")
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
    p.add_argument("--linear-probe", action="store_true",
                   help="also fit a balanced (logit-adjusted) linear classifier on the frozen "
                        "backbone features of the train split, L2 chosen on val, and report the "
                        "split (<split>_probe_report.json): separates feature quality from the "
                        "model's own classifier")
    p.add_argument("--check-card", action="store_true",
                   help="pretrained models: exit 1 unless top-1 is within --tolerance points of "
                        "the card's (eval_results.json)")
    p.add_argument("--tolerance", type=float, default=0.05, help="points (default 0.05)")
    p.add_argument("--backend", choices=BACKENDS,
                   help="Keras backend (default: $KERAS_BACKEND, else the first installed of "
                        "torch, tensorflow, jax)")
    return p.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    try:
        select_backend(args.backend)
    except BackendError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    from keras_lt.data.dataset import DatasetError
    from keras_lt.eval.runner import EvaluationError, evaluate_checkpoint

    path = Path(args.checkpoint)
    if path.is_dir() and not (path / "config.yaml").is_file() and not (path / "config.json").is_file():
        print(f"error: {path} is not a run directory (no config.yaml) nor a pretrained folder "
              f"(no config.json)", file=sys.stderr)
        return 2
    if not (path / "config.yaml").is_file():
        return evaluate_pretrained_main(args)
    try:
        evaluate_checkpoint(args.checkpoint, weights=args.weights, split=args.split, data=args.data,
                            out_dir=args.out, batch_size=args.batch_size,
                            grad_norms=args.grad_norms, tsne=args.tsne,
                            linear_probe=args.linear_probe)
    except (EvaluationError, DatasetError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


def evaluate_pretrained_main(args):
    from keras_lt.data.dataset import DatasetError
    from keras_lt.eval.runner import EvaluationError
    from keras_lt.hub.evaluate import evaluate_pretrained
    from keras_lt.hub.pretrained import PretrainedError, UnknownModelError

    if not args.data:
        print("error: a pretrained model needs --data <prepared dataset>", file=sys.stderr)
        return 2
    run_only = [flag for flag, on in (("--grad-norms", args.grad_norms), ("--tsne", args.tsne),
                                      ("--linear-probe", args.linear_probe)) if on]
    if run_only:
        print(f"error: {', '.join(run_only)} need a run directory written by tools/train.py; "
              f"{args.checkpoint} is a pretrained model", file=sys.stderr)
        return 2
    try:
        metrics, card = evaluate_pretrained(args.checkpoint, args.data, args.split, args.out,
                                            args.batch_size or 256)
    except (EvaluationError, DatasetError, PretrainedError, UnknownModelError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if card is None:
        print(f"the model's card has no {args.split} numbers to compare with")
        return 1 if args.check_card else 0
    diff = 100 * (metrics["top1"] - card["top1"])
    ok = abs(diff) <= args.tolerance + 1e-9
    print(f"card top-1 {100 * card['top1']:.2f}, measured {100 * metrics['top1']:.2f} "
          f"({diff:+.2f} points): {'reproduced' if ok else 'NOT reproduced'} "
          f"(tolerance {args.tolerance})")
    return 0 if ok or not args.check_card else 1


if __name__ == "__main__":
    sys.exit(main())
