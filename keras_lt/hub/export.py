"""Turn a training run directory into a pretrained folder (``tools/export.py``).

The run's best checkpoint (selected on validation), its recipe, its test report
and its timing become ``config.json``, ``model.safetensors``, ``metadata.json``,
``eval_results.json`` and the generated card (see :mod:`keras_lt.hub.pretrained`).
"""

import json
from pathlib import Path

from keras_lt.config import load_config
from keras_lt.data.dataset import DatasetError, PreparedDataset
from keras_lt.hub.pretrained import PretrainedError, save_pretrained
from keras_lt.models.builder import build_method_model


def _facts_of_older_run(recipe, report):
    """:func:`~keras_lt.data.dataset.data_facts` of a run whose ``state.json`` predates
    them: classes from its test report, normalisation and input size from the recipe, else
    from its prepared dataset."""
    rows = sorted(report["per_class"], key=lambda r: r["class"])
    data = recipe["data"]
    ds = None
    if not (data.get("mean") and data.get("std") and data.get("image_size")):
        try:
            ds = PreparedDataset(data["prepared"])
        except (DatasetError, OSError, TypeError):
            raise PretrainedError(f"the normalisation or input size of {recipe['name']} is "
                                  f"unknown: the recipe does not set them and its prepared "
                                  f"dataset {data['prepared']!r} is not here") from None
    size = data.get("image_size") or ds.image_size
    return {"class_names": [r["name"] for r in rows],
            "class_counts": [int(r["train_count"]) for r in rows],
            "mean": [float(m) for m in (data.get("mean") or ds.mean)],
            "std": [float(v) for v in (data.get("std") or ds.std)],
            "image_shape": [int(size[0]), int(size[1]), 3]}


def training_facts(state, report_info):
    """Budget, timing and hardware of a run, for ``metadata.json`` and the card."""
    versions = state.get("versions", {})
    history = state.get("history", [])
    ips = [row["images_per_s"] for row in history if row.get("images_per_s")]
    cpu = f"{versions.get('processor', '?')} CPU, {versions.get('cpu_count', '?')} cores"
    return {"epochs": state.get("epoch"), "best_epoch": state.get("best_epoch"),
            "selected_on": f"val {state.get('select_on', 'class_avg')}",
            "train_seconds": round(float(state.get("train_seconds", 0.0)), 1),
            "images_per_s": round(sum(ips) / len(ips), 1) if ips else None,
            "backend": versions.get("backend"), "keras": versions.get("keras"),
            "keras_lt": versions.get("keras_lt"),
            "hardware": versions.get("hardware") or f"{cpu}, no GPU",
            "checkpoint": report_info.get("checkpoint"), "config_hash": state.get("config_hash")}


#: the test metrics of the last epoch that a card keeps beside the selected epoch's
LAST_EPOCH_METRICS = ("top1", "class_avg", "many", "medium", "few")


def last_epoch_test(run_dir, state, report):
    """The last epoch's test metrics (``last/test_report.json``, or the report itself when
    the selected epoch is the last), or ``None`` when the run kept no such report."""
    path = Path(run_dir) / "last" / "test_report.json"
    if path.is_file():
        last = json.loads(path.read_text())
    elif state.get("best_epoch") == state.get("epoch"):
        last = report
    else:
        return None
    return {"epoch": state.get("epoch"), **{k: last.get(k) for k in LAST_EPOCH_METRICS}}


def export_run(run_dir, out_dir, weights="best", overwrite=False, base_model=None, note=None):
    """Write the pretrained folder of ``run_dir`` into ``out_dir``; returns its path.

    ``note``: why the run departs from its zoo recipe (e.g. a learning rate scaled to a
    shorter schedule); stored as ``metadata.json`` ``training.note`` and shown on the card."""
    run_dir = Path(run_dir)
    cfg_path, state_path = run_dir / "config.yaml", run_dir / "state.json"
    for p in (cfg_path, state_path):
        if not p.is_file():
            raise PretrainedError(f"{run_dir} is not a finished run directory: {p.name} is missing")
    recipe = load_config(cfg_path)
    state = json.loads(state_path.read_text())
    if int(state.get("epoch", 0)) < int(recipe["optim"]["epochs"]):
        raise PretrainedError(f"{run_dir} stopped at epoch {state.get('epoch')} of "
                              f"{recipe['optim']['epochs']}; finish it with tools/train.py "
                              f"--run-dir {run_dir} --resume before exporting")
    report_path = run_dir / "test_report.json"
    if not report_path.is_file():
        raise PretrainedError(f"{report_path} is missing: the card's numbers come from it "
                              f"(tools/evaluate.py {run_dir} writes it)")
    report = json.loads(report_path.read_text())
    wpath = run_dir / f"{weights}.weights.h5" if weights in ("best", "last") else Path(weights)
    if not wpath.is_file():
        raise PretrainedError(f"weights file {wpath} does not exist")
    facts = state.get("data") or _facts_of_older_run(recipe, report)
    class_names, counts = facts["class_names"], facts["class_counts"]
    recipe["data"]["mean"], recipe["data"]["std"] = facts["mean"], facts["std"]
    model = build_method_model(recipe, len(class_names), counts, tuple(facts["image_shape"]),
                               steps_per_epoch=1)
    model.load_weights(str(wpath))
    extra = [p for p in [run_dir / "test_report_per_class.png"] if p.is_file()]
    training = training_facts(state, report.get("info", {}))
    last = last_epoch_test(run_dir, state, report)
    if last is not None:
        training["last_epoch_test"] = last
    if note:
        training["note"] = str(note)
    return save_pretrained(model, out_dir, recipe, class_names, counts,
                           eval_report={"test": report},
                           training=training,
                           data_provenance=state.get("dataset_provenance"),
                           base_model=base_model, overwrite=overwrite, extra_files=extra)
