"""The ``splitfile`` source: ImageNet-LT / iNaturalist-2018 / Places-LT style
``<relative path> <integer label>`` list files, an image root and an optional
class-names file."""

import hashlib
import re
from pathlib import Path

import numpy as np

from keras_lt.data.sources.base import (DataPreparationError, Source, SourceSplit, display,
                                        note, safe_member_name, warn)

_WNID = re.compile(r"^n\d{8}$")


def _read_text(path: Path, what: str) -> str:
    """UTF-8 text of ``path``; an error names the file and the line of a bad byte."""
    try:
        data = path.read_bytes()
    except OSError as e:
        raise DataPreparationError(f"cannot read {what} {display(path)}: {e}") from e
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = data[:e.start].count(b"\n") + 1
        raise DataPreparationError(f"{display(path)}:{line}: {what} is not UTF-8 text (byte "
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
        raise DataPreparationError(f"class-names file {display(path)} is empty")
    split = [ln.split(None, 1) for ln in lines]
    if all(len(s) == 2 and (_WNID.match(s[0]) or s[0].isdigit()) for s in split):
        return [s[1].strip() for s in split], [s[0] for s in split]
    tokens = [ln.split() for ln in lines]
    if all(len(t) == 2 and t[0] == t[1] for t in tokens):
        note(f"class-names file {display(path)} has '<name> <name>' lines (e.g. "
             f"{lines[0]!r}); using the name once")
        return [t[0] for t in tokens], None
    if all(len(t) == 2 and re.fullmatch(r"\d{1,9}", t[1]) for t in tokens) \
            and sorted(int(t[1]) for t in tokens) == list(range(len(tokens))):
        note(f"class-names file {display(path)} has '<name> <class id>' lines (e.g. "
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
            elif not safe_member_name(parts[0]):
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


def splitfile_source(train_list, val_list, test_list, image_root, class_names_file, skip_bad):
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
                f"{display(lists[k])}:{where}: label {top} implies {top + 1} classes, but the "
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
            listed = "; ".join(f"{display(p)} at " + ", ".join(f"line {no} label {lab}"
                                                               for lab, no in v)
                               for p, v in list(conflicts.items())[:10])
            warnings.append(f"{display(lists[k])}: {len(conflicts)} image(s) listed with "
                            f"different labels (each copy is kept with its label): {listed}"
                            + (" ..." if len(conflicts) > 10 else ""))
            warn(warnings[-1])
    h = hashlib.sha256()
    for k in ("train", "val", "test"):
        if lists[k] is not None:
            h.update(k.encode() + b"\0" + Path(lists[k]).read_bytes())
    splits = {}
    for k, (paths, labels, lines) in parsed.items():
        fetch = (lambda ps: (lambda i: (image_root / ps[i]).read_bytes()))(paths)
        desc = (lambda ps, ls, f: (lambda i: f"{image_root / ps[i]} ({f}:{ls[i]})"))(
            paths, lines, lists[k])
        splits[k] = SourceSplit(labels, fetch, desc, source_index=lines - 1,
                                origin=str(lists[k]))
    src = Source("splitfile", image_root, names, splits,
                 checksum={"algo": "sha256-of-split-files", "value": h.hexdigest()},
                 encoded=True, default_storage="encoded", skipped=skipped, warnings=warnings,
                 notes={"split_files": {k: str(v) for k, v in lists.items() if v is not None},
                        "source_index": "0-based line number in the split file"})
    if ids is not None:
        src.notes["class_ids"] = ids
    return src
