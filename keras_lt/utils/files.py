"""File helpers: hashing, and writing a file so that readers see the old one or the new one,
never half of one (the run checkpoint, reports, plots, pretrained folders)."""

import hashlib
import json
import os
from pathlib import Path


def file_sha256(path):
    """Hex SHA-256 of a file (read in 1 MiB blocks)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def replace_atomically(path, write, mode=None):
    """``write(tmp)`` for a temporary sibling of ``path`` (same suffixes, so writers that
    look at them, like matplotlib's ``savefig`` or Keras' ``save_weights``, work), its data
    flushed to disk, then one ``os.replace`` onto ``path``; the temporary is removed when
    ``write`` fails. ``mode``: permission bits for the new file."""
    path = Path(path)
    suffix = "".join(path.suffixes)
    tmp = path.with_name(f".{path.name[:len(path.name) - len(suffix)]}.tmp-{os.getpid()}{suffix}")
    try:
        write(tmp)
        fsync_file(tmp)
        if mode is not None:
            os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def atomic_write_text(path, text, mode=None):
    """Write ``text`` to ``path`` through :func:`replace_atomically`."""
    replace_atomically(path, lambda tmp: Path(tmp).write_text(text), mode)


def atomic_write_json(path, data, mode=None):
    """``data`` as indented JSON (and a final newline) through :func:`atomic_write_text`."""
    atomic_write_text(path, json.dumps(data, indent=2) + "\n", mode)


def fsync_file(path):
    """Flush a written file's data to disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
