"""The ``cifar10`` / ``cifar100`` source: the official python tarballs, verified
by MD5 (and downloaded when asked) before a restricted unpickler reads them from
the archive without extracting it."""

import io
import os
import pickle
import tarfile
from pathlib import Path, PurePosixPath

import numpy as np

from keras_lt.data.sources.base import (DataPreparationError, Source, SourceSplit, file_digest,
                                        open_tar, tar_members)

CIFAR_FILES = {
    "cifar10": {"file": "cifar-10-python.tar.gz", "md5": "c58f30108f718f92721af3b95e74349a",
                "url": "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"},
    "cifar100": {"file": "cifar-100-python.tar.gz", "md5": "eb9058c3a382ffc7106e4002c42a8d85",
                 "url": "https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz"},
}


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
    got = file_digest(tmp, "md5")
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


def cifar_source(kind, input_path, download, cache_dir, expected_md5, progress):
    info = CIFAR_FILES[kind]
    expected = (expected_md5 or info["md5"]).lower()
    if input_path is None:
        if not download:
            raise DataPreparationError(
                f"source {kind} needs --input <path to {info['file']}> or --download "
                f"(fetches {info['url']})")
        path = Path(cache_dir or _default_cache_dir()) / info["file"]
        if not path.is_file() or file_digest(path, "md5") != expected:
            _download(info["url"], path, expected, progress)
    else:
        path = Path(input_path)
        if not path.is_file():
            raise DataPreparationError(f"{kind} input {path} does not exist or is not a file")
    # The MD5 is checked before anything is unpickled, and the unpickler admits
    # only containers and numpy arrays: a file passed with its own --md5 is not
    # trusted to be the official one.
    got = file_digest(path, "md5")
    if got != expected:
        raise DataPreparationError(f"checksum mismatch for {path}: MD5 expected {expected}, got {got}")

    tf = open_tar(path)
    with tf:
        members = {m.name: m for m in tar_members(tf, path) if m.isfile()}

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
        return SourceSplit(labels, lambda i: images[i], lambda i: f"{path}:{split}[{i}]",
                           origin=f"{path} ({split})")

    splits = {"train": build(train_parts, "train"), "test": build(test_parts, "test")}
    return Source(kind, path, names, splits, checksum={"algo": "md5", "value": got},
                  default_storage="raw",
                  notes={"source_index": "row in the concatenated official batches "
                                         "(data_batch_1..5 / test_batch; train / test)"})
