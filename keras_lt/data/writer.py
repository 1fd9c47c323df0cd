"""Writer of the prepared format (see :mod:`keras_lt.data.dataset`): one split at a
time, raw pixels or encoded bytes (chosen once every split is read), in a temporary
directory moved into place at the end; temporaries of runs that died are removed."""

import io
import json
import os
import re
import shutil
from pathlib import Path

import numpy as np

from keras_lt.data.decode import ImageDecodeError, decode_image
from keras_lt.data.sources.base import DataPreparationError, display, note, progress_bar


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


def remove_stale_temporaries(output: Path) -> None:
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
        note(f"removed {display(p)}, left behind by an interrupted run (process {pid} "
             f"no longer runs)")


def make_temporary(output: Path) -> Path:
    """Create the empty folder ``<output>.tmp-<pid>`` that a preparation writes into."""
    output.parent.mkdir(parents=True, exist_ok=True)
    tmp = output.parent / f"{output.name}.tmp-{os.getpid()}"
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir()
    return tmp


def move_into_place(tmp: Path, output: Path) -> None:
    """Move the finished ``tmp`` to ``output``, replacing (and then removing) what was there."""
    old = None
    if output.exists():
        old = output.parent / f"{output.name}.old-{os.getpid()}"
        os.replace(output, old)
    os.replace(tmp, output)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def write_json(path: Path, obj) -> None:
    """``obj`` as indented UTF-8 JSON with a final newline."""
    with open(path, "w", encoding="utf-8") as f:
        json.dump(obj, f, indent=1)
        f.write("\n")


def _png_bytes(arr):
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="PNG")
    return buf.getvalue()


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


def write_split(tmp, name, src, order, keep_bytes, want_raw, stats, skip_bad, skipped, progress,
                max_pixels=None, counts=None):
    """Decode and write the images ``order`` of ``src``; ``counts`` (a dict) collects
    how many were grayscale / 16-bit."""
    w = _SplitWriter(tmp, name, len(order), keep_bytes, want_raw, stats)
    try:
        for j in progress_bar(order, progress, desc=f"write {name}", unit=" img"):
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


def resolve_storage(requested, writers):
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
