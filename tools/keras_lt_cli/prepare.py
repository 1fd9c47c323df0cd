#!/usr/bin/env python
"""Prepare an image-classification dataset (optionally long-tailed) for keras_lt.

Writes the memory-mappable prepared format read by keras_lt.data.PreparedDataset.

    # CIFAR-10-LT (IF 100) from the official tarball (or --download when online)
    python tools/prepare_data.py --source cifar10 --input cifar-10-python.tar.gz \\
        --imbalance-factor 100 --output data_cache/cifar10-lt-if100
    # an <root>/<split>/<class>/<image> tree, as a directory or .tar.gz
    python tools/prepare_data.py --source imagefolder --input cifar-10-images-jpg.tar.gz \\
        --imbalance-factor 100 --output data_cache/cifar10-lt-if100
    # ImageNet-LT / iNaturalist 2018 / Places-LT split files
    python tools/prepare_data.py --source splitfile --image-root /data/imagenet \\
        --train-list ImageNet_LT_train.txt --val-list ImageNet_LT_val.txt \\
        --test-list ImageNet_LT_test.txt --class-names classnames.txt --output data_cache/imagenet-lt
    # the offline demo (scikit-learn digits, IF 20)
    python tools/prepare_data.py --source digits --output data_cache/digits-lt

Exit status 2 with a one-line message on bad input (no partial output is left).
"""

import argparse
import os
import shlex
import sys

from keras_lt_cli.bootstrap import select_backend

select_backend(None, announce=False)   # importing keras_lt loads Keras: the tools' backend rule
from keras_lt.data.prepare import SOURCES, DataPreparationError, prepare_dataset  # noqa: E402


def _if(value):
    if value == "default":
        return value
    if value.lower() in ("none", "0", "1"):
        return None
    try:
        v = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {value!r}")
    if v < 1:
        raise argparse.ArgumentTypeError("the imbalance factor must be >= 1")
    return v


def _positive_int(value):
    try:
        v = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {value!r}")
    if v < 1:
        raise argparse.ArgumentTypeError("must be >= 1")
    return v


def _text(path):
    """A path as printable text (bytes that are not UTF-8 shown as \\xNN)."""
    return os.fsencode(str(path)).decode("utf-8", "backslashreplace")


def build_parser():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                epilog="\n\n".join(__doc__.split("\n\n")[1:]),
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--source", required=True, choices=SOURCES)
    p.add_argument("--output", required=True, help="directory to create")
    p.add_argument("--input", help="cifar tarball, imagefolder directory / .tar[.gz], or hf "
                                   "saved dataset / data directory")
    p.add_argument("--name", help="dataset name in meta.json (default: the output folder name)")
    p.add_argument("--imbalance-factor", type=_if, default="default", metavar="IF",
                   help="long-tailed subsampling n_max/n_min (default: keep all; 20 for digits; "
                        "'none' keeps all)")
    p.add_argument("--seed", type=int, default=0, help="seed of the LT selection (published: 0) "
                                                       "and of the val draw")
    p.add_argument("--n-max", type=int, help="head-class size (default: smallest class of the pool)")
    p.add_argument("--val-per-class", type=int, metavar="N",
                   help="balanced val hold-out per class from the images not selected for train "
                        "(default 20; 10 for digits; 0 for splitfile). Ignored when the source "
                        "has an official val split")
    p.add_argument("--val-fill-from-train", action="store_true",
                   help="top up val classes lacking unselected images with train images "
                        "(val then overlaps train for those classes)")
    p.add_argument("--storage", choices=("auto", "raw", "encoded"), default="auto",
                   help="raw uint8 arrays (same-size images) or the encoded source bytes")
    p.add_argument("--skip-bad", action="store_true",
                   help="skip unreadable images / bad list lines; list them in skipped.json")
    p.add_argument("--max-pixels", type=_positive_int, metavar="N",
                   help="refuse images larger than N pixels (width x height), checked before "
                        "decoding; with --skip-bad they are skipped")
    p.add_argument("--overwrite", action="store_true", help="replace an existing output")
    p.add_argument("--no-progress", action="store_true")
    g = p.add_argument_group("cifar10 / cifar100")
    g.add_argument("--download", action="store_true", help="fetch the official tarball when online")
    g.add_argument("--cache-dir", help="download cache (default $KERAS_LT_CACHE or ~/.cache/keras_lt)")
    g.add_argument("--md5", help="expected MD5 of the tarball (default: the official one)")
    g = p.add_argument_group("imagefolder")
    g.add_argument("--train-split", default="train")
    g.add_argument("--test-split", default="test")
    g.add_argument("--val-split", default="val", help="official val folder, used when present")
    g.add_argument("--follow-symlinks", action="store_true",
                   help="read files and folders that are symbolic links to places outside the "
                        "input directory (refused by default)")
    g = p.add_argument_group("splitfile (ImageNet-LT, iNaturalist 2018, Places-LT)")
    g.add_argument("--train-list")
    g.add_argument("--val-list")
    g.add_argument("--test-list")
    g.add_argument("--image-root", help="folder the list paths are relative to")
    g.add_argument("--class-names", help="'<wnid> <name>' lines or one name per line")
    g = p.add_argument_group("hf (Hugging Face datasets)")
    g.add_argument("--hf-name", help="hub dataset name (online)")
    g.add_argument("--hf-config")
    g.add_argument("--hf-image-column", help="default: img / image / the first Image column")
    g.add_argument("--hf-label-column", help="default: label / fine_label / the first ClassLabel")
    return p


def main(argv=None):
    args = build_parser().parse_args(argv)
    command = " ".join(shlex.quote(a) for a in ["tools/prepare_data.py",
                                                 *(sys.argv[1:] if argv is None else argv)])
    try:
        ds = prepare_dataset(
            args.source, args.output, input=args.input, name=args.name,
            imbalance_factor=args.imbalance_factor, seed=args.seed,
            val_per_class=args.val_per_class, val_fill_from_train=args.val_fill_from_train,
            n_max=args.n_max, skip_bad=args.skip_bad, overwrite=args.overwrite,
            storage=args.storage, download=args.download, cache_dir=args.cache_dir,
            expected_md5=args.md5, train_split=args.train_split, test_split=args.test_split,
            val_split=args.val_split, train_list=args.train_list, val_list=args.val_list,
            test_list=args.test_list, image_root=args.image_root, class_names=args.class_names,
            hf_name=args.hf_name, hf_config=args.hf_config, hf_image_column=args.hf_image_column,
            hf_label_column=args.hf_label_column, progress=not args.no_progress, command=command,
            max_pixels=args.max_pixels, follow_symlinks=args.follow_symlinks)
    except (DataPreparationError, OSError) as e:
        print(f"error: {_text(' '.join(str(e).splitlines()))}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted; no output written", file=sys.stderr)
        return 130
    m = ds.meta
    print(f"wrote {_text(ds.path)}: {ds.num_classes} classes, storage {m['storage']}, image size "
          f"{m['image_size']}")
    for s in ds.splits:
        print(f"  {s:<5} {m['splits'][s]['count']:>7} images")
    print(f"  train counts: {ds.train_counts.tolist()}" if ds.num_classes <= 20 else
          f"  train counts: max {ds.train_counts.max()}, min {ds.train_counts.min()}")
    print(f"  mean {ds.mean}  std {ds.std}")
    if m["val"].get("shortfall"):
        print(f"  val shortfall (classes with fewer than the requested images): "
              f"{m['val']['shortfall']}")
    if ds.skipped:
        print(f"  skipped {len(ds.skipped)} bad item(s); see {_text(ds.path / 'skipped.json')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
