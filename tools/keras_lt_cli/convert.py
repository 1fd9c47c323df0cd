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

Input: ``.npz`` (keys = torch names; read without pickles), ``.safetensors``, or a
torch ``.pt``/``.pth``/``.tar`` file (``torch.load(weights_only=True)``: nothing in the
file is executed, and a file holding more than tensors is refused; ``state_dict``/
``model`` wrappers and ``module.`` prefixes are removed).

The output is a pretrained folder (``config.json``, ``model.safetensors``,
``training.weights.h5``, ``metadata.json``, ``README.md`` card crediting the release and its
sha256, ``eval_results.json`` with ``--data``), written atomically, that
``keras_lt.from_pretrained(DIR)`` loads on every backend. The recipe supplies the
preprocessing and must match the checkpoint's architecture.
"""

import argparse
import sys

from keras_lt_cli.bootstrap import BACKENDS, select_backend


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog=__doc__)
    p.add_argument("checkpoint", help=".npz, .safetensors, .pt, .pth or .tar state dict")
    p.add_argument("--out", required=True, help="output directory")
    p.add_argument("--recipe", required=True, help="zoo recipe name or YAML (architecture, "
                   "preprocessing, method settings)")
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
    p.add_argument("--no-strict", action="store_true",
                   help="ignore state-dict keys that have no Keras counterpart")
    p.add_argument("--overwrite", action="store_true", help="replace files in a non-empty --out")
    p.add_argument("--backend", choices=BACKENDS,
                   help="Keras backend (default: $KERAS_BACKEND, else torch if installed)")
    return p.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    select_backend(args.backend)
    from keras_lt.data.dataset import DatasetError
    from keras_lt.data.prepare import DataPreparationError
    from keras_lt.hub.convert import ConversionError
    from keras_lt.hub.official import convert_official
    from keras_lt.hub.registry import UnknownModelError

    errors = (ConversionError, FileExistsError, FileNotFoundError, UnknownModelError,
              DatasetError, DataPreparationError, ValueError)
    try:
        out, summary = convert_official(
            args.checkpoint, args.out, args.recipe, data=args.data, train_list=args.train_list,
            class_names_file=args.class_names, source_url=args.source_url,
            source_method=args.source_method, name=args.name, split=args.split,
            strict=not args.no_strict, overwrite=args.overwrite, overrides=args.overrides)
    except errors as e:
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


if __name__ == "__main__":
    sys.exit(main())
