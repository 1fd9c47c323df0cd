#!/usr/bin/env python
"""Convert an official BCCL/BCL PyTorch checkpoint into keras-lt weights.

Examples::

    python tools/convert_torch.py bccl_cifar10.pth --out weights/bccl-c10
    python tools/convert_torch.py state.npz --out weights/x --scale 30      # BCL scale
    python tools/convert_torch.py bcl_imagenet.pth.tar --out weights/bcl-in --overwrite

Input: ``.npz`` (keys = torch names; read without pickles), ``.safetensors``, or a
torch ``.pt``/``.pth``/``.tar`` file (``torch.load(weights_only=True)``, needs torch;
``state_dict``/``model`` wrappers and ``module.`` prefixes are removed).

Output directory (written atomically): ``backbone.weights.h5``, ``head.weights.h5``,
``classifier.weights.h5`` (+ ``head_fc.weights.h5`` for BCL) and ``config.json``
(arch, width, num_classes, feat_dim, classifier kind and scale). The architecture is
inferred from the state dict; ``--arch``/``--width`` override it. Load the result with
``keras_lt.hub.convert.load_converted(DIR)``.
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
    p.add_argument("--arch", help="backbone name (default: inferred)")
    p.add_argument("--width", type=int, help="CIFAR ResNet width multiplier (default: inferred)")
    p.add_argument("--scale", type=float, default=1.0 / 0.03,
                   help="cosine-classifier logit scale (default 1/0.03 as in BCCL; BCL uses 30)")
    p.add_argument("--input-size", type=int, help="input height/width (default 32 CIFAR, 224 ImageNet)")
    p.add_argument("--no-strict", action="store_true",
                   help="ignore state-dict keys that have no Keras counterpart")
    p.add_argument("--overwrite", action="store_true", help="replace files in a non-empty --out")
    p.add_argument("--backend", choices=BACKENDS, help="Keras backend (default: $KERAS_BACKEND)")
    return p.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    select_backend(args.backend)
    from keras_lt.hub.convert import ConversionError, convert_checkpoint

    overrides = {"arch": args.arch, "width": args.width, "classifier_scale": args.scale}
    if args.input_size:
        overrides["input_shape"] = [args.input_size, args.input_size, 3]
    try:
        config, report = convert_checkpoint(args.checkpoint, args.out, overrides,
                                            strict=not args.no_strict,
                                            overwrite=args.overwrite)
    except (ConversionError, FileExistsError, FileNotFoundError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(report)
    print(f"{config['arch']} (width {config['width']}), {config['num_classes']} classes, "
          f"classifier {config['classifier']} -> {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
