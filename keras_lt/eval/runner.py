"""Evaluate a training run directory (``tools/evaluate.py``) and write a finished run's
test report.

A run directory written by :func:`keras_lt.train.loop.train` holds the recipe
(``config.yaml``) and the checkpoints; the model is rebuilt from the recipe,
the chosen weights are loaded, and the report is written with
:func:`keras_lt.eval.report.write_report`.
"""

import json
import warnings
from pathlib import Path

import numpy as np
from PIL import Image

from keras_lt.config import load_config
from keras_lt.data.dataset import DatasetError, PreparedDataset, load_data
from keras_lt.eval import diagnostics as D
from keras_lt.eval.metrics import format_summary, lt_metrics
from keras_lt.eval.probe import select_probe
from keras_lt.eval.report import evaluate_model, write_report
from keras_lt.models.builder import build_method_model
from keras_lt.utils.runinfo import run_info


class EvaluationError(RuntimeError):
    """The checkpoint, weights or split asked for cannot be evaluated."""


class ResizedSplit:
    """A split whose images are resized (bilinear, as :func:`keras_lt.predict`
    does) to ``size`` ``(H, W)``; it offers what the loaders read of a split:
    ``labels``, ``len`` and ``get_batch``."""

    def __init__(self, split, size):
        self.split, self.size = split, (int(size[0]), int(size[1]))
        self.labels = split.labels
        self.name = getattr(split, "name", None)

    def __len__(self):
        return len(self.split)

    def get_batch(self, indices):
        h, w = self.size
        return np.stack([im if im.shape[:2] == (h, w) else
                         np.asarray(Image.fromarray(np.asarray(im)).resize((w, h), Image.BILINEAR))
                         for im in self.split.get_batch(indices)])


def _stored_shape(split_dir):
    """Shape of one stored image of a raw split (from the ``images.npy`` header),
    or None."""
    try:
        return tuple(np.load(Path(split_dir) / "images.npy", mmap_mode="r").shape[1:])
    except Exception:
        return None


def fit_split(ds, name, input_shape=None, eval_view="cifar_eval", note=True):
    """Split ``name`` of ``ds`` ready for a model taking ``input_shape`` (H, W, C)
    images through ``eval_view``. An empty split, a missing one and images with
    another number of channels are refused (:class:`EvaluationError`, one line
    naming the split, the dataset and both shapes); with the normalisation-only
    ``cifar_eval`` view, images of another size are resized to the model's input
    (:class:`ResizedSplit`) and, with ``note``, one line says so. ``input_shape``
    None: RGB, no resizing."""
    if name not in ds.splits:
        raise EvaluationError(f"{ds.path}: no split {name!r}; it has {list(ds.splits)}")
    h, w, c = (None, None, 3) if input_shape is None else (int(v) for v in input_shape)
    try:
        split = ds.split(name)
    except DatasetError as exc:
        stored = _stored_shape(Path(ds.path) / name) if ds.storage == "raw" else None
        if stored is not None and len(stored) in (2, 3) and (stored + (1,))[2] != c:
            chans = stored[2] if len(stored) == 3 else 1
            takes = f"{h}x{w}x{c}" if h else f"{c}-channel"
            raise EvaluationError(f"split {name!r} of {ds.path} stores {stored[0]}x{stored[1]}x"
                                  f"{chans} images but the model takes {takes} (RGB) images; "
                                  f"prepare the data as RGB") from None
        raise EvaluationError(" ".join(str(exc).split())) from None
    if len(split) == 0:
        raise EvaluationError(f"split {name!r} of {ds.path} is empty: nothing to evaluate")
    if h is None or eval_view != "cifar_eval":
        return split          # no size to fit, or the view resizes and crops itself
    if split.storage == "raw":
        size = tuple(int(v) for v in split.images.shape[1:3])
    else:
        size = ds.image_size
    if size == (h, w):
        return split
    if note:
        have = "of varying sizes" if size is None else f"{size[0]}x{size[1]}"
        print(f"note: split {name!r} of {ds.path} has images {have}; resizing them to the "
              f"model's {h}x{w} input (bilinear)", flush=True)
    return ResizedSplit(split, (h, w))


def report_split(model, ds, cfg, split, out_dir, prefix=None, info=None, batch_size=None,
                 mean=None, std=None, image_shape=None):
    """Evaluate ``model`` on ``ds.split(split)`` with the recipe's eval view and
    write ``<prefix>.json`` etc. into ``out_dir``; returns the metrics.
    ``image_shape``: the model's input (H, W, C); the split is fitted to it with
    :func:`fit_split` (default: the dataset's own size)."""
    prefix = prefix or f"{split}_report"
    images = fit_split(ds, split, image_shape, cfg["data"]["eval_view"])
    metrics = evaluate_model(model, images, ds.train_counts, ds.class_names,
                             mean if mean is not None else list(ds.mean),
                             std if std is not None else list(ds.std),
                             cfg["data"]["eval_view"], batch_size or cfg["eval"]["batch_size"],
                             cfg["data"].get("image_size") or ds.image_size)
    path = write_report(metrics, out_dir, prefix, extra={"split": split, **(info or {})})
    print(format_summary(metrics, f"{split} report ({path}):"))
    return metrics


def evaluate_checkpoint(run_dir, weights="best", split="test", data=None, out_dir=None,
                        batch_size=None, grad_norms=False, tsne=False, linear_probe=False):
    """Rebuild the model of ``run_dir``, load ``weights`` (``best``, ``last`` or
    a ``.weights.h5`` path) and report on ``split``. Returns the metrics.

    ``grad_norms``: also write ``grad_norms.png`` (per-class classifier-weight
    gradient norms on the *train* split, Reb-SupCon Fig. 2); ``tsne``: also write
    ``<split>_tsne.png`` (t-SNE of 10 classes spread over head/medium/tail, Fig. 5);
    ``linear_probe``: also fit a balanced linear probe on the frozen backbone
    (:func:`probe_report`) and write ``<split>_probe_report.json`` etc."""
    run_dir = Path(run_dir)
    cfg_path = run_dir / "config.yaml"
    if not cfg_path.is_file():
        raise EvaluationError(f"{run_dir} is not a run directory (no config.yaml); "
                              f"pass a directory written by tools/train.py")
    cfg = load_config(cfg_path)
    state_path = run_dir / "state.json"
    state = json.loads(state_path.read_text()) if state_path.exists() else {}
    # the model's own input: as the run resolved it (older runs: the recipe, else the size
    # of the run's own data); other data is fitted to it
    facts = state.get("data")
    if data:
        if facts:
            cfg["data"]["image_size"] = list(facts["image_shape"][:2])
        elif not cfg["data"].get("image_size"):
            trained = _prepared_image_size(cfg["data"].get("prepared"))
            if trained is not None:
                cfg["data"]["image_size"] = list(trained)
        cfg["data"]["prepared"] = str(data)
    if weights in ("best", "last"):
        wpath = run_dir / f"{weights}.weights.h5"
    else:
        wpath = Path(weights)
    if not wpath.is_file():
        raise EvaluationError(f"weights file {wpath} does not exist")
    try:
        ds, mean, std, image_shape = load_data(cfg)
    except DatasetError as exc:
        raise EvaluationError(str(exc)) from None
    if facts:
        mean, std = facts["mean"], facts["std"]     # the normalisation it was trained with
    # the run's own training model (BCCL / Reb-SupCon checkpoints also hold heads,
    # queues and key encoders); it predicts with backbone + classifier
    model = build_method_model(cfg, ds.num_classes, [int(c) for c in ds.train_counts],
                               image_shape, steps_per_epoch=1)
    try:
        model.load_weights(wpath, skip_mismatch=False)
    except Exception as exc:   # keras raises ValueError/KeyError variants per backend
        raise EvaluationError(f"cannot load {wpath} into the model of {cfg_path}: {exc}") from None
    # the epoch whose weights are evaluated: the val-selected one, the last one, or
    # unknown for an arbitrary weights file
    weights_epoch = {"best": state.get("best_epoch"), "last": state.get("epoch")}.get(weights)
    info = {"recipe": cfg["name"], "checkpoint": str(wpath), "epochs": state.get("epoch"),
            "best_epoch": state.get("best_epoch"),
            "weights": weights if weights in ("best", "last") else "file",
            "weights_epoch": weights_epoch, "config_hash": state.get("config_hash"),
            **run_info()}
    metrics = report_split(model, ds, cfg, split, out_dir or run_dir, info=info,
                           batch_size=batch_size, mean=mean, std=std, image_shape=image_shape)
    # the diagnostics and the probe share one feature pass per split
    features = split_features(model, ds, cfg, mean, std, batch_size, image_shape)
    if grad_norms or tsne:
        write_diagnostics(model, ds, cfg, split, Path(out_dir or run_dir), features,
                          grad_norms=grad_norms, tsne=tsne)
    if linear_probe:
        probe_report(ds, split, Path(out_dir or run_dir), features, info=info)
    return metrics


def _prepared_image_size(path):
    """``(H, W)`` of the prepared dataset at ``path``, or None (varying sizes,
    or no readable dataset there)."""
    try:
        return PreparedDataset(path).image_size if path else None
    except DatasetError:
        return None


def split_features(model, ds, cfg, mean, std, batch_size=None, image_shape=None):
    """A function ``name -> (features, logits, labels)`` of ``model`` on split
    ``name`` of ``ds`` with the recipe's eval view
    (:func:`keras_lt.eval.diagnostics.features_and_logits`), computed once per split;
    ``image_shape``: the model's input, as for :func:`report_split`."""
    kw = dict(eval_view=cfg["data"]["eval_view"], image_size=cfg["data"].get("image_size") or ds.image_size,
              batch_size=batch_size or cfg["eval"]["batch_size"])
    done = {}

    def features(name):
        if name not in done:
            images = fit_split(ds, name, image_shape, kw["eval_view"], note=False)
            done[name] = D.features_and_logits(model, images, mean, std, **kw)
        return done[name]

    return features


def probe_report(ds, split, out_dir, features, info=None, select_split="val"):
    """Fit a balanced linear probe (:mod:`keras_lt.eval.probe`) on the frozen
    backbone features of the train split, choose its L2 strength on
    ``select_split`` and write ``<split>_probe_report.*`` for ``split``.
    ``features``: a :func:`split_features` function of the model. Returns the
    metrics; the JSON also holds the L2 search."""
    for name in ("train", select_split, split):
        if name not in ds.splits:
            raise EvaluationError(f"{ds.path}: the linear probe needs split {name!r}; "
                                  f"it has {list(ds.splits)}")
    counts = [int(c) for c in ds.train_counts]
    train, sel = features("train"), features(select_split)
    probe, scores = select_probe((train[0], train[2]), (sel[0], sel[2]), counts)
    feats, _, labels = features(split)
    metrics = lt_metrics(labels, probe.predict(feats), counts, ds.class_names)
    extra = {"split": split, "probe": {"loss": "logit_adjusted (Menon et al. 2021 eq. 10, tau 1)",
                                       "features": "frozen backbone, eval view, standardised",
                                       "selected_on": select_split, "l2": probe.l2,
                                       "l2_search": scores}, **(info or {})}
    path = write_report(metrics, out_dir, f"{split}_probe_report", extra=extra)
    print(format_summary(metrics, f"{split} linear probe, l2 {probe.l2:g} ({path}):"))
    return metrics


def evaluate_with_preprocessing(model, ds, split, preprocessing, batch_size=256):
    """Metrics of ``model`` on ``split`` of the prepared dataset ``ds``, with a
    pretrained folder's ``preprocessing`` (eval view, input size, mean/std); the
    split is fitted to the input size with :func:`fit_split`."""
    pre = preprocessing
    images = fit_split(ds, split, (*pre["image_size"], 3), pre["eval_view"])
    return evaluate_model(model, images, ds.train_counts, ds.class_names, pre["mean"],
                          pre["std"], pre["eval_view"], batch_size, pre["image_size"])


def write_diagnostics(model, ds, cfg, split, out_dir, features, grad_norms=True, tsne=True):
    """The PNG diagnostics of :mod:`keras_lt.eval.diagnostics` (see evaluate_checkpoint);
    ``features``: a :func:`split_features` function of ``model``."""
    counts = [int(c) for c in ds.train_counts]
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    if grad_norms:
        feats, logits, labels = features("train")
        norms = D.classifier_gradient_norms(model, feats, logits, labels)
        D.plot_gradient_norms(norms, counts, out_dir / "grad_norms.png",
                              title=f"{cfg['name']}: classifier gradient norms (train split)")
        written.append(out_dir / "grad_norms.png")
    if tsne:
        feats, _, labels = features(split)
        classes = D.pick_spread_classes(counts, 10)
        D.tsne_plot(feats, labels, classes, out_dir / f"{split}_tsne.png",
                    class_names=ds.class_names, title=f"{cfg['name']}: t-SNE ({split})")
        written.append(out_dir / f"{split}_tsne.png")
    for path in written:
        print(f"wrote {path}")
    return written


def final_report(model, ds, cfg, run_dir, state, mean, std):
    """Evaluate the best (else last) checkpoint on the test split and write
    ``test_report.*`` next to it; when the best epoch is not the last, the last
    checkpoint too, into ``last/test_report.*`` (papers whose code keeps the best
    *test* epoch are compared with both). ``state``: the run's state (epochs, the
    val-selected epoch, ...), as :func:`keras_lt.train.loop.train` keeps it."""
    if "test" not in ds.splits:
        print("the dataset has no test split; no test report written")
        return None
    best, last = run_dir / "best.weights.h5", run_dir / "last.weights.h5"
    info = {"recipe": cfg["name"], "epochs": state["epoch"],
            "best_epoch": state.get("best_epoch"), "selected_on": f"val {cfg['eval']['select_on']}",
            "config_hash": state["config_hash"],
            "train_seconds": round(state.get("train_seconds", 0.0), 1), **run_info()}
    if last.exists() and best.exists() and state.get("best_epoch") != state["epoch"]:
        _load_model_weights(model, last)
        report_split(model, ds, cfg, "test", run_dir / "last", "test_report",
                     {**info, "checkpoint": str(last), "weights": "last",
                      "weights_epoch": state["epoch"]}, mean=mean, std=std)
    used = best if best.exists() else last
    _load_model_weights(model, used)
    return report_split(model, ds, cfg, "test", run_dir, "test_report",
                        {**info, "checkpoint": str(used)}, mean=mean, std=std)


def _load_model_weights(model, path):
    with warnings.catch_warnings():
        # a best checkpoint from a frozen-backbone phase has fewer optimizer slots than
        # the model now; only its model weights matter for the report
        warnings.filterwarnings("ignore", message="Skipping variable loading for optimizer")
        model.load_weights(path)
