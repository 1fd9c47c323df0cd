"""A run's resume checkpoint: one atomic unit, verified before it is used.

A checkpoint folder (``<run>/checkpoint/``, or a copy of it anywhere, e.g. a
``reports/<run>/resume/`` folder that travels with the repository) holds::

    config.yaml         the resolved recipe (written once, when the run starts)
    eNNNN.weights.h5    model + optimizer state after epoch NNNN (the resume point)
    eMMMM.weights.h5    the best-on-val epoch's weights (the same file when MMMM = NNNN)
    state.json          the record: epoch, history, best epoch, and for each weights file
                        its name and SHA-256, and the optimizer step it was saved at

Writing follows "data first, then the record": a new epoch's weights go under a new
name, then ``state.json`` is replaced in one ``os.replace`` (the commit), then files
the record no longer names are deleted. A process killed at any moment leaves either
the previous record with its files intact, or the new one with its files: never a
record naming weights of another epoch. :func:`read_checkpoint` checks the record's
hashes, and :func:`check_optimizer_step` the optimizer step of the loaded weights, so a
folder changed by hand (or one left by an older layout without a record) is refused
with the reason, not resumed an epoch off.
"""

import json
import os
import shutil
from pathlib import Path

from keras_lt.utils.files import (atomic_write_json, atomic_write_text, file_sha256 as sha256,
                                  fsync_file, replace_atomically)

STATE = "state.json"
CONFIG = "config.yaml"
LEGACY_LAST, LEGACY_BEST = "last.weights.h5", "best.weights.h5"


class CheckpointError(RuntimeError):
    """A checkpoint is missing, incomplete or does not match its record."""


def weights_name(epoch):
    return f"e{int(epoch):04d}.weights.h5"


def atomic_save_weights(model, path):
    """``model.save_weights`` onto ``path`` through a temporary file (see
    :func:`~keras_lt.utils.files.replace_atomically`)."""
    replace_atomically(path, lambda tmp: model.save_weights(str(tmp)))


def atomic_copy(src, dst):
    """Copy ``src`` to ``dst`` (hard link when the file system allows) through a temporary
    name and ``os.replace``: readers of ``dst`` see the old file or the new one."""
    dst = Path(dst)
    tmp = dst.with_name(f".{dst.name}.tmp-{os.getpid()}")
    if tmp.exists():
        tmp.unlink()
    try:
        os.link(src, tmp)
    except OSError:
        shutil.copyfile(src, tmp)
        fsync_file(tmp)
    os.replace(tmp, dst)


def _prune(folder, record):
    """Delete weights and temporary files in ``folder`` that ``record`` does not name."""
    keep = {record["last"]["file"], record["best"]["file"] if record.get("best") else None}
    for p in Path(folder).iterdir():
        stale_weights = p.name.endswith(".weights.h5") and p.name not in keep
        if p.is_file() and (stale_weights or ".tmp-" in p.name):
            p.unlink()


def commit_epoch(folder, model, state, optimizer_step, best_improved):
    """Save ``model`` (with its optimizer) as epoch ``state['epoch']`` and commit ``state``.

    ``optimizer_step``: the optimizer's step count now (recorded, and checked on resume);
    ``best_improved``: this epoch is the new best on val (the record's best then names
    the same file). Returns the record written (``state['checkpoint']``)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    epoch = int(state["epoch"])
    name = weights_name(epoch)
    atomic_save_weights(model, folder / name)
    last = {"file": name, "sha256": sha256(folder / name), "epoch": epoch,
            "optimizer_step": int(optimizer_step)}
    previous = state.get("checkpoint") or {}
    best = last if best_improved else previous.get("best")
    state["checkpoint"] = {"last": last, "best": best}
    atomic_write_json(folder / STATE, state)          # the commit
    _prune(folder, state["checkpoint"])
    return state["checkpoint"]


def read_checkpoint(folder):
    """The committed state of a checkpoint folder, its weights verified against the record.

    Returns ``(state, last_path, best_path_or_None)``; raises :class:`CheckpointError`
    naming the file and the reason when anything is missing or does not match."""
    folder = Path(folder)
    path = folder / STATE
    if not path.is_file():
        raise CheckpointError(f"{folder} holds no checkpoint ({STATE} is missing)")
    try:
        state = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise CheckpointError(f"{path} is not valid JSON ({exc}); refusing to resume") from None
    record = state.get("checkpoint")
    if not isinstance(record, dict) or not isinstance(record.get("last"), dict):
        raise CheckpointError(f"{path} has no checkpoint record (no 'checkpoint.last'); "
                              f"refusing to resume")
    if int(record["last"]["epoch"]) != int(state.get("epoch", -1)):
        raise CheckpointError(f"{path}: the record's weights are of epoch "
                              f"{record['last']['epoch']} but the state is at epoch "
                              f"{state.get('epoch')}; refusing to resume")
    paths = {}
    for key in ("last", "best"):
        entry = record.get(key)
        if entry is None:
            paths[key] = None
            continue
        p = folder / entry["file"]
        if not p.is_file():
            raise CheckpointError(f"{p} is missing: {path} names it as the {key} weights "
                                  f"(epoch {entry['epoch']}); refusing to resume")
        if sha256(p) != entry["sha256"]:
            raise CheckpointError(f"{p} does not match its record in {path} (SHA-256 differs): "
                                  f"it was changed after the checkpoint was written; refusing "
                                  f"to resume")
        paths[key] = p
    return state, paths["last"], paths["best"]


def check_optimizer_step(found, expected, state, source):
    """Refuse weights whose optimizer step is not the one recorded for the state's epoch."""
    if int(found) != int(expected):
        raise CheckpointError(
            f"{source} holds weights at optimizer step {int(found)}, but the state is at epoch "
            f"{state['epoch']}, saved at step {int(expected)}: the run was interrupted while "
            f"saving or the files were mixed; refusing to resume")


def adopt_legacy(run_dir, folder, state, optimizer_step):
    """Turn a run directory of the older layout (``state.json`` beside ``last.weights.h5``
    and ``best.weights.h5``, no record) into a checkpoint folder. The caller has checked
    ``optimizer_step``, that of ``last.weights.h5``, against ``state``."""
    run_dir, folder = Path(run_dir), Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    epoch = int(state["epoch"])
    last_name = weights_name(epoch)
    atomic_copy(run_dir / LEGACY_LAST, folder / last_name)
    record = {"last": {"file": last_name, "sha256": sha256(folder / last_name), "epoch": epoch,
                       "optimizer_step": int(optimizer_step)},
              "best": None}
    best_epoch = state.get("best_epoch")
    if best_epoch is not None and (run_dir / LEGACY_BEST).is_file():
        if int(best_epoch) == epoch:
            record["best"] = dict(record["last"])
        else:
            best_name = weights_name(best_epoch)
            atomic_copy(run_dir / LEGACY_BEST, folder / best_name)
            record["best"] = {"file": best_name, "sha256": sha256(folder / best_name),
                              "epoch": int(best_epoch)}
    if (run_dir / CONFIG).is_file():
        atomic_copy(run_dir / CONFIG, folder / CONFIG)
    state["checkpoint"] = record
    atomic_write_json(folder / STATE, state)
    _prune(folder, state["checkpoint"])
    return state


def mirror_checkpoint(src, dst):
    """Copy the committed checkpoint ``src`` to ``dst`` with the same protocol (weights,
    then the record, then pruning), so ``dst`` is always a complete checkpoint too and
    holds at most two weights files (it is replaced, not accumulated)."""
    src, dst = Path(src), Path(dst)
    state, last, best = read_checkpoint(src)
    dst.mkdir(parents=True, exist_ok=True)
    record = state["checkpoint"]
    for key, p in (("last", last), ("best", best)):
        if p is None:
            continue
        target = dst / p.name
        if not (target.is_file() and sha256(target) == record[key]["sha256"]):
            atomic_copy(p, target)
    if (src / CONFIG).is_file():
        atomic_copy(src / CONFIG, dst / CONFIG)
    atomic_write_json(dst / STATE, state)
    _prune(dst, record)
    return dst


def publish_view(folder, run_dir, state):
    """The run directory's plain files, refreshed after each commit: ``last.weights.h5``,
    ``best.weights.h5``, ``state.json`` and ``log.csv`` (each replaced atomically; a reader
    never sees a half-written file). Resuming never reads them."""
    folder, run_dir = Path(folder), Path(run_dir)
    record = state["checkpoint"]
    atomic_copy(folder / record["last"]["file"], run_dir / LEGACY_LAST)
    if record.get("best"):
        atomic_copy(folder / record["best"]["file"], run_dir / LEGACY_BEST)
    atomic_write_json(run_dir / STATE, state)
    atomic_write_text(run_dir / "log.csv", history_csv(state["history"]))


def history_csv(rows):
    """One CSV row per epoch, columns in first-seen order (epochs without validation leave
    the val columns empty)."""
    keys = []
    for row in rows:
        keys += [k for k in row if k not in keys]
    lines = [",".join(keys)]
    for row in rows:
        lines.append(",".join("" if row.get(k) is None else str(row[k]) for k in keys))
    return "\n".join(lines) + "\n"
