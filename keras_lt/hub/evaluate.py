"""Evaluate a pretrained model (zoo name, Hub id or folder) on a prepared dataset with the
model's own preprocessing, next to the numbers its card reports (``tools/evaluate.py
--pretrained``)."""

import json
from pathlib import Path

from keras_lt.data.dataset import DatasetError, PreparedDataset
from keras_lt.eval.metrics import format_summary
from keras_lt.eval.report import write_report
from keras_lt.eval.runner import EvaluationError, evaluate_with_preprocessing
from keras_lt.hub.pretrained import EVAL_FILE, load_pretrained_dir, resolve_pretrained


def evaluate_pretrained(name_or_path, data, split="test", out_dir=None, batch_size=256,
                        revision=None):
    """Evaluate a pretrained model (zoo name, Hub id or folder) on ``split`` of the
    prepared dataset ``data`` with the model's own preprocessing. Returns
    ``(metrics, card_metrics)``; ``card_metrics`` is the folder's
    ``eval_results.json`` entry for ``split`` (None when it has none)."""
    directory, source = resolve_pretrained(name_or_path, revision)
    model = load_pretrained_dir(directory)
    info = model.pretrained
    try:
        ds = PreparedDataset(data)
    except DatasetError as exc:
        raise EvaluationError(str(exc)) from None
    if list(ds.class_names) != list(info.class_names):
        raise EvaluationError(f"{data} has classes {list(ds.class_names)[:5]}... but "
                              f"{info.name} predicts {list(info.class_names)[:5]}...")
    # the prepared dataset's own evaluation view (as in training), into the normalised-input
    # classifier inside the raw-pixel model
    metrics = evaluate_with_preprocessing(model.classifier, ds, split, info.preprocessing,
                                          batch_size)
    if out_dir:
        write_report(metrics, out_dir, f"{split}_report",
                     extra={"split": split, "pretrained": info.name, "loaded_from": str(directory),
                            "source": source})
    print(format_summary(metrics, f"{info.name} ({source}: {directory}) on {split}:"))
    card_path = Path(directory) / EVAL_FILE
    card = None
    if card_path.is_file():
        card = json.loads(card_path.read_text()).get("results", {}).get(split)
    return metrics, card
