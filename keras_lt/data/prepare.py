"""Convert an image-classification source into the prepared format (see
:mod:`keras_lt.data.dataset`), optionally with the standard long-tailed
subsampling and a balanced validation hold-out.

Sources (``source=``):

``cifar10`` / ``cifar100``
    The official python tarballs ``cifar-10-python.tar.gz`` /
    ``cifar-100-python.tar.gz`` (``input=`` path, or ``download=True``). The MD5
    is verified before anything in the archive is unpickled; members are read
    from the tar without extracting it, and unpickled by an unpickler that
    admits only containers and numpy arrays (any other global is refused).
``imagefolder``
    ``<root>/<split>/<class>/<image>`` as a directory or a ``.tar``/``.tar.gz``
    archive (read without extraction; a single top-level directory is skipped).
    Class names are the sorted class folders of the train split (names that are
    not valid UTF-8 are refused); images of a class are sorted by file name.
    Symbolic links to files or folders outside the tree are refused unless
    ``follow_symlinks=True``.
``splitfile``
    ImageNet-LT / iNaturalist-2018 / Places-LT style list files
    (``<relative path> <integer label>`` lines) plus an image root.
``hf``
    A Hugging Face ``datasets`` dataset: ``load_from_disk`` directory, local
    parquet / image-folder files, or a hub name when online.
``digits``
    scikit-learn's bundled 8x8 digits (offline demo), upsampled to 16x16 RGB.

Long-tailed subsampling (``imbalance_factor=IF``) is
:func:`keras_lt.data.longtail.select_longtail` (Cao et al. 2019) applied to the
train pool with ``n_max`` = the smallest class of the pool (for the balanced
CIFAR train sets this is 5000 / 500, as in the published code).

Validation split: the source's own val split when it has one. Otherwise
``val_per_class`` images per class drawn with ``np.random.default_rng(seed)``
from the train-pool images *not* selected by the long-tailed subsampling (so
the train split is exactly the published subset); a class with too few such
images gives what it has (recorded in ``meta.json`` under ``val.shortfall``)
unless ``val_fill_from_train=True``, which tops it up with (overlapping)
selected train images. Without subsampling, the val images are held out of the
train pool instead.

Images are decoded by :func:`keras_lt.data.decode.decode_image` (16-bit images
scaled to 8 bits, grayscale expanded to RGB; ``max_pixels`` refuses larger
images). ``mean`` / ``std`` are over the stored train images, every image
weighing the same whatever its size.

Everything is written to ``<output>.tmp-<pid>`` and moved into place with
``os.replace`` at the end; a failure removes the temporary directory, and a
later run for the same output removes those left by processes that no longer
run (``kill -9``). Warnings (conflicting labels in a split list, classes absent
from the test or val split) are printed to stderr and recorded in ``meta.json``
under ``provenance.warnings``.

No deep-learning framework is imported here.
"""

import datetime
import shutil
from pathlib import Path

import numpy as np

from keras_lt.version import __version__
from keras_lt.data.dataset import FORMAT_VERSION, PreparedDataset
from keras_lt.data.longtail import longtail_counts, select_longtail
from keras_lt.data.sources import SOURCES
from keras_lt.data.sources.base import DataPreparationError, note, warn
from keras_lt.data.sources.cifar import CIFAR_FILES, cifar_source
from keras_lt.data.sources.digits import DIGITS_DEFAULT_IF, digits_source
from keras_lt.data.sources.hf import hf_source
from keras_lt.data.sources.imagefolder import imagefolder_source
from keras_lt.data.sources.splitfile import parse_split_file, read_class_names, splitfile_source
from keras_lt.data.writer import (make_temporary, move_into_place, remove_stale_temporaries,
                                  resolve_storage, write_json, write_split)

__all__ = ["prepare_dataset", "DataPreparationError", "SOURCES", "CIFAR_FILES",
           "parse_split_file", "read_class_names"]

DEFAULT_VAL_PER_CLASS = {"cifar10": 20, "cifar100": 20, "imagefolder": 20, "hf": 20,
                         "splitfile": 0, "digits": 10}


def _check_options(source, output, overwrite, storage, imbalance_factor, val_per_class,
                   max_pixels):
    """Refuse unusable options; returns ``(output, imbalance_factor, val_per_class)``
    with the defaults of ``source`` filled in."""
    if source not in SOURCES:
        raise DataPreparationError(f"unknown source {source!r}; choose from {', '.join(SOURCES)}")
    if storage not in ("auto", "raw", "encoded"):
        raise DataPreparationError(f"unknown storage {storage!r} (auto, raw or encoded)")
    output = Path(output)
    if output.exists() and not overwrite:
        raise DataPreparationError(f"output {output} already exists (pass --overwrite to replace it)")
    if imbalance_factor == "default":
        imbalance_factor = DIGITS_DEFAULT_IF if source == "digits" else None
    if imbalance_factor is not None:
        imbalance_factor = float(imbalance_factor)
        if not imbalance_factor >= 1:
            raise DataPreparationError(f"imbalance factor must be >= 1, got {imbalance_factor}")
    if val_per_class is None:
        val_per_class = DEFAULT_VAL_PER_CLASS[source]
    val_per_class = int(val_per_class)
    if val_per_class < 0:
        raise DataPreparationError(f"val per class must be >= 0, got {val_per_class}")
    if max_pixels is not None and int(max_pixels) < 1:
        raise DataPreparationError(f"max pixels must be >= 1, got {max_pixels}")
    return output, imbalance_factor, val_per_class


def _read_source(source, *, input, seed, progress, skip_bad, download, cache_dir, expected_md5,
                 train_split, test_split, val_split, train_list, val_list, test_list, image_root,
                 class_names, hf_name, hf_config, hf_image_column, hf_label_column,
                 follow_symlinks):
    """The :class:`~keras_lt.data.sources.base.Source` ``source`` reads from its options."""
    if source in ("cifar10", "cifar100"):
        return cifar_source(source, input, download, cache_dir, expected_md5, progress)
    if source == "imagefolder":
        if input is None:
            raise DataPreparationError("source imagefolder needs --input <directory or .tar[.gz]>")
        return imagefolder_source(input, train_split, test_split, val_split, progress,
                                  follow_symlinks)
    if source == "splitfile":
        return splitfile_source(train_list, val_list, test_list, image_root, class_names, skip_bad)
    if source == "hf":
        return hf_source(input, hf_name, hf_config, hf_image_column, hf_label_column, progress)
    return digits_source(seed)


def _check_labels(src):
    """Refuse labels out of range and classes without training images; returns the
    per-class counts of the train pool and the warnings (the source's own, then one for
    each split that lacks classes train has)."""
    num_classes = len(src.class_names)
    if num_classes < 1:
        raise DataPreparationError(f"{src.location}: no classes found")
    for split_name, s in src.splits.items():
        bad = (s.labels < 0) | (s.labels >= num_classes)
        if bad.any():
            j = int(np.argmax(bad))
            raise DataPreparationError(f"{s.describe(j)}: label {int(s.labels[j])} out of range "
                                       f"0..{num_classes - 1} in split '{split_name}'")
    train = src.splits["train"]
    pool = np.bincount(train.labels, minlength=num_classes)
    warnings = list(src.warnings)
    for split_name, s in src.splits.items():
        if split_name == "train" or not len(s):
            continue
        missing = np.flatnonzero(np.bincount(s.labels, minlength=num_classes) == 0)
        if len(missing):
            warnings.append(f"split '{split_name}' ({s.origin or src.location}) has no images "
                            f"of {len(missing)} class(es) that train has: "
                            + ", ".join(src.class_names[c] for c in missing[:20])
                            + (" ..." if len(missing) > 20 else ""))
    empty = [src.class_names[c] for c in range(num_classes) if pool[c] == 0]
    if empty:
        raise DataPreparationError(f"{train.origin or src.location}: empty class(es) with no "
                                   f"training images: {', '.join(empty[:20])}"
                                   + (" ..." if len(empty) > 20 else ""))
    return pool, warnings


def _select_train(src, source, pool, imbalance_factor, n_max, seed, val_per_class):
    """``(train_order, longtail)``: the train-pool images the long-tailed subsampling
    keeps (all of them without ``imbalance_factor``) and its ``meta.json`` entry."""
    train = src.splits["train"]
    num_classes = len(src.class_names)
    if imbalance_factor is None:
        return np.arange(len(train), dtype=np.int64), None
    if n_max is None:
        n_max = int(pool.min())
        if source == "digits" and "val" not in src.splits:
            n_max -= val_per_class
    n_max = int(n_max)
    if n_max < 1:
        raise DataPreparationError(f"n_max {n_max} is too small")
    try:
        train_order = select_longtail(train.labels, imbalance_factor, seed=seed, n_max=n_max,
                                      num_classes=num_classes)
    except ValueError as e:
        raise DataPreparationError(f"long-tailed subsampling failed: {e}") from e
    targets = longtail_counts(n_max, num_classes, imbalance_factor)
    zero = [src.class_names[c] for c, t in enumerate(targets) if t == 0]
    if zero:
        raise DataPreparationError(f"imbalance factor {imbalance_factor:g} with n_max {n_max} "
                                   f"leaves class(es) empty: {', '.join(zero[:20])}")
    lt_info = {"method": "Cao et al. 2019 (LDAM-DRW IMBALANCECIFAR): n_i = int(n_max * "
                         "(1/IF)**(i/(C-1))); RandomState(seed) shuffle per class in "
                         "official order, keep the first n_i",
               "n_max": n_max, "target_counts": [int(t) for t in targets]}
    return train_order, lt_info


def _select_val(src, train_order, imbalance_factor, val_per_class, val_fill_from_train, seed):
    """``(train_order, val_order, val)``: the val images (the official val split, or a
    balanced hold-out from the train pool, which without subsampling leaves
    ``train_order``), or ``None`` for no val split, and the ``meta.json`` entry."""
    train = src.splits["train"]
    num_classes = len(src.class_names)
    val_order = None
    if "val" in src.splits:
        val_info = {"method": f"official validation split of the source "
                              f"({src.splits['val'].origin or 'val'})"}
        val_order = np.arange(len(src.splits["val"]), dtype=np.int64)
    elif val_per_class > 0:
        rng = np.random.default_rng(seed)
        selected = np.zeros(len(train), dtype=bool)
        selected[train_order] = True
        picks, shortfall = [], {}
        for c in range(num_classes):
            cls = np.where(train.labels == c)[0]
            if imbalance_factor is not None:
                free = cls[~selected[cls]]
            else:
                free = cls
            take = rng.permutation(free)[:val_per_class]
            if len(take) < val_per_class:
                if val_fill_from_train and imbalance_factor is not None:
                    extra = rng.permutation(cls[selected[cls]])[:val_per_class - len(take)]
                    shortfall[src.class_names[c]] = {"unselected": int(len(take)),
                                                     "filled_from_train": int(len(extra))}
                    take = np.concatenate([take, extra])
                else:
                    shortfall[src.class_names[c]] = int(len(take))
            picks.append(np.sort(take))
        val_order = np.concatenate(picks).astype(np.int64) if picks else np.zeros(0, np.int64)
        if imbalance_factor is None:
            # no subsampling: hold the val images out of the train pool
            keep = np.ones(len(train), dtype=bool)
            keep[val_order] = False
            train_order = train_order[keep[train_order]]
            how = "held out of the train pool"
        else:
            how = ("drawn from the train-pool images not selected by the long-tailed "
                   "subsampling (the train split is exactly the published subset)")
        val_info = {"method": f"balanced hold-out of up to {val_per_class} images per class, "
                              f"{how}, with np.random.default_rng({seed}); per class a "
                              f"permutation of the candidates, first {val_per_class} kept",
                    "per_class_requested": val_per_class}
        if shortfall:
            val_info["shortfall"] = shortfall
            val_info["shortfall_note"] = ("classes with fewer candidates than requested"
                                          + (" (topped up with images that are also in train)"
                                             if val_fill_from_train else " (all they had taken)"))
    else:
        val_info = {"method": "none (no val split requested)"}
    return train_order, val_order, val_info


def _write_splits(tmp, src, train_order, val_order, storage, skip_bad, skipped, progress,
                  max_pixels):
    """Write train, val (when ``val_order`` is not ``None``) and test into ``tmp``;
    returns ``(writers, storage kind, image shape, train stats, decode counts)``."""
    train = src.splits["train"]
    keep_bytes = src.encoded and storage != "raw"
    want_raw = storage != "encoded" and (src.default_storage != "encoded" or storage == "raw")
    if storage == "encoded" and not src.encoded:
        keep_bytes = True      # arrays are stored as PNG
    stats = [np.zeros(3), np.zeros(3), 0]
    plan = [("train", train, train_order, stats)]
    if val_order is not None:
        plan.append(("val", src.splits["val"] if "val" in src.splits else train, val_order, None))
    if "test" in src.splits:
        plan.append(("test", src.splits["test"], np.arange(len(src.splits["test"])), None))
    counts = {}
    writers = [write_split(tmp, n, s, o, keep_bytes, want_raw, st, skip_bad, skipped,
                           progress, max_pixels=max_pixels, counts=counts)
               for n, s, o, st in plan]
    if writers[0].k == 0:
        raise DataPreparationError("no readable training image")
    kind, shape = resolve_storage(storage, writers)
    for w in writers:
        w.finalize(kind, shape)
    return writers, kind, shape, stats, counts


def _split_meta(writers, src):
    """``{split: {"count", "per_class"}}`` of the written splits; refuses a class that
    skipping bad images left without training images."""
    num_classes = len(src.class_names)
    split_meta = {}
    for w in writers:
        per = np.bincount(np.asarray(w.labels, dtype=np.int64), minlength=num_classes)
        split_meta[w.name] = {"count": int(w.k), "per_class": [int(v) for v in per]}
    train_counts = split_meta["train"]["per_class"]
    empty = [src.class_names[c] for c in range(num_classes) if train_counts[c] == 0]
    if empty:
        raise DataPreparationError(f"after skipping bad images, class(es) have no training "
                                   f"images: {', '.join(empty[:20])}")
    return split_meta


def _provenance(src, source, output, command, imbalance_factor, seed, val_per_class, skipped,
                counts, max_pixels, warnings):
    """The ``provenance`` entry of ``meta.json``."""
    if command is None:
        command = f"keras_lt.data.prepare.prepare_dataset({source!r}, {str(output)!r}, ...)"
    return {
        "source": src.location,
        "source_kind": source,
        "source_checksum": src.checksum,
        "imbalance_factor": imbalance_factor,
        "seed": seed,
        "val_per_class": val_per_class,
        "tool": "keras_lt.prepare",
        "tool_version": __version__,
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "command": command,
        "notes": src.notes,
        "skipped": len(skipped),
        "grayscale_to_rgb": counts.get("grayscale", 0),
        "scaled_16bit_to_8bit": counts.get("scaled_16bit", 0),
        "max_pixels": None if max_pixels is None else int(max_pixels),
        "warnings": warnings,
    }


def _meta(src, name, output, kind, shape, split_meta, stats, val_info, lt_info, provenance):
    """The ``meta.json`` of a prepared dataset; ``mean`` / ``std`` from the train ``stats``."""
    n_images = stats[2]
    mean = stats[0] / n_images / 255.0
    var = stats[1] / n_images / (255.0 ** 2) - mean ** 2
    std = np.sqrt(np.maximum(var, 0.0))
    return {
        "format_version": FORMAT_VERSION,
        "name": name or output.name,
        "num_classes": len(src.class_names),
        "class_names": src.class_names,
        "image_size": None if shape is None else [int(shape[0]), int(shape[1])],
        "storage": kind,
        "splits": split_meta,
        "train_counts": split_meta["train"]["per_class"],
        "mean": [round(float(v), 6) for v in mean],
        "std": [round(float(v), 6) for v in std],
        "val": val_info,
        "longtail": lt_info,
        "provenance": provenance,
    }


def _note_conversions(counts):
    """Tell how many images were converted from grayscale or scaled from 16 bits."""
    if counts.get("grayscale"):
        note(f"{counts['grayscale']} of {counts['images']} image(s) were grayscale and were "
             f"converted to RGB (the channel repeated)")
    if counts.get("scaled_16bit"):
        note(f"{counts['scaled_16bit']} image(s) had 16-bit samples, scaled to 8 bits "
             f"(value / 257)")


def prepare_dataset(source, output, *, input=None, name=None, imbalance_factor="default",
                    seed=0, val_per_class=None, val_fill_from_train=False, n_max=None,
                    skip_bad=False, overwrite=False, storage="auto",
                    download=False, cache_dir=None, expected_md5=None,
                    train_split="train", test_split="test", val_split="val",
                    train_list=None, val_list=None, test_list=None, image_root=None,
                    class_names=None, hf_name=None, hf_config=None, hf_image_column=None,
                    hf_label_column=None, progress=True, command=None, max_pixels=None,
                    follow_symlinks=False):
    """Prepare ``source`` into the directory ``output``; returns a :class:`PreparedDataset`.

    ``imbalance_factor``: ``None`` keeps all images; ``"default"`` means ``None``
    except for ``digits`` (20). ``val_per_class``: ``None`` uses the source default
    (20; 10 for digits; 0 for splitfile, whose val list is the official split).
    ``n_max``: head-class size of the long-tailed profile (default: the smallest
    class of the train pool; for digits minus ``val_per_class`` so that every
    class keeps images for the val split). ``max_pixels``: refuse (or, with
    ``skip_bad``, skip) images with more pixels than this. ``follow_symlinks``:
    read imagefolder files and folders that are symbolic links to places outside
    the tree. See the module docstring for the rest.
    Raises :class:`DataPreparationError` for bad input; then nothing is left at
    ``output``.
    """
    output, imbalance_factor, val_per_class = _check_options(
        source, output, overwrite, storage, imbalance_factor, val_per_class, max_pixels)
    remove_stale_temporaries(output)

    src = _read_source(source, input=input, seed=seed, progress=progress, skip_bad=skip_bad,
                       download=download, cache_dir=cache_dir, expected_md5=expected_md5,
                       train_split=train_split, test_split=test_split, val_split=val_split,
                       train_list=train_list, val_list=val_list, test_list=test_list,
                       image_root=image_root, class_names=class_names, hf_name=hf_name,
                       hf_config=hf_config, hf_image_column=hf_image_column,
                       hf_label_column=hf_label_column, follow_symlinks=follow_symlinks)
    pool, warnings = _check_labels(src)
    train_order, lt_info = _select_train(src, source, pool, imbalance_factor, n_max, seed,
                                         val_per_class)
    train_order, val_order, val_info = _select_val(src, train_order, imbalance_factor,
                                                   val_per_class, val_fill_from_train, seed)
    for w in warnings[len(src.warnings):]:
        warn(w)

    tmp = make_temporary(output)
    try:
        skipped = list(src.skipped)
        writers, kind, shape, stats, counts = _write_splits(
            tmp, src, train_order, val_order, storage, skip_bad, skipped, progress, max_pixels)
        split_meta = _split_meta(writers, src)
        provenance = _provenance(src, source, output, command, imbalance_factor, seed,
                                 val_per_class, skipped, counts, max_pixels, warnings)
        write_json(tmp / "meta.json", _meta(src, name, output, kind, shape, split_meta, stats,
                                            val_info, lt_info, provenance))
        if skipped:
            write_json(tmp / "skipped.json", {"count": len(skipped), "items": skipped})
        move_into_place(tmp, output)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    _note_conversions(counts)
    ds = PreparedDataset(output)
    ds.skipped = skipped
    return ds
