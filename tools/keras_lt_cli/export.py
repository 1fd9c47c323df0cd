#!/usr/bin/env python
"""Export a finished training run as a pretrained folder with a generated model card.

Examples::

    python tools/export.py runs/la-resnet32-cifar10lt-if100 --out model_cards/la-resnet32-cifar10lt-if100
    python tools/export.py runs/my-ft --out exported/my-ft --weights last --overwrite
    python tools/export.py --refresh-card model_cards/*    # regenerate cards only
    python tools/export.py --refresh-card model_cards/X --note "lr scaled to 30 epochs"
    python tools/export.py --migrate old-folder   # a folder of the first keras-lt format

The folder is Keras' directory format (``config.json``, ``metadata.json``,
``model.weights.h5``: ``keras.saving.load_model`` reads it) plus ``model.safetensors``, for
BCCL / Reb-SupCon ``training.weights.h5``, ``eval_results.json`` and ``README.md``: exactly
what ``tools/publish.py`` uploads and what ``keras_lt.from_pretrained`` loads. It is written
to a temporary folder and renamed at the end.
"""

import argparse
import sys

from keras_lt_cli.bootstrap import BACKENDS, BackendError, select_backend


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    p.add_argument("run_dir", nargs="?", help="a finished run directory written by tools/train.py")
    p.add_argument("--out", help="output folder (model_cards/<name> for zoo entries)")
    p.add_argument("--refresh-card", nargs="+", metavar="FOLDER",
                   help="only regenerate README.md of these pretrained folders from their own "
                        "config, metadata and eval_results.json (weights untouched)")
    p.add_argument("--migrate", nargs="+", metavar="FOLDER",
                   help="rewrite folders of the first keras-lt format (their own config.json "
                        "beside model.safetensors) in the current format, in place")
    p.add_argument("--weights", default="best", help="best (default), last or a .weights.h5 path")
    p.add_argument("--base-model", help="the pretrained model this run was fine-tuned from")
    p.add_argument("--note", help="why the run departs from its zoo recipe (metadata.json "
                                  "training.note, shown on the card); also with --refresh-card")
    p.add_argument("--overwrite", action="store_true", help="replace an existing --out folder")
    p.add_argument("--backend", choices=BACKENDS,
                   help="Keras backend (default: $KERAS_BACKEND, else the first installed of "
                        "torch, tensorflow, jax)")
    args = p.parse_args(argv)
    if args.refresh_card and args.migrate:
        p.error("--refresh-card and --migrate are separate runs")
    if (args.refresh_card or args.migrate) and (args.run_dir or args.out):
        p.error("--refresh-card and --migrate take folders only, not a run directory or --out")
    if not (args.refresh_card or args.migrate) and not (args.run_dir and args.out):
        p.error("give a run directory and --out (or --refresh-card FOLDER ...)")
    return args


def main(argv=None):
    args = parse_args(argv)
    try:
        # any keras-lt import loads Keras; --refresh-card reads JSON only, so it says nothing
        select_backend(args.backend, announce=not args.refresh_card)
    except BackendError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.refresh_card:
        from keras_lt.hub.pretrained import PretrainedError, refresh_card

        try:
            for folder in args.refresh_card:
                changed = refresh_card(folder, note=args.note)
                print(f"{folder}: {'rewritten' if changed else 'unchanged'}")
        except PretrainedError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        return 0
    if args.migrate:
        from keras_lt.hub.pretrained import PretrainedError, migrate_folder

        try:
            for folder in args.migrate:
                print(f"{folder}: {'migrated' if migrate_folder(folder) else 'already current'}")
        except (PretrainedError, OSError) as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        return 0
    from keras_lt.hub.export import export_run
    from keras_lt.hub.pretrained import PretrainedError

    try:
        out = export_run(args.run_dir, args.out, weights=args.weights, overwrite=args.overwrite,
                         base_model=args.base_model, note=args.note)
    except (PretrainedError, FileExistsError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
