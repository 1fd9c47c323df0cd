"""Evaluate a training run directory (``tools/evaluate.py``).

A run directory written by :func:`keras_lt.training.train` holds the recipe
(``config.yaml``) and the checkpoints; the model is rebuilt from the recipe,
the chosen weights are loaded, and the report is written with
:func:`keras_lt.eval.report.write_report`.
"""

import json
from pathlib import Path

import yaml

from keras_lt.eval.metrics import format_summary
from keras_lt.eval.report import evaluate_model, write_report


class EvaluationError(RuntimeError):
    """The checkpoint, weights or split asked for cannot be evaluated."""


def report_split(model, ds, cfg, split, out_dir, prefix=None, info=None, batch_size=None,
                 mean=None, std=None):
    """Evaluate ``model`` on ``ds.split(split)`` with the recipe's eval view and
    write ``<prefix>.json`` etc. into ``out_dir``; returns the metrics."""
    if split not in ds.splits:
        raise EvaluationError(f"{ds.path}: no split {split!r}; it has {list(ds.splits)}")
    prefix = prefix or f"{split}_report"
    metrics = evaluate_model(model, ds.split(split), ds.train_counts, ds.class_names,
                             mean if mean is not None else list(ds.mean),
                             std if std is not None else list(ds.std),
                             cfg["data"]["eval_view"], batch_size or cfg["eval"]["batch_size"],
                             cfg["data"].get("image_size"))
    path = write_report(metrics, out_dir, prefix, extra={"split": split, **(info or {})})
    print(format_summary(metrics, f"{split} report ({path}):"))
    return metrics


def evaluate_checkpoint(run_dir, weights="best", split="test", data=None, out_dir=None,
                        batch_size=None):
    """Rebuild the model of ``run_dir``, load ``weights`` (``best``, ``last`` or
    a ``.weights.h5`` path) and report on ``split``. Returns the metrics."""
    from keras_lt.config import load_config
    from keras_lt.models import build_model
    from keras_lt.training import TrainingError, load_data, run_info

    run_dir = Path(run_dir)
    cfg_path = run_dir / "config.yaml"
    if not cfg_path.is_file():
        raise EvaluationError(f"{run_dir} is not a run directory (no config.yaml); "
                              f"pass a directory written by tools/train.py")
    cfg = load_config(cfg_path)
    if data:
        cfg["data"]["prepared"] = str(data)
    if weights in ("best", "last"):
        wpath = run_dir / f"{weights}.weights.h5"
    else:
        wpath = Path(weights)
    if not wpath.is_file():
        raise EvaluationError(f"weights file {wpath} does not exist")
    try:
        ds, mean, std, image_shape = load_data(cfg)
    except TrainingError as exc:
        raise EvaluationError(str(exc)) from None
    model = build_model(cfg["model"], ds.num_classes, image_shape)
    try:
        model.load_weights(wpath, skip_mismatch=False)
    except Exception as exc:   # keras raises ValueError/KeyError variants per backend
        raise EvaluationError(f"cannot load {wpath} into the model of {cfg_path}: {exc}") from None
    state_path = run_dir / "state.json"
    state = json.loads(state_path.read_text()) if state_path.exists() else {}
    info = {"recipe": cfg["name"], "checkpoint": str(wpath), "epochs": state.get("epoch"),
            "best_epoch": state.get("best_epoch"), "config_hash": state.get("config_hash"),
            **run_info()}
    return report_split(model, ds, cfg, split, out_dir or run_dir, info=info,
                        batch_size=batch_size, mean=mean, std=std)


def load_run_config(run_dir):
    """The resolved recipe of a run directory as a dict."""
    return yaml.safe_load((Path(run_dir) / "config.yaml").read_text())
