#!/usr/bin/env python
"""Train a recipe from ``zoo_configs/`` on a prepared dataset.

Examples::

    python tools/train.py --config zoo_configs/la-resnet32-cifar10lt-if100.yaml \\
        --set data.prepared=data_cache/cifar10-lt-if100 --set optim.epochs=30 \\
        --run-dir runs/la-c10 --backend torch
    python tools/train.py --run-dir runs/la-c10 --resume      # continue exactly where it stopped
    # a long run in chunks whose resume point lands with the repository (another machine
    # continues it with --resume-from reports/la-c10/resume --run-dir runs/la-c10)
    python tools/train.py --config zoo_configs/la-resnet32-cifar10lt-if100.yaml \\
        --run-dir runs/la-c10 --mirror reports/la-c10/resume --stop-after 20
    # a timing run: the first 15 steps, then seconds-to-first-step, images/s and peak RSS
    python tools/train.py --config zoo_configs/bccl-resnet32-cifar10lt-if100.yaml \\
        --max-steps 15 --run-dir /tmp/timing-bccl --backend torch
    # fine-tune a zoo model on your own prepared long-tailed dataset
    python tools/train.py --init la-resnet32-cifar10lt-if100 --data data_cache/my-lt \\
        --set optim.epochs=10 --freeze-backbone-epochs 2 --run-dir runs/my-ft

Overrides are ``key.sub=value`` (value parsed as YAML); numeric settings are checked
(e.g. ``optim.lr`` > 0, ``optim.epochs`` >= 1) before anything is written. A training
split smaller than ``optim.batch_size`` trains with the largest power of two that fits
(a note says so; choose another with ``--set optim.batch_size=N``), recorded in the run's
``config.yaml``. The backend is ``--backend``, else ``$KERAS_BACKEND``, else the first
installed of torch, tensorflow, jax; the first line printed names it. ``--verbose auto``
draws progress bars on a terminal and one line per epoch otherwise (a log file). A start
that fails (bad recipe, missing data, unwritable directory) leaves no run directory behind.

A run directory gets ``checkpoint/`` (the resume point, committed atomically every epoch),
``config.yaml``, ``last/best.weights.h5``, ``state.json``, ``log.csv`` and the final
``test_report.{json,_per_class.csv,_confusion.csv,_per_class.png}``.
"""

import time

STARTED = time.perf_counter()    # before the heavy imports: timing runs count from here

import argparse  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

from keras_lt_cli.bootstrap import BACKENDS, BackendError, select_backend  # noqa: E402


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    p.add_argument("--config", help="recipe YAML (not needed with --resume)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a recipe key, e.g. optim.epochs=30 (repeatable)")
    p.add_argument("--init", metavar="MODEL",
                   help="fine-tune: start from this pretrained model (zoo name, Hub id or folder); "
                        "its recipe is used unless --config is given")
    p.add_argument("--data", metavar="DIR", help="prepared dataset (sets data.prepared)")
    p.add_argument("--freeze-backbone-epochs", type=int, metavar="N",
                   help="fine-tune: train only the classifier/heads for the first N epochs")
    p.add_argument("--run-dir", required=True, help="directory for checkpoints, logs and reports")
    p.add_argument("--resume", action="store_true",
                   help="continue the run in --run-dir from its last checkpoint")
    p.add_argument("--resume-from", metavar="DIR",
                   help="continue from a copied checkpoint folder (e.g. one kept by --mirror) "
                        "into a new --run-dir; its config.yaml is used unless --config is given")
    p.add_argument("--mirror", metavar="DIR",
                   help="after every epoch, also keep a complete copy of the checkpoint here "
                        "(replaced, not accumulated: at most two weights files)")
    p.add_argument("--stop-after", type=int, metavar="N",
                   help="train at most N epochs in this call, then stop with everything "
                        "checkpointed (continue later with --resume)")
    p.add_argument("--max-steps", type=int, metavar="N",
                   help="timing run: train the first N steps (at most one epoch) of a new run, "
                        "print and write timing.json (seconds to the first step, images/s, "
                        "peak RSS), no checkpoint or report")
    p.add_argument("--backend", choices=BACKENDS,
                   help="Keras backend (default: $KERAS_BACKEND, else the first installed of "
                        "torch, tensorflow, jax)")
    p.add_argument("--verbose", default="auto", choices=["auto", "0", "1", "2"],
                   help="Keras fit verbosity: auto (1 on a terminal, else 2), 0, 1 or 2")
    return p.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    try:
        select_backend(args.backend)
    except BackendError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    from keras_lt.config import ConfigError, load_config
    from keras_lt.train.loop import TrainingError, train

    run_dir = Path(args.run_dir)
    config = args.config
    if args.resume_from and config is None:
        config = Path(args.resume_from) / "config.yaml"
        if not config.exists():
            print(f"error: cannot resume: {config} does not exist", file=sys.stderr)
            return 2
    if args.resume and config is None:
        config = run_dir / "config.yaml"
        if not config.exists():
            print(f"error: cannot resume: {config} does not exist", file=sys.stderr)
            return 2
    if config is None and not args.init:
        print("error: --config is required (or --init a pretrained model, or --resume an "
              "existing --run-dir)", file=sys.stderr)
        return 2
    try:
        if args.init and not (args.resume or args.resume_from):
            from keras_lt.train.finetune import finetune_config
            from keras_lt.hub.pretrained import PretrainedError, UnknownModelError

            overrides = list(args.overrides)
            if args.freeze_backbone_epochs is not None:
                overrides.append(f"finetune.freeze_backbone_epochs={args.freeze_backbone_epochs}")
            try:
                cfg = finetune_config(args.init, args.data, config, overrides)
            except (PretrainedError, UnknownModelError) as exc:
                raise TrainingError(f"cannot fine-tune: {exc}") from None
        else:
            overrides = list(args.overrides)
            if args.data:
                overrides.append(f"data.prepared={args.data}")
            cfg = load_config(config, overrides)
            if args.freeze_backbone_epochs is not None:
                cfg["finetune"]["freeze_backbone_epochs"] = args.freeze_backbone_epochs
        verbose = args.verbose if args.verbose == "auto" else int(args.verbose)
        train(cfg, run_dir, resume=args.resume, verbose=verbose, stop_after=args.stop_after,
              max_steps=args.max_steps, started=STARTED, resume_from=args.resume_from,
              mirror=args.mirror)
    except (ConfigError, TrainingError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
