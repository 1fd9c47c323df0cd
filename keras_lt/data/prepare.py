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
import hashlib
import io
import json
import os
import pickle
import re
import shutil
import sys
import tarfile
from pathlib import Path, PurePosixPath

import numpy as np

from keras_lt import __version__
from keras_lt.data.dataset import FORMAT_VERSION, PreparedDataset
from keras_lt.data.decode import ImageDecodeError, decode_image
from keras_lt.data.longtail import longtail_counts, select_longtail

__all__ = ["prepare_dataset", "DataPreparationError", "SOURCES", "CIFAR_FILES",
           "parse_split_file", "read_class_names"]

SOURCES = ("cifar10", "cifar100", "imagefolder", "splitfile", "hf", "digits")

CIFAR_FILES = {
    "cifar10": {"file": "cifar-10-python.tar.gz", "md5": "c58f30108f718f92721af3b95e74349a",
                "url": "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"},
    "cifar100": {"file": "cifar-100-python.tar.gz", "md5": "eb9058c3a382ffc7106e4002c42a8d85",
                 "url": "https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz"},
}

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff", ".ppm")

DEFAULT_VAL_PER_CLASS = {"cifar10": 20, "cifar100": 20, "imagefolder": 20, "hf": 20,
                         "splitfile": 0, "digits": 10}
# digits: 16x16 RGB, IF 20 -> train counts 106 ... 5 (1 many, 5 medium, 4 few classes)
DIGITS_DEFAULT_IF = 20.0
DIGITS_SIZE = 16


class DataPreparationError(ValueError):
    """Bad input for data preparation (message is meant for the user as is)."""


class _BadItem(Exception):
    """One unreadable image or unusable entry (skippable with ``skip_bad``)."""


# --------------------------------------------------------------------------- helpers

def _progress(iterable, progress, **kw):
    if not progress:
        return iterable
    from tqdm import tqdm

    return tqdm(iterable, **kw)


def _note(msg: str) -> None:
    print(f"note: {msg}", file=sys.stderr)


def _warn(msg: str) -> None:
    print(f"warning: {msg}", file=sys.stderr)


def _display(path) -> str:
    """``path`` as printable text: bytes that are not UTF-8 appear as ``\\xNN``."""
    return os.fsencode(path).decode("utf-8", "backslashreplace")


def _pid_running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:     # exists, owned by someone else
        return True
    except OSError:
        return False
    return True


def _remove_stale_temporaries(output: Path) -> None:
    """Remove ``<output>.tmp-<pid>`` / ``<output>.old-<pid>`` folders whose process is gone."""
    parent = output.parent
    if not parent.is_dir():
        return
    pattern = re.compile(re.escape(output.name) + r"\.(tmp|old)-(\d+)")
    for p in sorted(parent.iterdir()):
        m = pattern.fullmatch(p.name)
        if not m or not p.is_dir() or p.is_symlink():
            continue
        pid = int(m.group(2))
        if pid == os.getpid() or _pid_running(pid):
            continue
        shutil.rmtree(p, ignore_errors=True)
        _note(f"removed {_display(p)}, left behind by an interrupted run (process {pid} "
              f"no longer runs)")


def _file_digest(path, algo):
    h = hashlib.new(algo)
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _safe_member_name(name):
    p = PurePosixPath(name)
    return not (name.startswith("/") or p.is_absolute() or ".." in p.parts or re.match(r"^[A-Za-z]:", name))


def _open_tar(path):
    try:
        tf = tarfile.open(path, "r:*")
    except (tarfile.TarError, OSError, EOFError) as e:
        raise DataPreparationError(f"cannot open archive {path}: {e}") from e
    return tf


def _tar_members(tf, path):
    """All members, refusing absolute names or names with '..' (nothing is extracted)."""
    try:
        members = tf.getmembers()
    except (tarfile.TarError, OSError, EOFError) as e:
        raise DataPreparationError(f"cannot read archive {path}: {e}") from e
    for m in members:
        if not _safe_member_name(m.name):
            raise DataPreparationError(f"archive {path} has an unsafe member name {m.name!r} "
                                       f"(absolute or containing '..'); refusing to read it")
    return members


def _png_bytes(arr):
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="PNG")
    return buf.getvalue()


# --------------------------------------------------------------------------- source model

class _SourceSplit:
    """Labels of one source split and a way to fetch each image.

    ``fetch(i)`` returns encoded bytes, a PIL image or an array; ``describe(i)``
    names image ``i`` for error messages; ``source_index[i]`` is its index in the
    original source.
    """

    def __init__(self, labels, fetch, describe, source_index=None, origin=None):
        self.labels = np.asarray(labels, dtype=np.int64).reshape(-1)
        self.fetch = fetch
        self.describe = describe
        self.source_index = (np.arange(len(self.labels), dtype=np.int64) if source_index is None
                             else np.asarray(source_index, dtype=np.int64))
        self.origin = origin

    def __len__(self):
        return len(self.labels)


class _Source:
    def __init__(self, kind, location, class_names, splits, checksum=None, encoded=False,
                 default_storage="auto", skipped=(), notes=None, warnings=()):
        self.kind = kind
        self.location = str(location)
        self.class_names = list(class_names)
        self.splits = splits               # {"train": _SourceSplit, "test": ..., "val": ...}
        self.checksum = checksum           # {"algo": ..., "value": ...} or None
        self.encoded = encoded             # fetch returns encoded bytes
        self.default_storage = default_storage
        self.skipped = list(skipped)
        self.notes = notes or {}
        self.warnings = list(warnings)     # already printed; recorded in meta.json


# --------------------------------------------------------------------------- cifar

def _default_cache_dir():
    env = os.environ.get("KERAS_LT_CACHE")
    if env:
        return Path(env)
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "keras_lt"


def _download(url, dest, expected_md5, progress=True):
    import urllib.error
    import urllib.request

    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(dest.name + f".part-{os.getpid()}")
    try:
        with urllib.request.urlopen(url, timeout=60) as r, open(tmp, "wb") as f:
            total = int(r.headers.get("Content-Length") or 0) or None
            bar = None
            if progress:
                from tqdm import tqdm

                bar = tqdm(total=total, unit="B", unit_scale=True, desc=f"download {dest.name}")
            for chunk in iter(lambda: r.read(1 << 20), b""):
                f.write(chunk)
                if bar is not None:
                    bar.update(len(chunk))
            if bar is not None:
                bar.close()
    except (urllib.error.URLError, OSError, TimeoutError) as e:
        tmp.unlink(missing_ok=True)
        raise DataPreparationError(
            f"cannot download {url} ({e}); if this machine is offline, fetch "
            f"{dest.name} elsewhere and pass it with --input <path to {dest.name}>") from e
    got = _file_digest(tmp, "md5")
    if expected_md5 and got != expected_md5:
        tmp.unlink(missing_ok=True)
        raise DataPreparationError(f"downloaded {url} has MD5 {got}, expected {expected_md5}")
    os.replace(tmp, dest)
    return dest


def _cifar_globals():
    """The globals an official CIFAR python batch refers to (numpy array reconstruction)."""
    try:
        from numpy._core.multiarray import _reconstruct
    except ImportError:     # numpy < 2
        from numpy.core.multiarray import _reconstruct
    import codecs

    return {("numpy.core.multiarray", "_reconstruct"): _reconstruct,
            ("numpy._core.multiarray", "_reconstruct"): _reconstruct,
            ("numpy", "ndarray"): np.ndarray,
            ("numpy", "dtype"): np.dtype,
            ("_codecs", "encode"): codecs.encode,
            ("codecs", "encode"): codecs.encode}


class _CifarUnpickler(pickle.Unpickler):
    """Unpickles plain containers and numpy arrays only; any other global is refused."""

    def __init__(self, data: bytes, where: str):
        super().__init__(io.BytesIO(data), encoding="bytes")
        self.where = where
        self.allowed = _cifar_globals()

    def find_class(self, module, name):
        found = self.allowed.get((module, name))
        if found is None:
            raise DataPreparationError(
                f"{self.where}: the pickle refers to {module}.{name}, which a CIFAR batch never "
                f"needs (only dicts, lists, bytes, numbers and numpy arrays); refusing to "
                f"unpickle it")
        return found


def _load_cifar_pickle(data: bytes, where: str):
    """Unpickle one CIFAR batch with :class:`_CifarUnpickler`; errors name ``where``."""
    try:
        obj = _CifarUnpickler(data, where).load()
    except DataPreparationError:
        raise
    except Exception as e:   # truncated / malformed pickles raise many types
        raise DataPreparationError(f"{where}: not a readable CIFAR batch pickle "
                                   f"({type(e).__name__}: {e})") from e
    if not isinstance(obj, dict):
        raise DataPreparationError(f"{where}: expected a dict, the pickle holds a "
                                   f"{type(obj).__name__}")
    return obj


def _cifar_source(kind, input_path, download, cache_dir, expected_md5, progress):
    info = CIFAR_FILES[kind]
    expected = (expected_md5 or info["md5"]).lower()
    if input_path is None:
        if not download:
            raise DataPreparationError(
                f"source {kind} needs --input <path to {info['file']}> or --download "
                f"(fetches {info['url']})")
        path = Path(cache_dir or _default_cache_dir()) / info["file"]
        if not path.is_file() or _file_digest(path, "md5") != expected:
            _download(info["url"], path, expected, progress)
    else:
        path = Path(input_path)
        if not path.is_file():
            raise DataPreparationError(f"{kind} input {path} does not exist or is not a file")
    # The MD5 is checked before anything is unpickled, and the unpickler admits
    # only containers and numpy arrays: a file passed with its own --md5 is not
    # trusted to be the official one.
    got = _file_digest(path, "md5")
    if got != expected:
        raise DataPreparationError(f"checksum mismatch for {path}: MD5 expected {expected}, got {got}")

    tf = _open_tar(path)
    with tf:
        members = {m.name: m for m in _tar_members(tf, path) if m.isfile()}

        def load(base):
            found = [n for n in members if PurePosixPath(n).name == base]
            if len(found) != 1:
                raise DataPreparationError(f"{path}: expected exactly one member named {base!r}, "
                                           f"found {len(found)}")
            try:
                data = tf.extractfile(members[found[0]]).read()
            except (tarfile.TarError, OSError, EOFError) as e:
                raise DataPreparationError(f"cannot read member {found[0]} of {path}: "
                                           f"{e}") from e
            return _load_cifar_pickle(data, f"{path}:{found[0]}")

        def field(obj, key, base):
            if key not in obj:
                raise DataPreparationError(f"{path}: member {base!r} has no {key.decode()!r} "
                                           f"entry (keys: {sorted(map(repr, obj))[:10]})")
            return obj[key]

        if kind == "cifar10":
            meta = load("batches.meta")
            names = field(meta, b"label_names", "batches.meta")
            train_parts = [load(f"data_batch_{i}") for i in range(1, 6)]
            test_parts = [load("test_batch")]
            label_key = b"labels"
        else:
            meta = load("meta")
            names = field(meta, b"fine_label_names", "meta")
            train_parts = [load("train")]
            test_parts = [load("test")]
            label_key = b"fine_labels"
        try:
            names = [n.decode("utf-8") if isinstance(n, bytes) else str(n) for n in names]
        except (TypeError, UnicodeDecodeError) as e:
            raise DataPreparationError(f"{path}: unreadable class names in the meta member "
                                       f"({e})") from e

    def build(parts, split):
        try:
            data = np.concatenate([np.asarray(p[b"data"], dtype=np.uint8) for p in parts])
            labels = np.concatenate([np.asarray(p[label_key], dtype=np.int64).reshape(-1)
                                     for p in parts])
        except (KeyError, TypeError, ValueError, OverflowError) as e:
            raise DataPreparationError(f"{path}: {split} batches lack usable 'data' / "
                                       f"{label_key.decode()!r} entries ({type(e).__name__}: "
                                       f"{e})") from e
        if data.ndim != 2 or data.shape[1] != 3072 or len(data) != len(labels):
            raise DataPreparationError(f"{path}: unexpected {split} data shape {data.shape}")
        images = data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)   # CHW rows -> HWC
        return _SourceSplit(labels, lambda i: images[i], lambda i: f"{path}:{split}[{i}]",
                            origin=f"{path} ({split})")

    splits = {"train": build(train_parts, "train"), "test": build(test_parts, "test")}
    return _Source(kind, path, names, splits, checksum={"algo": "md5", "value": got},
                   default_storage="raw",
                   notes={"source_index": "row in the concatenated official batches "
                                          "(data_batch_1..5 / test_batch; train / test)"})


# --------------------------------------------------------------------------- imagefolder

def _is_image_name(name):
    return name.lower().endswith(IMAGE_EXTENSIONS)


def _inside(target: str, root: str) -> bool:
    return target == root or target.startswith(root.rstrip(os.sep) + os.sep)


def _walk_tree(path: Path, follow_symlinks: bool):
    """``(dirs, files, refused)`` of a directory tree (relative part tuples; ``files``
    maps to the path to read). Symbolic links to places outside the tree are not
    followed unless ``follow_symlinks``: ``refused`` maps them to the error to raise
    if the layout needs them (a linked folder is listed in ``dirs``, empty)."""
    root = os.path.realpath(path)
    dirs, files, refused = set(), {}, {}
    seen = {root}

    stack = [(Path(path), ())]
    while stack:
        here, rel = stack.pop()
        try:
            entries = sorted(os.scandir(here), key=lambda e: e.name)
        except OSError as e:
            raise DataPreparationError(f"cannot list folder {_display(here)}: {e}") from e
        for e in entries:
            parts = rel + (e.name,)
            p = Path(e.path)
            try:
                is_dir = e.is_dir()          # follows links
                is_file = e.is_file()
                is_link = e.is_symlink()
            except OSError:
                continue
            if is_link and not (is_dir or is_file):
                continue                     # dangling link
            if is_link and not follow_symlinks:
                target = os.path.realpath(p)
                if not _inside(target, root):
                    refused[parts] = (
                        f"{_display(path)}: {'folder' if is_dir else 'file'} "
                        f"'{_display('/'.join(parts))}' is a symbolic link to "
                        f"{_display(target)}, outside the tree; pass --follow-symlinks to "
                        f"read it")
                    if is_dir:
                        dirs.add(parts)
                    continue
            if is_dir:
                real = os.path.realpath(p)
                dirs.add(parts)
                if real in seen:             # a link loop or a second link to one folder
                    continue
                seen.add(real)
                stack.append((p, parts))
            elif is_file:
                files[parts] = p
    return dirs, files, refused


def _imagefolder_source(input_path, train_split, test_split, val_split, progress,
                        follow_symlinks=False):
    path = Path(input_path)
    if not path.exists():
        raise DataPreparationError(f"imagefolder input {_display(path)} does not exist")
    # entries: list of (parts tuple relative to the tree, fetch-key)
    dirs = set()
    files = {}
    refused = {}
    if path.is_dir():
        kind_desc = "directory"
        dirs, files, refused = _walk_tree(path, follow_symlinks)
        h = hashlib.sha256()
        for parts in sorted(files):
            try:
                size = files[parts].stat().st_size
            except OSError as e:
                raise DataPreparationError(f"cannot read {_display(files[parts])}: {e}") from e
            h.update(os.fsencode("/".join(parts)) + b"\t" + str(size).encode() + b"\n")
        checksum = {"algo": "sha256-of-listing", "value": h.hexdigest()}
        data_of = None
    elif tarfile.is_tarfile(path):
        kind_desc = "archive"
        checksum = {"algo": "sha256", "value": _file_digest(path, "sha256")}
        data_of = {}
        tf = _open_tar(path)
        with tf:
            for m in _progress(tf, progress, desc=f"read {path.name}", unit=" members"):
                if not _safe_member_name(m.name):
                    raise DataPreparationError(f"archive {path} has an unsafe member name "
                                               f"{m.name!r} (absolute or containing '..'); "
                                               f"refusing to read it")
                parts = tuple(p for p in PurePosixPath(m.name).parts if p not in (".", ""))
                if not parts:
                    continue
                for k in range(1, len(parts)):
                    dirs.add(parts[:k])
                if m.isdir():
                    dirs.add(parts)
                elif m.isfile():
                    files[parts] = f"{path}:{m.name}"
                    if len(parts) >= 3 and _is_image_name(parts[-1]):
                        try:
                            data_of[parts] = tf.extractfile(m).read()
                        except (tarfile.TarError, OSError, EOFError) as e:
                            raise DataPreparationError(f"cannot read member {m.name} of "
                                                       f"{path}: {e}") from e
    else:
        raise DataPreparationError(f"imagefolder input {path} is neither a directory nor a "
                                   f".tar/.tar.gz archive")

    # auto-detect a single top-level directory (e.g. cifar-10-images-jpg/)
    prefix = ()
    while True:
        top = {p[len(prefix)] for p in list(dirs) + list(files) if len(p) > len(prefix)
               and p[:len(prefix)] == prefix}
        if train_split in top or len(top) != 1:
            break
        only = next(iter(top))
        if prefix + (only,) not in dirs:
            break
        prefix = prefix + (only,)
    top = {p[len(prefix)] for p in dirs if len(p) > len(prefix) and p[:len(prefix)] == prefix}
    if train_split not in top:
        raise DataPreparationError(
            f"{path}: no '{train_split}' split folder found (expected <root>/<split>/<class>/"
            f"<image>; found folders: {', '.join(sorted(top)) or 'none'})")
    root_desc = "/".join(prefix)
    used = {s for s in (train_split, test_split, val_split) if s is not None}
    for parts, msg in sorted(refused.items()):
        rel = parts[len(prefix):]
        if parts[:len(prefix)] == prefix and rel and rel[0] in used and (
                len(rel) <= 2 or (len(rel) == 3 and _is_image_name(rel[-1]))):
            raise DataPreparationError(msg)

    def classes_of(split):
        return sorted(p[-1] for p in dirs if len(p) == len(prefix) + 2 and p[:len(prefix) + 1]
                      == prefix + (split,))

    class_names = classes_of(train_split)
    if not class_names:
        raise DataPreparationError(f"{path}: split folder '{train_split}' has no class folders")
    for c in class_names:
        if _display(c) != c:
            folder = _display("/".join(prefix + (train_split, c)))
            raise DataPreparationError(
                f"{_display(path)}: class folder '{folder}' has a name that is not valid "
                f"UTF-8; rename it (class names are stored as text)")
    index = {c: i for i, c in enumerate(class_names)}
    per_class = {}
    for parts in files:
        if len(parts) == len(prefix) + 3 and parts[:len(prefix)] == prefix \
                and _is_image_name(parts[-1]):
            per_class.setdefault((parts[len(prefix)], parts[len(prefix) + 1]), []).append(parts)

    def fetch_factory(keys):
        if data_of is None:
            return lambda i: files[keys[i]].read_bytes()
        return lambda i: data_of[keys[i]]

    splits = {}
    for out_name, split in (("train", train_split), ("test", test_split), ("val", val_split)):
        if split is None or split not in top:
            if out_name == "test" and split is not None:
                print(f"note: {path} has no '{split}' split folder; no test split", file=sys.stderr)
            continue
        names = classes_of(split)
        unknown = [c for c in names if c not in index]
        if unknown:
            raise DataPreparationError(f"{path}: split '{split}' has class folders not in "
                                       f"'{train_split}': {', '.join(unknown)}")
        keys, labels = [], []
        for c in names:
            items = sorted(per_class.get((split, c), []), key=lambda p: p[-1])
            if not items and out_name == "train":
                folder = prefix + (split, c)
                where = _display("/".join(folder))
                others = sum(1 for f in files if len(f) == len(folder) + 1
                             and f[:len(folder)] == folder)
                subdirs = sum(1 for d in dirs if len(d) == len(folder) + 1
                              and d[:len(folder)] == folder)
                what = (f"it holds {others} other file(s) / {subdirs} subfolder(s); images "
                        f"must sit directly in it and end in {', '.join(IMAGE_EXTENSIONS)}"
                        if others or subdirs else "it is empty")
                raise DataPreparationError(f"{_display(path)}: class folder '{where}' has no "
                                           f"images ({what})")
            keys.extend(items)
            labels.extend([index[c]] * len(items))
        desc = (lambda ks: (lambda i: _display(files[ks[i]])))(keys)
        splits[out_name] = _SourceSplit(labels, fetch_factory(keys), desc,
                                        origin=f"{path} ({'/'.join(prefix + (split,))})")
    return _Source("imagefolder", path, class_names, splits, checksum=checksum, encoded=True,
                   notes={"layout": f"{kind_desc}, root '{root_desc or '.'}', splits "
                                    f"{sorted(s for s in top)}",
                          "source_index": "position in the split's (class, file name) order"})


# --------------------------------------------------------------------------- split files

_WNID = re.compile(r"^n\d{8}$")


def _read_text(path: Path, what: str) -> str:
    """UTF-8 text of ``path``; an error names the file and the line of a bad byte."""
    try:
        data = path.read_bytes()
    except OSError as e:
        raise DataPreparationError(f"cannot read {what} {_display(path)}: {e}") from e
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = data[:e.start].count(b"\n") + 1
        raise DataPreparationError(f"{_display(path)}:{line}: {what} is not UTF-8 text (byte "
                                   f"{data[e.start:e.start + 1]!r} at offset {e.start})") from e


def read_class_names(path):
    """Class names from ``<wnid> <name>`` / ``<int> <name>`` lines or one name per line.

    Also understood, with a note on stderr: ``<name> <name>`` lines (two identical
    tokens, as some split files list classes) give ``<name>``, and ``<name> <int>``
    lines whose integers are 0..n-1 give the names in the order of the integers.
    Returns ``(names, ids)`` where ``ids`` is the list of id tokens or ``None``.
    """
    path = Path(path)
    lines = [ln.strip() for ln in _read_text(path, "class-names file").splitlines()]
    lines = [ln for ln in lines if ln]
    if not lines:
        raise DataPreparationError(f"class-names file {_display(path)} is empty")
    split = [ln.split(None, 1) for ln in lines]
    if all(len(s) == 2 and (_WNID.match(s[0]) or s[0].isdigit()) for s in split):
        return [s[1].strip() for s in split], [s[0] for s in split]
    tokens = [ln.split() for ln in lines]
    if all(len(t) == 2 and t[0] == t[1] for t in tokens):
        _note(f"class-names file {_display(path)} has '<name> <name>' lines (e.g. "
              f"{lines[0]!r}); using the name once")
        return [t[0] for t in tokens], None
    if all(len(t) == 2 and re.fullmatch(r"\d{1,9}", t[1]) for t in tokens) \
            and sorted(int(t[1]) for t in tokens) == list(range(len(tokens))):
        _note(f"class-names file {_display(path)} has '<name> <class id>' lines (e.g. "
              f"{lines[0]!r}); using the names, ordered by id")
        ordered = sorted(tokens, key=lambda t: int(t[1]))
        return [t[0] for t in ordered], [t[1] for t in ordered]
    return lines, None


def parse_split_file(path, num_classes=None, skip_bad=False, skipped=None):
    """Parse ``<relative path> <integer label>`` lines.

    Returns ``(paths, labels, line_numbers)``; raises :class:`DataPreparationError`
    naming ``file:line`` for a malformed line or a label out of range (with
    ``skip_bad`` such lines are appended to ``skipped`` instead).
    """
    path = Path(path)
    text = _read_text(path, "split file")
    paths, labels, lines = [], [], []
    for no, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        parts = line.rsplit(None, 1)
        problem = None
        if len(parts) != 2 or not re.fullmatch(r"[+-]?\d{1,18}", parts[1]):
            problem = (f"{path}:{no}: malformed line {raw!r} "
                       f"(expected '<relative image path> <integer label>')")
        else:
            label = int(parts[1])
            if label < 0 or (num_classes is not None and label >= num_classes):
                rng = f"0..{num_classes - 1}" if num_classes is not None else ">= 0"
                problem = f"{path}:{no}: label {label} out of range ({rng}) in line {raw!r}"
            elif not _safe_member_name(parts[0]):
                problem = f"{path}:{no}: image path {parts[0]!r} is absolute or contains '..'"
        if problem:
            if not skip_bad:
                raise DataPreparationError(problem)
            if skipped is not None:
                skipped.append({"split_file": str(path), "line": no, "reason": problem})
            continue
        paths.append(parts[0])
        labels.append(label)
        lines.append(no)
    return paths, np.asarray(labels, dtype=np.int64), np.asarray(lines, dtype=np.int64)


def _splitfile_source(train_list, val_list, test_list, image_root, class_names_file, skip_bad):
    if train_list is None:
        raise DataPreparationError("source splitfile needs --train-list (and usually --val-list, "
                                   "--test-list and --image-root)")
    lists = {"train": train_list, "val": val_list, "test": test_list}
    for k, v in lists.items():
        if v is not None and not Path(v).is_file():
            raise DataPreparationError(f"--{k}-list {v} does not exist")
    if image_root is None:
        raise DataPreparationError("split files name images relative to an image root, but no "
                                   "--image-root was given (the folder holding e.g. "
                                   "train/n01440764/...)")
    image_root = Path(image_root)
    if not image_root.is_dir():
        raise DataPreparationError(f"--image-root {image_root} does not exist or is not a directory")
    names, ids = (read_class_names(class_names_file) if class_names_file else (None, None))
    num_classes = len(names) if names is not None else None
    skipped = []
    parsed = {k: parse_split_file(v, num_classes, skip_bad, skipped)
              for k, v in lists.items() if v is not None}
    if num_classes is None:
        top = max((int(p[1].max()) for p in parsed.values() if len(p[1])), default=-1)
        seen = set(parsed["train"][1].tolist())
        if top + 1 > len(seen):
            k = next(k for k, p in parsed.items() if len(p[1]) and int(p[1].max()) == top)
            where = int(parsed[k][2][int(np.argmax(parsed[k][1]))])
            gaps = [str(c) for c in range(top + 1) if c not in seen][:10]
            raise DataPreparationError(
                f"{_display(lists[k])}:{where}: label {top} implies {top + 1} classes, but the "
                f"train list has images of only {len(seen)} (none of e.g. {', '.join(gaps)}); "
                f"pass --class-names or fix the labels")
        num_classes = top + 1
        names = [str(i) for i in range(num_classes)]
    warnings = []
    for k, (paths, labels, lines) in parsed.items():
        first = {}
        conflicts = {}
        for p, lab, no in zip(paths, labels.tolist(), lines.tolist()):
            if p in first and first[p][0] != lab:
                conflicts.setdefault(p, [first[p]]).append((lab, no))
            first.setdefault(p, (lab, no))
        if conflicts:
            listed = "; ".join(f"{_display(p)} at " + ", ".join(f"line {no} label {lab}"
                                                                  for lab, no in v)
                               for p, v in list(conflicts.items())[:10])
            warnings.append(f"{_display(lists[k])}: {len(conflicts)} image(s) listed with "
                            f"different labels (each copy is kept with its label): {listed}"
                            + (" ..." if len(conflicts) > 10 else ""))
            _warn(warnings[-1])
    h = hashlib.sha256()
    for k in ("train", "val", "test"):
        if lists[k] is not None:
            h.update(k.encode() + b"\0" + Path(lists[k]).read_bytes())
    splits = {}
    for k, (paths, labels, lines) in parsed.items():
        fetch = (lambda ps: (lambda i: (image_root / ps[i]).read_bytes()))(paths)
        desc = (lambda ps, ls, f: (lambda i: f"{image_root / ps[i]} ({f}:{ls[i]})"))(
            paths, lines, lists[k])
        splits[k] = _SourceSplit(labels, fetch, desc, source_index=lines - 1,
                                 origin=str(lists[k]))
    src = _Source("splitfile", image_root, names, splits,
                  checksum={"algo": "sha256-of-split-files", "value": h.hexdigest()},
                  encoded=True, default_storage="encoded", skipped=skipped, warnings=warnings,
                  notes={"split_files": {k: str(v) for k, v in lists.items() if v is not None},
                         "source_index": "0-based line number in the split file"})
    if ids is not None:
        src.notes["class_ids"] = ids
    return src


# --------------------------------------------------------------------------- hugging face

def _hf_source(input_path, hf_name, hf_config, image_column, label_column, progress):
    try:
        import datasets
    except ImportError as e:
        raise DataPreparationError("source hf needs the 'datasets' package (pip install datasets)") from e
    if input_path is None and hf_name is None:
        raise DataPreparationError("source hf needs --input <saved dataset / data dir> or --hf-name")
    try:
        if input_path is not None:
            p = Path(input_path)
            if not p.exists():
                raise DataPreparationError(f"hf input {p} does not exist")
            if p.is_dir() and ((p / "dataset_dict.json").exists() or (p / "state.json").exists()):
                ds, how = datasets.load_from_disk(str(p)), "load_from_disk"
            elif p.is_file() and p.suffix == ".parquet":
                ds, how = datasets.load_dataset("parquet", data_files=str(p)), "parquet"
            elif p.is_dir() and any(p.rglob("*.parquet")):
                ds, how = datasets.load_dataset("parquet", data_dir=str(p)), "parquet"
            else:
                ds, how = datasets.load_dataset("imagefolder", data_dir=str(p)), "imagefolder"
            location = p
        else:
            ds, how = datasets.load_dataset(hf_name, hf_config), "hub"
            location = hf_name
    except DataPreparationError:
        raise
    except Exception as e:   # datasets raises many types (connection, file-not-found...)
        raise DataPreparationError(f"cannot load the Hugging Face dataset "
                                   f"{input_path or hf_name}: {type(e).__name__}: {e}") from e
    if isinstance(ds, datasets.Dataset):
        ds = datasets.DatasetDict({"train": ds})
    name_map = {"train": "train", "test": "test", "validation": "val", "val": "val", "valid": "val"}
    parts = {name_map[k]: v for k, v in ds.items() if k in name_map}
    if "train" not in parts:
        raise DataPreparationError(f"Hugging Face dataset {location} has no 'train' split "
                                   f"(splits: {', '.join(ds.keys())})")
    features = parts["train"].features
    if image_column is None:
        image_column = next((c for c in ("img", "image") if c in features),
                            next((c for c, f in features.items()
                                  if isinstance(f, datasets.Image)), None))
    if image_column is None or image_column not in features:
        raise DataPreparationError(f"Hugging Face dataset {location}: no image column "
                                   f"(columns: {', '.join(features)}); pass --hf-image-column")
    if label_column is None:
        label_column = next((c for c in ("label", "fine_label", "labels") if c in features),
                            next((c for c, f in features.items()
                                  if isinstance(f, datasets.ClassLabel)), None))
    if label_column is None or label_column not in features:
        raise DataPreparationError(f"Hugging Face dataset {location}: no label column "
                                   f"(columns: {', '.join(features)}); pass --hf-label-column")
    label_feature = features[label_column]
    if isinstance(label_feature, datasets.ClassLabel):
        names = list(label_feature.names)
    else:
        top = max(int(np.max(np.asarray(d[label_column]))) for d in parts.values() if len(d))
        names = [str(i) for i in range(top + 1)]
    is_image = isinstance(features[image_column], datasets.Image)

    splits = {}
    for k, d in parts.items():
        labels = np.asarray(d[label_column], dtype=np.int64)
        if is_image:
            d = d.cast_column(image_column, datasets.Image(decode=False))

        def fetch(i, d=d):
            v = d[int(i)][image_column]
            if is_image:
                if v.get("bytes") is not None:
                    return v["bytes"]
                if v.get("path"):
                    return Path(v["path"]).read_bytes()
                raise ValueError("image has neither bytes nor path")
            return np.asarray(v)

        splits[k] = _SourceSplit(labels, fetch, (lambda k: lambda i: f"{location} [{k}][{i}]")(k),
                                 origin=f"{location} ({k})")
    fp = getattr(parts["train"], "_fingerprint", None)
    return _Source("hf", location, names, splits, encoded=True,
                   checksum={"algo": "hf-fingerprint", "value": fp} if fp else None,
                   notes={"loader": how, "image_column": image_column,
                          "label_column": label_column,
                          "source_index": "row of the Hugging Face split"})


# --------------------------------------------------------------------------- digits

def _digits_source(seed):
    try:
        from sklearn.datasets import load_digits
    except ImportError as e:
        raise DataPreparationError("source digits needs scikit-learn (pip install scikit-learn)") from e
    d = load_digits()
    grey = np.rint(np.asarray(d.images, dtype=np.float64) * (255.0 / 16.0)).clip(0, 255)
    scale = DIGITS_SIZE // 8
    grey = grey.astype(np.uint8).repeat(scale, axis=1).repeat(scale, axis=2)  # nearest upsample
    images = np.repeat(grey[..., None], 3, axis=3)
    target = np.asarray(d.target, dtype=np.int64)
    # deterministic stratified split: per class (official order), a seeded permutation;
    # the first round(n/3) go to test, the rest form the train pool (kept in source order)
    rng = np.random.default_rng(seed)
    train_idx, test_idx = [], []
    for c in range(10):
        idx = np.where(target == c)[0]
        perm = rng.permutation(idx)
        k = int(round(len(idx) / 3))
        test_idx.append(np.sort(perm[:k]))
        train_idx.append(np.sort(perm[k:]))
    train_idx = np.sort(np.concatenate(train_idx))
    test_idx = np.sort(np.concatenate(test_idx))

    def split(idx, name):
        return _SourceSplit(target[idx], lambda i: images[idx[i]],
                            lambda i: f"sklearn digits [{idx[i]}]", source_index=idx,
                            origin=f"sklearn.datasets.load_digits ({name})")

    checksum = {"algo": "sha256", "value": hashlib.sha256(
        np.ascontiguousarray(d.images, dtype=np.float64).tobytes()
        + np.ascontiguousarray(target).tobytes()).hexdigest()}
    return _Source("digits", "sklearn.datasets.load_digits", [str(i) for i in range(10)],
                   {"train": split(train_idx, "train"), "test": split(test_idx, "test")},
                   checksum=checksum, default_storage="raw",
                   notes={"digits": f"8x8 grey 0..16 -> {DIGITS_SIZE}x{DIGITS_SIZE} RGB uint8 "
                                    f"(x255/16, nearest upsampling); stratified split with "
                                    f"np.random.default_rng({seed}): 1/3 of each class to test"})


# --------------------------------------------------------------------------- writer

class _SplitWriter:
    """Writes one split; keeps raw pixels while all images share one size and,
    when ``keep_bytes``, the encoded bytes as well (the choice is made at the end)."""

    def __init__(self, directory, name, n, keep_bytes, want_raw, stats):
        self.dir = Path(directory) / name
        self.dir.mkdir(parents=True)
        self.name = name
        self.n = n
        self.k = 0
        self.labels = []
        self.source_index = []
        self.keep_bytes = keep_bytes
        self.bin = open(self.dir / "images.bin", "wb") if keep_bytes else None
        self.offsets = [0]
        self.raw = None
        self.shape = None
        self.uniform = want_raw
        self.stats = stats   # [sum of per-image means (3), of mean squares (3), images]

    def add(self, label, source_index, arr, data):
        if self.uniform:
            if self.raw is None:
                from numpy.lib.format import open_memmap

                self.shape = arr.shape
                self.raw = open_memmap(self.dir / "images.npy", mode="w+", dtype=np.uint8,
                                       shape=(self.n,) + arr.shape)
            if arr.shape != self.shape:
                self.uniform = False
                self._drop_raw()
            else:
                self.raw[self.k] = arr
        if not self.uniform and not self.keep_bytes:
            raise DataPreparationError(
                f"images of split {self.name!r} differ in size ({self.shape} vs {arr.shape}) and "
                f"this source has no encoded bytes to store")
        if self.bin is not None:
            if data is None:
                data = _png_bytes(arr)
            self.bin.write(data)
            self.offsets.append(self.offsets[-1] + len(data))
        if self.stats is not None:    # every image weighs the same, whatever its size
            f = arr.reshape(-1, 3).astype(np.float64)
            self.stats[0] += f.mean(axis=0)
            self.stats[1] += np.einsum("ij,ij->j", f, f) / f.shape[0]
            self.stats[2] += 1
        self.labels.append(int(label))
        self.source_index.append(int(source_index))
        self.k += 1

    def _drop_raw(self):
        if self.raw is not None:
            del self.raw
            self.raw = None
        (self.dir / "images.npy").unlink(missing_ok=True)

    def close_files(self):
        if self.bin is not None:
            self.bin.close()
        if self.raw is not None:
            self.raw.flush()

    def finalize(self, storage, shape):
        np.save(self.dir / "labels.npy", np.asarray(self.labels, dtype=np.int64))
        np.save(self.dir / "source_index.npy", np.asarray(self.source_index, dtype=np.int64))
        if storage == "raw":
            if self.raw is None:
                np.save(self.dir / "images.npy", np.zeros((self.k,) + tuple(shape), np.uint8))
            elif self.k != self.n:   # some images were skipped: copy the filled rows
                from numpy.lib.format import open_memmap

                out = open_memmap(self.dir / "images.tmp.npy", mode="w+", dtype=np.uint8,
                                  shape=(self.k,) + tuple(shape))
                out[:] = self.raw[:self.k]
                out.flush()
                del out
                self._drop_raw()
                os.replace(self.dir / "images.tmp.npy", self.dir / "images.npy")
            else:
                del self.raw
                self.raw = None
            (self.dir / "images.bin").unlink(missing_ok=True)
        else:
            self._drop_raw()
            np.save(self.dir / "offsets.npy", np.asarray(self.offsets, dtype=np.int64))


def _write_split(tmp, name, src, order, keep_bytes, want_raw, stats, skip_bad, skipped, progress,
                 max_pixels=None, counts=None):
    """Decode and write the images ``order`` of ``src``; ``counts`` (a dict) collects
    how many were grayscale / 16-bit."""
    w = _SplitWriter(tmp, name, len(order), keep_bytes, want_raw, stats)
    try:
        for j in _progress(order, progress, desc=f"write {name}", unit=" img"):
            j = int(j)
            details = {}
            try:
                data = src.fetch(j)
                arr = decode_image(data, max_pixels=max_pixels, details=details)
            except DataPreparationError:
                raise
            except Exception as e:   # unreadable / corrupt image: any decoder error
                why = str(e) if isinstance(e, ImageDecodeError) else f"{type(e).__name__}: {e}"
                msg = f"cannot read image {src.describe(j)}: {why}"
                if not skip_bad:
                    raise DataPreparationError(msg) from e
                skipped.append({"split": name, "source_index": int(src.source_index[j]),
                                "item": src.describe(j), "reason": msg})
                continue
            if counts is not None:
                counts["images"] = counts.get("images", 0) + 1
                for key in ("grayscale", "scaled_16bit"):
                    counts[key] = counts.get(key, 0) + bool(details.get(key))
            # 16-bit sources are stored re-encoded as 8-bit PNG, so that every reader
            # sees the scaled pixels
            keep_source = (isinstance(data, (bytes, bytearray, memoryview))
                           and not details.get("scaled_16bit"))
            w.add(src.labels[j], src.source_index[j], arr, bytes(data) if keep_source else None)
    finally:
        w.close_files()
    return w


# --------------------------------------------------------------------------- main API

def _resolve_storage(requested, writers):
    shapes = {w.shape for w in writers if w.k}
    uniform = all(w.uniform for w in writers) and len(shapes) <= 1
    if requested == "raw" and not uniform:
        raise DataPreparationError(f"--storage raw needs images of one size; found sizes "
                                   f"{sorted(shapes)} or mixed sizes within a split")
    if requested == "encoded" or not uniform:
        missing = [w.name for w in writers if not w.keep_bytes]
        if missing:
            raise DataPreparationError(f"cannot store split(s) {missing} encoded")
        return "encoded", None
    shape = next(iter(shapes)) if shapes else None
    return "raw", shape


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
    _remove_stale_temporaries(output)

    if source in ("cifar10", "cifar100"):
        src = _cifar_source(source, input, download, cache_dir, expected_md5, progress)
    elif source == "imagefolder":
        if input is None:
            raise DataPreparationError("source imagefolder needs --input <directory or .tar[.gz]>")
        src = _imagefolder_source(input, train_split, test_split, val_split, progress,
                                  follow_symlinks)
    elif source == "splitfile":
        src = _splitfile_source(train_list, val_list, test_list, image_root, class_names, skip_bad)
    elif source == "hf":
        src = _hf_source(input, hf_name, hf_config, hf_image_column, hf_label_column, progress)
    else:
        src = _digits_source(seed)

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

    # ---- long-tailed selection and validation split
    official_val = "val" in src.splits
    lt_info = None
    val_info = {}
    val_order = None
    if imbalance_factor is not None:
        if n_max is None:
            n_max = int(pool.min())
            if source == "digits" and not official_val:
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
    else:
        train_order = np.arange(len(train), dtype=np.int64)

    if official_val:
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

    for w in warnings[len(src.warnings):]:
        _warn(w)

    # ---- write everything into a temp dir, then move it into place
    output.parent.mkdir(parents=True, exist_ok=True)
    tmp = output.parent / f"{output.name}.tmp-{os.getpid()}"
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir()
    try:
        skipped = list(src.skipped)
        keep_bytes = src.encoded and storage != "raw"
        want_raw = storage != "encoded" and (src.default_storage != "encoded" or storage == "raw")
        if storage == "encoded" and not src.encoded:
            keep_bytes = True      # arrays are stored as PNG
        stats = [np.zeros(3), np.zeros(3), 0]
        plan = [("train", train, train_order, stats)]
        if val_order is not None:
            plan.append(("val", src.splits["val"] if official_val else train, val_order, None))
        if "test" in src.splits:
            plan.append(("test", src.splits["test"], np.arange(len(src.splits["test"])), None))
        counts = {}
        writers = [_write_split(tmp, n, s, o, keep_bytes, want_raw, st, skip_bad, skipped,
                                progress, max_pixels=max_pixels, counts=counts)
                   for n, s, o, st in plan]
        if writers[0].k == 0:
            raise DataPreparationError("no readable training image")
        kind, shape = _resolve_storage(storage, writers)
        for w in writers:
            w.finalize(kind, shape)

        n_images = stats[2]
        mean = stats[0] / n_images / 255.0
        var = stats[1] / n_images / (255.0 ** 2) - mean ** 2
        std = np.sqrt(np.maximum(var, 0.0))
        split_meta = {}
        for w in writers:
            per = np.bincount(np.asarray(w.labels, dtype=np.int64), minlength=num_classes)
            split_meta[w.name] = {"count": int(w.k), "per_class": [int(v) for v in per]}
        train_counts = split_meta["train"]["per_class"]
        empty = [src.class_names[c] for c in range(num_classes) if train_counts[c] == 0]
        if empty:
            raise DataPreparationError(f"after skipping bad images, class(es) have no training "
                                       f"images: {', '.join(empty[:20])}")
        if command is None:
            command = f"keras_lt.data.prepare.prepare_dataset({source!r}, {str(output)!r}, ...)"
        meta = {
            "format_version": FORMAT_VERSION,
            "name": name or output.name,
            "num_classes": num_classes,
            "class_names": src.class_names,
            "image_size": None if shape is None else [int(shape[0]), int(shape[1])],
            "storage": kind,
            "splits": split_meta,
            "train_counts": train_counts,
            "mean": [round(float(v), 6) for v in mean],
            "std": [round(float(v), 6) for v in std],
            "val": val_info,
            "longtail": lt_info,
            "provenance": {
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
            },
        }
        with open(tmp / "meta.json", "w", encoding="utf-8") as f:
            json.dump(meta, f, indent=1)
            f.write("\n")
        if skipped:
            with open(tmp / "skipped.json", "w", encoding="utf-8") as f:
                json.dump({"count": len(skipped), "items": skipped}, f, indent=1)
                f.write("\n")
        old = None
        if output.exists():
            old = output.parent / f"{output.name}.old-{os.getpid()}"
            os.replace(output, old)
        os.replace(tmp, output)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if counts.get("grayscale"):
        _note(f"{counts['grayscale']} of {counts['images']} image(s) were grayscale and were "
              f"converted to RGB (the channel repeated)")
    if counts.get("scaled_16bit"):
        _note(f"{counts['scaled_16bit']} image(s) had 16-bit samples, scaled to 8 bits "
              f"(value / 257)")
    ds = PreparedDataset(output)
    ds.skipped = skipped
    return ds
