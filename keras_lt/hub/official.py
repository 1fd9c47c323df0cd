"""Official BCCL / BCL releases as zoo folders (``tools/convert_torch.py --recipe``).

An official PyTorch checkpoint (``.pth``/``.pt``/``.tar`` read with
``torch.load(weights_only=True)``, or ``.npz``/``.safetensors``) becomes a keras-lt
pretrained folder (see :mod:`keras_lt.hub.pretrained`) whose card credits the source:

1. the state dict is read without executing pickled code and its architecture is
   inferred (:func:`keras_lt.hub.convert.infer_config`);
2. a zoo recipe supplies what a state dict does not hold: preprocessing (input size,
   mean/std, eval view: the reference code's), the method's training settings for
   fine-tuning, and the dataset; it must agree with the checkpoint (backbone, width,
   classifier kind, projection head size) or the conversion stops naming both sides;
3. class names and training counts come from a prepared dataset (``data``), from a
   split file (``train_list`` [+ ``class_names_file``]), or, for CIFAR-10/100-LT,
   from the reference code's own profile ``n_i = n_max * IF^(-i/(C-1))``;
4. backbone, projection head and classifier are copied into the recipe's model
   (``num_batches_tracked`` is dropped; BCL's ``head_fc`` class-centre head has no
   counterpart and is reported as ignored); queues, centroids and momentum state are
   empty, as the release holds none;
5. with a prepared dataset that has a test split, the converted model is evaluated
   with the recipe's preprocessing, so the card's numbers come from
   ``eval_results.json`` like every other zoo card.
"""

import json
import shlex
import sys
import tempfile
from pathlib import Path

from keras_lt.config import config_from_dict, load_config
from keras_lt.data.catalog import CIFAR10_CLASSES, CIFAR100_CLASSES, CATALOG
from keras_lt.data.dataset import PreparedDataset
from keras_lt.data.longtail import longtail_counts
from keras_lt.data.prepare import parse_split_file, read_class_names
from keras_lt.eval.report import plot_per_class
from keras_lt.eval.runner import evaluate_with_preprocessing
from keras_lt.hub.convert import ConversionError, convert_state_dict, infer_config, load_state_dict
from keras_lt.hub.pretrained import preprocessing_of, save_pretrained
from keras_lt.hub.registry import get_entry, zoo_recipe
from keras_lt.models.builder import build_method_model
from keras_lt.utils.files import file_sha256

#: reference implementations whose releases convert (method token -> credit)
REFERENCES = {
    "bccl": {"code": "GGTINE/Balanced-Clustering-Contrastive-Learning-for-Long-Tailed-Data-Recognition",
             "paper": "Kim & Ko, *Balanced Clustering Contrastive Learning for Long-Tailed Data "
                      "Recognition*, 2025"},
    "bcl": {"code": "FlamieZhu/Balanced-Contrastive-Learning",
            "paper": "Zhu, Wang, Chen, Chen & Jiang, *Balanced Contrastive Learning for "
                     "Long-Tailed Visual Recognition*, CVPR 2022"},
}

def load_recipe(recipe, overrides=()):
    """A recipe dict from a zoo name, a YAML path or a dict (resolved with defaults),
    with ``KEY=VALUE`` overrides as ``tools/train.py --set`` takes them."""
    if isinstance(recipe, dict):
        return config_from_dict(recipe, overrides)
    path = Path(recipe)
    if path.is_file():
        return load_config(path, overrides)
    get_entry(str(recipe))                                      # unknown: lists close names
    return config_from_dict(zoo_recipe(str(recipe)), overrides)


def class_info(recipe, data=None, train_list=None, class_names_file=None):
    """``(class_names, class_counts, source)`` of the training set a release was trained on.

    ``data`` (a prepared dataset, path or opened) wins; then a split file ``train_list``
    (counts of its labels; names from ``class_names_file`` or ``class_<i>``); then the
    CIFAR-LT profile of the recipe's ``data.dataset`` and ``data.imbalance_factor``."""
    if data is not None:
        ds = data if isinstance(data, PreparedDataset) else PreparedDataset(data)
        return list(ds.class_names), [int(c) for c in ds.train_counts], f"prepared dataset {ds.path}"
    if train_list is not None:
        import numpy as np

        names = read_class_names(class_names_file)[0] if class_names_file else None
        _, labels, _ = parse_split_file(train_list, None if names is None else len(names))
        num = len(names) if names is not None else int(labels.max()) + 1
        counts = np.bincount(labels, minlength=num).tolist()
        return (names or [f"class_{i}" for i in range(num)], counts,
                f"split file {Path(train_list).name}")
    info = CATALOG.get(recipe["data"].get("dataset"))
    imb = recipe["data"].get("imbalance_factor")
    if info is not None and info.images_per_class and imb:
        names, n_max = info.class_names, info.images_per_class
        return (list(names), longtail_counts(n_max, len(names), imb),
                f"reference CIFAR-LT profile (n_max {n_max}, imbalance factor {imb:g})")
    raise ConversionError(
        f"the classes of {recipe['name']} are unknown: pass a prepared dataset (--data DIR) or "
        f"the training split file (--train-list FILE [--class-names FILE])")


def check_recipe(recipe, ckpt, num_classes):
    """Errors (a list of strings) where recipe and checkpoint disagree."""
    model = recipe["model"]
    problems = []
    if model["backbone"] != ckpt["arch"]:
        problems.append(f"backbone: checkpoint {ckpt['arch']}, recipe {model['backbone']}")
    if int(model.get("width", 1) or 1) != int(ckpt["width"]):
        problems.append(f"width: checkpoint {ckpt['width']}, recipe {model.get('width', 1)}")
    if ckpt["classifier"] is None:
        problems.append("the checkpoint has no classifier (fc.weight)")
    elif model["classifier"] != ckpt["classifier"]:
        problems.append(f"classifier: checkpoint {ckpt['classifier']} (fc.bias "
                        f"{'present' if ckpt['classifier'] == 'linear' else 'absent'}), recipe "
                        f"{model['classifier']}")
    if ckpt["num_classes"] is not None and ckpt["num_classes"] != num_classes:
        problems.append(f"classes: checkpoint {ckpt['num_classes']}, training set {num_classes}")
    opts = recipe.get(recipe.get("method", "baseline"), {}) or {}
    if ckpt["head_layers"] and "feat_dim" in opts:
        for key in ("head_hidden", "feat_dim"):
            if int(opts[key]) != int(ckpt[key]):
                problems.append(f"projection head {key}: checkpoint {ckpt[key]}, recipe {opts[key]} "
                                f"(--set {recipe.get('method')}.{key}={ckpt[key]} takes the release's)")
    return problems


def convert_official(src, out_dir, recipe, *, data=None, train_list=None, class_names_file=None,
                     source_url=None, source_method=None, name=None, split="test",
                     batch_size=256, strict=True, overwrite=False, command=None, overrides=()):
    """Convert an official release ``src`` into the pretrained folder ``out_dir``.

    Args:
        src: the checkpoint file.
        recipe: zoo recipe name (e.g. ``"bccl-resnet32-cifar10lt-if100"``), path or dict.
        overrides: ``KEY=VALUE`` recipe overrides (e.g. ``bccl.head_hidden=2048`` for a
            release whose head differs from the paper's).
        data, train_list, class_names_file: where the classes come from (:func:`class_info`).
        source_url: where the release was downloaded from (credited on the card).
        source_method: ``"bccl"`` or ``"bcl"``; default: ``bcl`` when the state dict has
            BCL's ``head_fc``, else the recipe's method.
        name: the folder's model name (default ``<recipe name>-official``).
        split: the split of ``data`` to evaluate (skipped without ``data`` or that split).
        strict: unknown state-dict keys are an error.
        command: the command line to record (default: this process's).

    Returns:
        ``(out_dir, summary)`` with ``summary`` a dict (assigned / ignored tensors,
        classifier layout, evaluation metrics or None).

    Example:
    >>> convert_official("bccl_cifar10_if100.pth", "zoo/bccl-official",
    ...                  "bccl-resnet32-cifar10lt-if100")                  # doctest: +SKIP
    """
    import keras

    src = Path(src)
    if not src.is_file():
        raise FileNotFoundError(f"no such checkpoint: {src}")
    recipe = json.loads(json.dumps(load_recipe(recipe, overrides)))   # a private copy
    name = name or f"{recipe['name']}-official"
    ds = None if data is None else PreparedDataset(data)
    names, counts, classes_from = class_info(recipe, ds, train_list, class_names_file)
    sd = load_state_dict(src)
    ckpt = infer_config(sd, scale=recipe["model"].get("classifier_scale") or 1.0 / 0.03)
    problems = check_recipe(recipe, ckpt, len(names))
    if problems:
        raise ConversionError(f"{src.name} does not fit recipe {recipe['name']}:\n  "
                              + "\n  ".join(problems))
    method = source_method or ("bcl" if ckpt["head_fc"] else recipe.get("method", "baseline"))
    if method not in REFERENCES:
        raise ConversionError(f"unknown source method {method!r}: choose one of {sorted(REFERENCES)}")
    if not (recipe["data"].get("mean") and recipe["data"].get("std")):
        raise ConversionError(f"recipe {recipe['name']} sets no data.mean/std: give the "
                              "release's normalisation (--set data.mean=[...] --set data.std=[...])")
    size = recipe["data"].get("image_size") or ckpt["input_shape"][:2]
    shape = (int(size[0]), int(size[1]), 3)
    model = build_method_model(recipe, len(names), counts, shape, steps_per_epoch=1)
    head = getattr(model, "head", None) if ckpt["head_layers"] else None
    report = convert_state_dict(sd, model.backbone, head, model.classifier, strict=strict)
    if hasattr(model, "sync_key_encoder"):
        model.sync_key_encoder()
    metrics = None
    if ds is not None and split in ds.splits:
        metrics = evaluate_with_preprocessing(model, ds, split, preprocessing_of(recipe, shape),
                                              batch_size)
    eval_report = None if metrics is None else {split: metrics}
    conversion = {
        "source_file": src.name, "source_sha256": file_sha256(src),
        "source_bytes": src.stat().st_size, "source_url": source_url,
        "source_method": method, **REFERENCES[method],
        "classes_from": classes_from, "tensors_assigned": len(report.assigned),
        "tensors_ignored": sorted({"*.num_batches_tracked" if k.endswith("num_batches_tracked")
                                   else k.split(".")[0] + ".*" for k in report.ignored}),
        "classifier_layout": report.classifier_layout,
        "head_converted": head is not None,
        "command": command or " ".join(shlex.quote(a) for a in ["python", *sys.argv]),
    }
    training = {"backend": keras.backend.backend(), "keras": keras.__version__,
                "conversion": conversion}
    with tempfile.TemporaryDirectory() as tmp:
        plots = []
        plot = Path(tmp) / f"{split}_report_per_class.png"
        if metrics is not None and plot_per_class(metrics, plot, title=f"{name} ({split})"):
            plots.append(plot)
        out = save_pretrained(model, out_dir, recipe, names, counts, eval_report=eval_report,
                              training=training,
                              data_provenance={} if ds is None else dict(ds.meta.get("provenance", {})),
                              overwrite=overwrite, extra_files=plots, name=name)
    return out, {"assigned": len(report.assigned), "ignored": len(report.ignored),
                 "classifier_layout": report.classifier_layout, "metrics": metrics}


__all__ = ["convert_official", "class_info", "check_recipe", "load_recipe", "REFERENCES",
           "CIFAR10_CLASSES", "CIFAR100_CLASSES"]
