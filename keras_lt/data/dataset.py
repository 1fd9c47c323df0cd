"""Reader of the prepared dataset format written by :mod:`keras_lt.data.prepare`.

A prepared dataset is a directory::

    meta.json                 # see keras_lt.data.prepare for the fields
    <split>/labels.npy        # int64 (N,)
    <split>/source_index.npy  # int64 (N,): index of each image in the original source
    <split>/images.npy        # storage "raw": uint8 (N, H, W, 3), memory-mapped
    <split>/images.bin        # storage "encoded": the JPEG/PNG bytes as in the source,
    <split>/offsets.npy       #   concatenated; int64 (N + 1,) byte offsets

No deep-learning framework is imported here.
"""

import io
import json
from pathlib import Path

import numpy as np

__all__ = ["PreparedDataset", "Split", "DatasetError", "FORMAT_VERSION"]

FORMAT_VERSION = 1


class DatasetError(ValueError):
    """A prepared dataset is missing, incomplete or malformed."""


def _load_npy(path, mmap=True):
    if not path.is_file():
        raise DatasetError(f"prepared dataset file {path} is missing")
    try:
        return np.load(path, mmap_mode="r" if mmap else None, allow_pickle=False)
    except (ValueError, OSError) as e:
        raise DatasetError(f"cannot read {path}: {e}") from e


class Split:
    """One split (``train``, ``val``, ``test``...) of a :class:`PreparedDataset`.

    ``labels`` and ``source_index`` are int64 arrays (memory-mapped);
    :meth:`get_image` returns a uint8 (H, W, 3) RGB array and :meth:`get_batch`
    a uint8 (B, H, W, 3) array (fixed-size storage) or a list of arrays.
    """

    def __init__(self, dataset, name):
        self.dataset = dataset
        self.name = name
        self.path = Path(dataset.path) / name
        if not self.path.is_dir():
            raise DatasetError(f"split directory {self.path} is missing")
        self.labels = _load_npy(self.path / "labels.npy")
        self.source_index = _load_npy(self.path / "source_index.npy")
        n = len(self.labels)
        if len(self.source_index) != n:
            raise DatasetError(f"{self.path}: source_index.npy has {len(self.source_index)} "
                               f"entries but labels.npy has {n}")
        self.storage = dataset.storage
        self._bin = None
        if self.storage == "raw":
            self.images = _load_npy(self.path / "images.npy")
            if self.images.ndim != 4 or self.images.shape[0] != n or self.images.shape[3] != 3 \
                    or self.images.dtype != np.uint8:
                raise DatasetError(f"{self.path / 'images.npy'}: expected uint8 ({n}, H, W, 3), "
                                   f"got {self.images.dtype} {self.images.shape}")
            self.offsets = None
        elif self.storage == "encoded":
            self.images = None
            self.offsets = _load_npy(self.path / "offsets.npy", mmap=False).astype(np.int64)
            if self.offsets.shape != (n + 1,):
                raise DatasetError(f"{self.path / 'offsets.npy'}: expected {n + 1} offsets, "
                                   f"got shape {self.offsets.shape}")
            bin_path = self.path / "images.bin"
            if not bin_path.is_file():
                raise DatasetError(f"prepared dataset file {bin_path} is missing")
            size = bin_path.stat().st_size
            if int(self.offsets[-1]) != size:
                raise DatasetError(f"{bin_path}: size {size} does not match offsets.npy "
                                   f"(last offset {int(self.offsets[-1])})")
            self._bin_path = bin_path
        else:
            raise DatasetError(f"{dataset.path}: unknown storage {self.storage!r} in meta.json")

    def __len__(self):
        return int(len(self.labels))

    def __repr__(self):
        return f"Split({self.name!r}, n={len(self)}, storage={self.storage!r})"

    @property
    def counts(self):
        """Images per class in this split (int64 array of length ``num_classes``)."""
        return np.bincount(np.asarray(self.labels), minlength=self.dataset.num_classes).astype(np.int64)

    def _check_index(self, i):
        n = len(self)
        i = int(i)
        if i < 0:
            i += n
        if not 0 <= i < n:
            raise IndexError(f"image index {i} out of range for split {self.name!r} of {n} images")
        return i

    def get_bytes(self, i):
        """The encoded bytes of image ``i`` (storage ``"encoded"`` only)."""
        if self.storage != "encoded":
            raise DatasetError(f"split {self.name!r} stores raw pixels, not encoded bytes")
        i = self._check_index(i)
        if self._bin is None:
            self._bin = np.memmap(self._bin_path, dtype=np.uint8, mode="r")
        return bytes(self._bin[int(self.offsets[i]):int(self.offsets[i + 1])])

    def get_image(self, i):
        """Image ``i`` as a uint8 (H, W, 3) RGB array."""
        i = self._check_index(i)
        if self.storage == "raw":
            return np.asarray(self.images[i])
        from PIL import Image

        data = self.get_bytes(i)
        try:
            with Image.open(io.BytesIO(data)) as im:
                return np.asarray(im.convert("RGB"), dtype=np.uint8)
        except Exception as e:
            raise DatasetError(f"{self._bin_path}: cannot decode image {i}: {e}") from e

    def get_batch(self, indices):
        """Images at ``indices``: uint8 (B, H, W, 3) for raw storage, else a list of arrays."""
        indices = np.asarray(indices, dtype=np.int64).reshape(-1)
        if self.storage == "raw":
            n = len(self)
            if indices.size and (indices.min() < -n or indices.max() >= n):
                raise IndexError(f"image index out of range for split {self.name!r} of {n} images")
            return np.asarray(self.images[indices])   # one gather from the memmap
        return [self.get_image(i) for i in indices]


class PreparedDataset:
    """A dataset prepared by ``tools/prepare_data.py`` (see :mod:`keras_lt.data.prepare`).

    Attributes: ``path``, ``meta`` (the parsed ``meta.json``), ``name``,
    ``class_names``, ``num_classes``, ``train_counts`` (int64 per-class counts of
    the train split), ``mean`` / ``std`` (per-channel, 0-1 scale, of the train
    split), ``image_size`` (``(H, W)`` or ``None`` when sizes vary), ``storage``
    and ``splits`` (names); :meth:`split` opens one split.
    """

    def __init__(self, path):
        self.path = Path(path)
        if not self.path.exists():
            raise DatasetError(f"prepared dataset {self.path} does not exist "
                               f"(create it with tools/prepare_data.py)")
        if not self.path.is_dir():
            raise DatasetError(f"prepared dataset {self.path} is not a directory")
        meta_path = self.path / "meta.json"
        if not meta_path.is_file():
            raise DatasetError(f"{self.path} has no meta.json: not a prepared dataset "
                               f"(create one with tools/prepare_data.py)")
        try:
            with open(meta_path, encoding="utf-8") as f:
                self.meta = json.load(f)
        except (OSError, ValueError) as e:
            raise DatasetError(f"cannot read {meta_path}: {e}") from e
        if not isinstance(self.meta, dict):
            raise DatasetError(f"{meta_path}: expected a JSON object")
        version = self.meta.get("format_version")
        if version != FORMAT_VERSION:
            raise DatasetError(f"{meta_path}: unsupported format_version {version!r} "
                               f"(this keras_lt reads version {FORMAT_VERSION})")
        try:
            self.name = self.meta.get("name") or self.path.name
            self.class_names = [str(c) for c in self.meta["class_names"]]
            self.num_classes = int(self.meta["num_classes"])
            self.train_counts = np.asarray(self.meta["train_counts"], dtype=np.int64)
            self.mean = [float(v) for v in self.meta["mean"]]
            self.std = [float(v) for v in self.meta["std"]]
            size = self.meta.get("image_size")
            self.image_size = None if size is None else (int(size[0]), int(size[1]))
            self.storage = self.meta.get("storage", "raw")
            self.splits = list(self.meta["splits"])
        except (KeyError, TypeError, ValueError, IndexError) as e:
            raise DatasetError(f"{meta_path}: missing or malformed field ({e!r})") from e
        if len(self.class_names) != self.num_classes or self.train_counts.size != self.num_classes:
            raise DatasetError(f"{meta_path}: num_classes {self.num_classes} does not match "
                               f"class_names ({len(self.class_names)}) / train_counts "
                               f"({self.train_counts.size})")
        self._splits = {}

    def __repr__(self):
        return (f"PreparedDataset({str(self.path)!r}, classes={self.num_classes}, "
                f"splits={ {s: self.meta['splits'][s].get('count') for s in self.splits} })")

    def split(self, name):
        """The :class:`Split` called ``name`` (cached)."""
        if name not in self.splits:
            raise DatasetError(f"prepared dataset {self.path} has no split {name!r}; "
                               f"available: {', '.join(self.splits) or 'none'}")
        if name not in self._splits:
            self._splits[name] = Split(self, name)
        return self._splits[name]

    def has_split(self, name):
        return name in self.splits

    def __getitem__(self, name):
        return self.split(name)


def load_data(cfg):
    """Open the prepared dataset a recipe names (``cfg['data']['prepared']``) with the
    recipe's normalisation and input size; return ``(dataset, mean, std, image_shape)``.
    The recipe's ``data.mean``/``data.std``/``data.image_size`` override the dataset's
    (a note says so when the statistics differ); raises :class:`DatasetError` when the
    dataset is missing or its images have no fixed size."""
    path = cfg["data"].get("prepared")
    if not path:
        raise DatasetError("the recipe names no prepared dataset: set data.prepared=<dir> "
                           "(make one with tools/prepare_data.py)")
    if not Path(path).exists():
        raise DatasetError(f"prepared dataset {path!r} does not exist; create it with "
                           f"tools/prepare_data.py (see README)")
    ds = PreparedDataset(path)
    mean = cfg["data"].get("mean") or list(ds.mean)
    std = cfg["data"].get("std") or list(ds.std)
    note = statistics_note(mean, std, ds.mean, ds.std)
    if note:
        print(note, flush=True)
    size = cfg["data"].get("image_size") or ds.meta.get("image_size")
    if not size:
        raise DatasetError(f"{path}: images have no fixed size; set data.image_size=[H, W]")
    return ds, mean, std, (int(size[0]), int(size[1]), 3)


def data_facts(ds, mean, std, image_shape):
    """What a model is trained on, recorded in a run's ``state.json`` (``data``) and read by
    export and evaluation: class names and training counts of ``ds``, the normalisation
    and the input shape :func:`load_data` resolved."""
    return {"class_names": list(ds.class_names), "class_counts": [int(c) for c in ds.train_counts],
            "mean": [float(m) for m in mean], "std": [float(s) for s in std],
            "image_shape": [int(v) for v in image_shape]}


def statistics_note(mean, std, data_mean, data_std, tolerance=0.01):
    """One line when the normalisation in use (the recipe's ``data.mean``/``data.std``)
    differs from the dataset's own statistics by more than ``tolerance``; else ``None``."""
    gap = max(float(np.max(np.abs(np.subtract(mean, data_mean)))),
              float(np.max(np.abs(np.subtract(std, data_std)))))
    if gap <= tolerance:
        return None
    fmt = lambda v: "[" + ", ".join(f"{float(x):.4f}" for x in v) + "]"   # noqa: E731
    return (f"note: normalising with the recipe's data.mean={fmt(mean)} data.std={fmt(std)}, "
            f"not this dataset's own mean {fmt(data_mean)} std {fmt(data_std)} (--set "
            f"data.mean=null --set data.std=null uses the dataset's)")
