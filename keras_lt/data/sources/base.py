"""What the dataset sources share: the source records (:class:`Source`,
:class:`SourceSplit`), :class:`DataPreparationError`, stderr progress / note /
warning helpers, file digests and safe reading of tar archives."""

import hashlib
import os
import re
import sys
import tarfile
from pathlib import PurePosixPath

import numpy as np


class DataPreparationError(ValueError):
    """Bad input for data preparation (message is meant for the user as is)."""


class BadItem(Exception):
    """One unreadable image or unusable entry (skippable with ``skip_bad``)."""


def progress_bar(iterable, progress, **kw):
    if not progress:
        return iterable
    from tqdm import tqdm

    return tqdm(iterable, **kw)


def note(msg: str) -> None:
    print(f"note: {msg}", file=sys.stderr)


def warn(msg: str) -> None:
    print(f"warning: {msg}", file=sys.stderr)


def display(path) -> str:
    """``path`` as printable text: bytes that are not UTF-8 appear as ``\\xNN``."""
    return os.fsencode(path).decode("utf-8", "backslashreplace")


def file_digest(path, algo):
    h = hashlib.new(algo)
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def safe_member_name(name):
    p = PurePosixPath(name)
    return not (name.startswith("/") or p.is_absolute() or ".." in p.parts or re.match(r"^[A-Za-z]:", name))


def open_tar(path):
    try:
        tf = tarfile.open(path, "r:*")
    except (tarfile.TarError, OSError, EOFError) as e:
        raise DataPreparationError(f"cannot open archive {path}: {e}") from e
    return tf


def tar_members(tf, path):
    """All members, refusing absolute names or names with '..' (nothing is extracted)."""
    try:
        members = tf.getmembers()
    except (tarfile.TarError, OSError, EOFError) as e:
        raise DataPreparationError(f"cannot read archive {path}: {e}") from e
    for m in members:
        if not safe_member_name(m.name):
            raise DataPreparationError(f"archive {path} has an unsafe member name {m.name!r} "
                                       f"(absolute or containing '..'); refusing to read it")
    return members


class SourceSplit:
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


class Source:
    """A source read for preparation: its class names, its splits and what
    ``meta.json`` records about it."""

    def __init__(self, kind, location, class_names, splits, checksum=None, encoded=False,
                 default_storage="auto", skipped=(), notes=None, warnings=()):
        self.kind = kind
        self.location = str(location)
        self.class_names = list(class_names)
        self.splits = splits               # {"train": SourceSplit, "test": ..., "val": ...}
        self.checksum = checksum           # {"algo": ..., "value": ...} or None
        self.encoded = encoded             # fetch returns encoded bytes
        self.default_storage = default_storage
        self.skipped = list(skipped)
        self.notes = notes or {}
        self.warnings = list(warnings)     # already printed; recorded in meta.json
