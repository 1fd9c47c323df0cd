#!/usr/bin/env python
r"""Convert an official BCCL/BCL PyTorch checkpoint into a keras-lt zoo folder.

Examples::

    # an official release -> pretrained folder with a generated card (evaluated on the
    # test split of a prepared dataset; the card's numbers come from that evaluation)
    python tools/convert_torch.py bccl_cifar10_if100.pth --recipe bccl-resnet32-cifar10lt-if100 \
        --data data_cache/cifar10-lt-if100 --out zoo/bccl-resnet32-cifar10lt-if100-official \
        --source-url https://example.org/where/it/came/from

    # ImageNet-LT: classes and counts from the split file (no images needed)
    python tools/convert_torch.py bccl_imagenetlt_r50.pth --recipe bccl-resnet50-imagenetlt \
        --train-list ImageNet_LT_train.txt --class-names classnames.txt \
        --set bccl.feat_dim=2048 --out zoo/bccl-resnet50-imagenetlt-official

    # only the raw parts (backbone/head/classifier .weights.h5 + config.json)
    python tools/convert_torch.py state.npz --parts-only --out weights/x --scale 30

Input: ``.npz`` (keys = torch names; read without pickles), ``.safetensors``, or a
torch ``.pt``/``.pth``/``.tar`` file (``torch.load(weights_only=True)``: nothing in the
file is executed, and a file holding more than tensors is refused; ``state_dict``/
``model`` wrappers and ``module.`` prefixes are removed).

With ``--recipe`` the output is a pretrained folder (``config.json``,
``model.safetensors``, ``training.weights.h5``, ``metadata.json``, ``README.md`` card
crediting the release and its sha256, ``eval_results.json`` with ``--data``) that
``keras_lt.from_pretrained(DIR)`` loads on every backend. The recipe supplies the
preprocessing and must match the checkpoint's architecture. With ``--parts-only`` the
output is ``backbone.weights.h5``, ``head.weights.h5``, ``classifier.weights.h5``
(+ ``head_fc.weights.h5`` for BCL) and ``config.json``, read by
``keras_lt.hub.convert.load_converted(DIR)``. Both are written atomically.
"""

import argparse
import sys

from _bootstrap import BACKENDS, select_backend


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog=__doc__)
    p.add_argument("checkpoint", help=".npz, .safetensors, .pt, .pth or .tar state dict")
    p.add_argument("--out", required=True, help="output directory")
    p.add_argument("--recipe", help="zoo recipe name or YAML: write a pretrained folder")
    p.add_argument("--parts-only", action="store_true",
                   help="write the raw backbone/head/classifier weights instead (no recipe)")
    p.add_argument("--data", help="prepared dataset: classes, counts and the split evaluated")
    p.add_argument("--split", default="test", help="split of --data to evaluate (default test)")
    p.add_argument("--train-list", help="training split file (<path> <label> lines): class counts")
    p.add_argument("--class-names", help="class names file for --train-list")
    p.add_argument("--source-url", help="where the release came from (credited on the card)")
    p.add_argument("--source-method", choices=["bccl", "bcl"],
                   help="whose release it is (default: bcl if it has head_fc, else the recipe's)")
    p.add_argument("--name", help="model name in the folder (default <recipe>-official)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="recipe override, e.g. bccl.feat_dim=2048 (repeatable)")
    p.add_argument("--arch", help="backbone name (default: inferred)")
    p.add_argument("--width", type=int, help="CIFAR ResNet width multiplier (default: inferred)")
    p.add_argument("--scale", type=float, default=1.0 / 0.03,
                   help="--parts-only: cosine-classifier logit scale (default 1/0.03 as in BCCL; "
                        "BCL uses 30); with --recipe the recipe's")
    p.add_argument("--input-size", type=int, help="input height/width (default 32 CIFAR, 224 ImageNet)")
    p.add_argument("--no-strict", action="store_true",
                   help="ignore state-dict keys that have no Keras counterpart")
    p.add_argument("--overwrite", action="store_true", help="replace files in a non-empty --out")
    p.add_argument("--backend", choices=BACKENDS,
                   help="Keras backend (default: $KERAS_BACKEND, else torch if installed)")
    return p.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    if bool(args.recipe) == bool(args.parts_only):
        print("error: pass --recipe NAME (a zoo folder) or --parts-only (raw weights)",
              file=sys.stderr)
        return 2
    select_backend(args.backend)
    from keras_lt.data.dataset import DatasetError
    from keras_lt.data.prepare import DataPreparationError
    from keras_lt.hub.convert import ConversionError, convert_checkpoint
    from keras_lt.hub.official import convert_official
    from keras_lt.hub.registry import UnknownModelError

    errors = (ConversionError, FileExistsError, FileNotFoundError, UnknownModelError,
              DatasetError, DataPreparationError)
    if args.recipe:
        try:
            out, summary = convert_official(
                args.checkpoint, args.out, args.recipe, data=args.data, train_list=args.train_list,
                class_names_file=args.class_names, source_url=args.source_url,
                source_method=args.source_method, name=args.name, split=args.split,
                strict=not args.no_strict, overwrite=args.overwrite, overrides=args.overrides)
        except (*errors, ValueError) as e:
            print(f"error: {e}", file=sys.stderr)
            return 2
        print(f"assigned {summary['assigned']} tensors, ignored {summary['ignored']}; "
              f"classifier: {summary['classifier_layout']}")
        m = summary["metrics"]
        if m is not None:
            print(f"{args.split}: top-1 {100 * m['top1']:.2f}, class-average "
                  f"{100 * m['class_avg']:.2f} ({m['num_samples']} images)")
        print(f"-> {out} (load with keras_lt.from_pretrained({str(out)!r}))")
        return 0
    overrides = {"arch": args.arch, "width": args.width, "classifier_scale": args.scale}
    if args.input_size:
        overrides["input_shape"] = [args.input_size, args.input_size, 3]
    try:
        config, report = convert_checkpoint(args.checkpoint, args.out, overrides,
                                            strict=not args.no_strict,
                                            overwrite=args.overwrite)
    except errors as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(report)
    print(f"{config['arch']} (width {config['width']}), {config['num_classes']} classes, "
          f"classifier {config['classifier']} -> {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
