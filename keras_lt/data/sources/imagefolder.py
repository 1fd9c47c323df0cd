"""The ``imagefolder`` source: a ``<root>/<split>/<class>/<image>`` tree, as a
directory or a tar archive read without extraction."""

import hashlib
import os
import sys
import tarfile
from pathlib import Path, PurePosixPath

from keras_lt.data.sources.base import (DataPreparationError, Source, SourceSplit, display,
                                        file_digest, open_tar, progress_bar, safe_member_name)

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff", ".ppm")


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
            raise DataPreparationError(f"cannot list folder {display(here)}: {e}") from e
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
                        f"{display(path)}: {'folder' if is_dir else 'file'} "
                        f"'{display('/'.join(parts))}' is a symbolic link to "
                        f"{display(target)}, outside the tree; pass --follow-symlinks to "
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


def imagefolder_source(input_path, train_split, test_split, val_split, progress,
                       follow_symlinks=False):
    path = Path(input_path)
    if not path.exists():
        raise DataPreparationError(f"imagefolder input {display(path)} does not exist")
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
                raise DataPreparationError(f"cannot read {display(files[parts])}: {e}") from e
            h.update(os.fsencode("/".join(parts)) + b"\t" + str(size).encode() + b"\n")
        checksum = {"algo": "sha256-of-listing", "value": h.hexdigest()}
        data_of = None
    elif tarfile.is_tarfile(path):
        kind_desc = "archive"
        checksum = {"algo": "sha256", "value": file_digest(path, "sha256")}
        data_of = {}
        tf = open_tar(path)
        with tf:
            for m in progress_bar(tf, progress, desc=f"read {path.name}", unit=" members"):
                if not safe_member_name(m.name):
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
        if display(c) != c:
            folder = display("/".join(prefix + (train_split, c)))
            raise DataPreparationError(
                f"{display(path)}: class folder '{folder}' has a name that is not valid "
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
                where = display("/".join(folder))
                others = sum(1 for f in files if len(f) == len(folder) + 1
                             and f[:len(folder)] == folder)
                subdirs = sum(1 for d in dirs if len(d) == len(folder) + 1
                              and d[:len(folder)] == folder)
                what = (f"it holds {others} other file(s) / {subdirs} subfolder(s); images "
                        f"must sit directly in it and end in {', '.join(IMAGE_EXTENSIONS)}"
                        if others or subdirs else "it is empty")
                raise DataPreparationError(f"{display(path)}: class folder '{where}' has no "
                                           f"images ({what})")
            keys.extend(items)
            labels.extend([index[c]] * len(items))
        desc = (lambda ks: (lambda i: display(files[ks[i]])))(keys)
        splits[out_name] = SourceSplit(labels, fetch_factory(keys), desc,
                                       origin=f"{path} ({'/'.join(prefix + (split,))})")
    return Source("imagefolder", path, class_names, splits, checksum=checksum, encoded=True,
                  notes={"layout": f"{kind_desc}, root '{root_desc or '.'}', splits "
                                   f"{sorted(s for s in top)}",
                         "source_index": "position in the split's (class, file name) order"})
