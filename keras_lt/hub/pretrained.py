"""Pretrained folders: ``save_pretrained`` / ``from_pretrained``.

A pretrained folder (also the exact content of a Hub repository) is Keras' own directory
format, so ``keras.saving.load_model(folder)`` and ``keras.saving.load_model("hf://owner/
name")`` load it (after ``import keras_lt``, which registers the classes), plus keras-lt's
files::

    config.json          Keras' serialized inference model: an LTImageClassifier (its
                         preprocessing layer: crop, resize, mean/std; the classifier's
                         architecture; class names and training class counts)
    metadata.json        Keras' (keras_version, date_saved) and keras-lt's: format, name,
                         method, the recipe, versions, backend, parameter count, data
                         provenance, training budget and hardware, SHA-256 of weights files
    model.weights.h5     the inference model's weights (what Keras loads)
    model.safetensors    the same weights keyed ``backbone/<i>/<name>``, ``classifier/...``
                         (for tools outside Keras)
    training.weights.h5  the whole training model (momentum encoder, queues, prototypes,
                         centroids...; methods other than the baseline); downloaded only
                         with ``for_training=True``
    eval_results.json    the evaluation reports the card's numbers come from
    README.md            the model card, generated (keras_lt.hub.card)
    *_per_class.png      per-class accuracy plots

No pickle anywhere: weights are ``.weights.h5`` or safetensors, and models are rebuilt from
``config.json`` with registered classes in Keras' safe mode.

Resolution order of :func:`from_pretrained`: a local directory; else a zoo name or Hub
repository id (``owner/name``, ``hf://owner/name``). Online, the Hub (``snapshot_download``:
it resolves ``revision``, default ``main``, to a commit and reuses a cached copy of that
commit; ``HF_ENDPOINT`` is honoured); when the Hub cannot serve a zoo name, the local zoo
directory (:func:`keras_lt.hub.registry.local_zoo_dir`; only without ``revision``). Offline
(``HF_HUB_OFFLINE=1`` or ``local_files_only=True``): the Hugging Face cache, then the local
zoo directory.
"""

import datetime as _dt
import json
import os
import shutil
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from keras_lt.version import __version__
from keras_lt.config import config_hash
from keras_lt.hub.card import render_card
from keras_lt.hub.registry import UnknownModelError, find_entry, get_entry
from keras_lt.layers import ImagePreprocessor, crop_fraction_of
from keras_lt.models.builder import build_method_model
from keras_lt.models.registry import get_method
from keras_lt.models.classifier import LTClassifier, LTImageClassifier
from keras_lt.utils.files import atomic_write_text, file_sha256, replace_atomically

FORMAT = "keras_lt.pretrained"
FORMAT_VERSION = 2
CONFIG_FILE = "config.json"
METADATA_FILE = "metadata.json"
KERAS_WEIGHTS_FILE = "model.weights.h5"
WEIGHTS_FILE = "model.safetensors"
TRAINING_WEIGHTS_FILE = "training.weights.h5"
EVAL_FILE = "eval_results.json"
CARD_FILE = "README.md"
INFERENCE_PARTS = ("backbone", "classifier")
#: every weights file a folder may hold; metadata.json records their SHA-256
WEIGHT_FILES = (KERAS_WEIGHTS_FILE, WEIGHTS_FILE, TRAINING_WEIGHTS_FILE)
#: what a download fetches by default (the training state only with ``for_training``)
INFERENCE_DOWNLOAD = [CONFIG_FILE, METADATA_FILE, KERAS_WEIGHTS_FILE, EVAL_FILE, CARD_FILE]


class PretrainedError(RuntimeError):
    """A pretrained model cannot be found, downloaded or loaded; the message says why
    and what to do."""


@dataclass(frozen=True)
class PretrainedInfo:
    """What a loaded model knows about itself (``model.pretrained``)."""

    name: str
    directory: str
    class_names: tuple
    class_counts: tuple
    preprocessing: dict        # image_size [H, W], mean, std (0-1 units), eval_view
    config: dict
    metadata: dict


# ---------------------------------------------------------------------------
# weights


def inference_variables(model, parts=INFERENCE_PARTS):
    """``{"<part>/<index>/<name>": variable}`` for the given parts (backbone,
    classifier) of ``model`` (any keras-lt model). Keys follow each part's variable
    order, which is the same on every backend. An :class:`LTImageClassifier` gives its
    classifier's."""
    if isinstance(model, LTImageClassifier):
        model = model.classifier
    return {f"{part}/{i:03d}/{v.name}": v
            for part in parts for i, v in enumerate(getattr(model, part).weights)}


def inference_weights(model):
    """The backbone and classifier of ``model`` as ``{key: array}`` (see
    :func:`inference_variables`)."""
    from keras import ops

    return {k: np.ascontiguousarray(ops.convert_to_numpy(v))
            for k, v in inference_variables(model).items()}


def assign_inference_weights(model, tensors, source="weights", parts=INFERENCE_PARTS):
    """Assign :func:`inference_weights`-style ``tensors`` to the ``parts`` of ``model``;
    every key of those parts must match by name and shape (the error lists each
    mismatch; keys of other parts in ``tensors`` are ignored)."""
    wanted = inference_variables(model, parts)
    given = {k: t for k, t in tensors.items() if k.split("/", 1)[0] in parts}
    problems = [f"missing {k}" for k in wanted if k not in given]
    problems += [f"unexpected {k}" for k in given if k not in wanted]
    problems += [f"{k}: shape {tuple(given[k].shape)} in {source}, model has {tuple(v.shape)}"
                 for k, v in wanted.items() if k in given and tuple(given[k].shape) != tuple(v.shape)]
    if problems:
        shown = "; ".join(problems[:8]) + (f"; ... ({len(problems)} in all)" if len(problems) > 8 else "")
        raise PretrainedError(f"{source} does not fit the model: {shown}")
    for k, v in wanted.items():
        v.assign(np.asarray(given[k], dtype=v.dtype))


# ---------------------------------------------------------------------------
# saving


def _json_default(obj):
    if isinstance(obj, (np.integer,)):
        return int(obj)
    if isinstance(obj, (np.floating,)):
        return float(obj)
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def _write_json(path, data):
    path.write_text(json.dumps(data, indent=2, default=_json_default) + "\n")


INPUT_NOTE = ("RGB images (N, H, W, 3), uint8 or float in 0-255, any size: the model crops, "
              "resizes and normalises them itself")


def preprocessing_of(recipe, image_shape):
    """Inference preprocessing of a recipe: input size, mean/std, eval view."""
    data = recipe["data"]
    return {"image_size": [int(image_shape[0]), int(image_shape[1])],
            "channels": int(image_shape[2]), "mean": [float(m) for m in data["mean"]],
            "std": [float(s) for s in data["std"]], "eval_view": data["eval_view"],
            "input": INPUT_NOTE}


def preprocessor_of(preprocessing):
    """The :class:`~keras_lt.layers.ImagePreprocessor` of a :func:`preprocessing_of` dict."""
    return ImagePreprocessor(preprocessing["image_size"], preprocessing["mean"],
                             preprocessing["std"],
                             crop_fraction_of(preprocessing["eval_view"], None),
                             name="preprocessor")


def architecture_of(model):
    """The classifier's constructor arguments (of an :class:`LTClassifier`, or of any
    keras-lt training model: they share backbone and classifier)."""
    return {"backbone": model.backbone_name, "backbone_kwargs": dict(model.backbone_kwargs),
            "num_classes": int(model.num_classes), "classifier": model.classifier_kind,
            "classifier_scale": model.classifier_scale, "input_shape": list(model.image_shape)}


def build_classifier(architecture):
    """A built :class:`LTClassifier` (normalised images in) from an architecture dict."""
    arch = dict(architecture)
    model = LTClassifier(backbone=arch["backbone"], num_classes=arch["num_classes"],
                         backbone_kwargs=arch.get("backbone_kwargs") or {},
                         classifier=arch["classifier"], classifier_scale=arch.get("classifier_scale"),
                         input_shape=tuple(arch["input_shape"]), name="classifier")
    model.build((None, *arch["input_shape"]))
    return model


def inference_model(model, preprocessing, class_names, class_counts):
    """The zoo's raw-pixel inference model (:class:`LTImageClassifier`) of a trained
    keras-lt model: its backbone and classifier behind the recipe's preprocessing."""
    net = build_classifier(architecture_of(model))
    assign_inference_weights(net, inference_weights(model), "the trained model")
    out = LTImageClassifier(net, preprocessor_of(preprocessing), class_names, class_counts,
                            name="lt_image_classifier")
    out.build((None, None, None, int(preprocessing.get("channels", 3))))
    return out


def _folder_metadata(keras_meta, name, method, recipe, base_model, facts):
    """``metadata.json``: Keras' own keys first, then keras-lt's."""
    return {**keras_meta, "format": FORMAT, "format_version": FORMAT_VERSION, "name": name,
            "method": method, "base_model": base_model, **facts, "recipe": recipe}


def _write_folder(directory, inference, metadata, eval_report, extra_files, overwrite,
                  training_weights=None):
    """Write a pretrained folder in a temporary sibling and rename it into place (a failure
    leaves nothing half-written). ``metadata``: keras-lt's keys of ``metadata.json`` (Keras'
    own are added); ``training_weights(path)`` writes ``training.weights.h5`` when given."""
    import keras
    from safetensors.numpy import save_file

    directory = Path(directory)
    if directory.exists() and any(directory.iterdir()) and not overwrite:
        raise FileExistsError(f"{directory} exists and is not empty; pass overwrite=True")
    directory.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{directory.name}.", dir=directory.parent))
    try:
        keras.saving.save_model(inference, str(tmp), zipped=False)
        if (tmp / "assets").is_dir() and not any((tmp / "assets").iterdir()):
            (tmp / "assets").rmdir()                # nothing in it; git and the Hub drop it
        keras_meta = json.loads((tmp / METADATA_FILE).read_text())
        save_file(inference_weights(inference.classifier), str(tmp / WEIGHTS_FILE),
                  metadata={"format": FORMAT})
        if training_weights is not None:
            training_weights(tmp / TRAINING_WEIGHTS_FILE)
        metadata = {**keras_meta, **metadata, "files": weight_checksums(tmp)}
        _write_json(tmp / METADATA_FILE, metadata)
        if eval_report:
            _write_json(tmp / EVAL_FILE, {"results": eval_report})
        for f in extra_files:
            if Path(f).resolve() != (tmp / Path(f).name).resolve():
                shutil.copy2(f, tmp / Path(f).name)
        config = folder_config(json.loads((tmp / CONFIG_FILE).read_text()), metadata)
        (tmp / CARD_FILE).write_text(render_card(config, metadata, eval_report or {},
                                                 sorted(Path(f).name for f in extra_files)))
        os.chmod(tmp, 0o755)                      # mkdtemp makes it private
        for f in tmp.iterdir():
            os.chmod(f, 0o644)
        if directory.exists():
            shutil.rmtree(directory)
        os.replace(tmp, directory)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return directory


def save_pretrained(model, directory, recipe, class_names, class_counts, eval_report=None,
                    training=None, data_provenance=None, base_model=None, overwrite=False,
                    extra_files=(), name=None):
    """Write ``model`` (a trained keras-lt model: baseline, BCCL or Reb-SupCon) as a
    pretrained folder, generating its model card.

    Args:
        model: the training model (its backbone + classifier, behind the recipe's
            preprocessing, become the inference model; for BCCL / Reb-SupCon the whole
            model also goes to ``training.weights.h5``).
        directory: output folder; written in a temporary sibling and renamed, so a
            failure leaves nothing half-written.
        recipe: the resolved recipe dict (``config.yaml`` of the run).
        class_names, class_counts: of the training set.
        eval_report: ``{split: report dict}`` (``test_report.json`` content), or None.
        training: facts about the run (epochs, wall time, hardware, backend, versions).
        data_provenance: the prepared dataset's provenance record.
        base_model: the pretrained model this one was fine-tuned from.
        extra_files: files copied into the folder (e.g. per-class plots).
        name: the model's name (default: the recipe's name; converted releases use
            ``<recipe>-official``).

    Example:
    >>> save_pretrained(model, "model_cards/la-resnet32-cifar10lt-if100", recipe,
    ...                 names, counts, eval_report={"test": report})   # doctest: +SKIP
    """
    import keras

    if len(class_names) != model.num_classes or len(class_counts) != model.num_classes:
        raise ValueError(f"{len(class_names)} class names / {len(class_counts)} counts for a "
                         f"model with {model.num_classes} classes")
    preprocessing = preprocessing_of(recipe, model.image_shape)
    inference = inference_model(model, preprocessing, class_names, class_counts)
    n_params = int(sum(int(np.prod(v.shape)) for v in model.backbone.trainable_weights
                       + model.classifier.trainable_weights))
    method = recipe.get("method", "baseline")
    facts = {"keras_lt": __version__, "keras": keras.__version__,
             "backend": (training or {}).get("backend", keras.backend.backend()),
             "parameters": n_params, "date": _dt.date.today().isoformat(),
             "recipe_hash": (training or {}).get("config_hash") or config_hash(recipe),
             "data_provenance": data_provenance or {}, "training": training or {}}
    metadata = _folder_metadata({}, name or recipe["name"], method, recipe, base_model, facts)
    writer = (lambda path: model.save_weights(str(path))) \
        if get_method(method).training_state else None
    return _write_folder(directory, inference, metadata, eval_report, extra_files, overwrite,
                         writer)


def refresh_card(directory, note=None):
    """Rewrite ``directory/README.md`` from the folder's own config, metadata,
    evaluation and plots (after the card generator changed); weights untouched.
    ``note`` first sets ``metadata.json`` ``training.note`` (why the run departs from
    its recipe). Returns ``True`` when the card changed. Each file is written to a
    temporary file and renamed over the old one."""
    directory = Path(directory)
    config, metadata = read_pretrained_config(directory)
    if note is not None and metadata.get("training", {}).get("note") != note:
        metadata.setdefault("training", {})["note"] = note
        replace_atomically(directory / METADATA_FILE, lambda tmp: _write_json(tmp, metadata),
                           0o644)
    evals = (json.loads((directory / EVAL_FILE).read_text())["results"]
             if (directory / EVAL_FILE).is_file() else {})
    images = sorted(p.name for p in directory.glob("*.png"))
    text = render_card(config, metadata, evals, images)
    card = directory / CARD_FILE
    if card.is_file() and card.read_text() == text:
        return False
    atomic_write_text(card, text, 0o644)
    return True


def migrate_folder(directory):
    """Rewrite a folder of the first keras-lt format (its own ``config.json`` beside
    ``model.safetensors``) in the Keras directory format, in place: the same weights behind
    the recorded preprocessing, the training state, evaluation, plots and training facts
    kept (the card regenerated). Returns ``False`` when the folder is already current."""
    from safetensors.numpy import load_file

    directory = Path(directory)
    old = json.loads((directory / CONFIG_FILE).read_text())
    if old.get("format") != FORMAT or int(old.get("format_version", 0)) != 1:
        read_pretrained_config(directory)          # current (or refused with the reason)
        return False
    metadata = json.loads((directory / METADATA_FILE).read_text())
    verify_weights(directory, metadata, WEIGHTS_FILE)
    net = build_classifier(old["architecture"])
    assign_inference_weights(net, load_file(str(directory / WEIGHTS_FILE)),
                             str(directory / WEIGHTS_FILE))
    pre = {**old["preprocessing"], "input": INPUT_NOTE}
    inference = LTImageClassifier(net, preprocessor_of(pre), old["class_names"],
                                  old["class_counts"], name="lt_image_classifier")
    inference.build((None, None, None, int(pre.get("channels", 3))))
    facts = {k: v for k, v in metadata.items() if k not in ("files", "recipe")}
    new_meta = _folder_metadata({}, old["name"], old.get("method", "baseline"), old["recipe"],
                                old.get("base_model"), facts)
    evals = (json.loads((directory / EVAL_FILE).read_text())["results"]
             if (directory / EVAL_FILE).is_file() else None)
    with tempfile.TemporaryDirectory() as keep:
        kept = []
        for f in sorted(directory.glob("*.png")) + [directory / TRAINING_WEIGHTS_FILE]:
            if f.is_file():
                kept.append(Path(shutil.copy2(f, Path(keep) / f.name)))
        if TRAINING_WEIGHTS_FILE in metadata.get("files", {}):
            verify_weights(directory, metadata, TRAINING_WEIGHTS_FILE)
        state = [f for f in kept if f.name == TRAINING_WEIGHTS_FILE]
        writer = (lambda path: shutil.copy2(state[0], path)) if state else None
        _write_folder(directory, inference, new_meta, evals,
                      [f for f in kept if f.suffix == ".png"], True, writer)
    # the migrated folder must predict what the old one did: raw pixels through the loaded
    # model against the old classifier on the recorded normalisation
    h, w = pre["image_size"]
    pixels = np.random.default_rng(0).integers(0, 256, (4, h, w, 3)).astype("uint8")
    normalised = ((pixels / 255.0 - np.asarray(pre["mean"])) / np.asarray(pre["std"]))
    want = np.asarray(net.predict_on_batch(normalised.astype("float32")))
    got = np.asarray(load_pretrained_dir(directory).predict_on_batch(pixels))
    if not np.allclose(got, want, rtol=1e-4, atol=1e-4):
        raise PretrainedError(f"{directory}: the migrated model's logits differ from the old "
                              f"folder's by up to {np.abs(got - want).max():.3g}")
    return True


# ---------------------------------------------------------------------------
# resolving a name to a folder


def _offline():
    from huggingface_hub import constants

    env = os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on")
    return bool(constants.HF_HUB_OFFLINE) or env


def _looks_like_path(name):
    """A name that can only be a file-system path (a Hub id is ``name`` or ``org/name``)."""
    return name.startswith((".", "/", "~")) or "\\" in name or name.count("/") > 1


def _from_cache(repo_id, revision, cache_dir, for_training=False):
    """The cached snapshot holding what a load needs (the inference files, or with
    ``for_training`` everything), or ``None``."""
    from huggingface_hub import snapshot_download

    def cached(patterns):
        try:
            return Path(snapshot_download(repo_id, revision=revision, cache_dir=cache_dir,
                                          local_files_only=True, allow_patterns=patterns))
        except Exception:      # LocalEntryNotFoundError, IncompleteSnapshotError: not cached
            return None

    found = cached(None if for_training else INFERENCE_DOWNLOAD)
    if found is None and for_training and cached(INFERENCE_DOWNLOAD) is not None:
        raise PretrainedError(f"the cached copy of {repo_id} lacks {TRAINING_WEIGHTS_FILE} (a "
                              f"download for inference skips the training state): load it "
                              f"online with for_training=True")
    return found


HUB_PREFIX = "hf://"


def resolve_pretrained(name_or_path, revision=None, cache_dir=None, token=None,
                       local_files_only=False, force_download=False, for_training=False):
    """The local folder of a pretrained model, and where it came from (``local``,
    ``hf-cache``, ``bundled`` or ``hub``). See the module docstring.

    ``name_or_path``: a folder, a zoo name, a Hub id ``owner/name`` or ``hf://owner/name``.
    Online, the Hub says which commit a name (at ``revision``) means, as huggingface_hub
    resolves it (a copy already in the cache is reused when it is that commit); offline
    (``HF_HUB_OFFLINE=1`` or ``local_files_only=True``) the cache answers. A zoo name the Hub
    cannot serve falls back to its folder in the local zoo directory (without ``revision``).
    A download fetches the inference files (:data:`INFERENCE_DOWNLOAD`) and, with
    ``for_training``, everything (the training state too)."""
    name = str(name_or_path)
    hub_uri = name.startswith(HUB_PREFIX)
    if hub_uri:
        name = name[len(HUB_PREFIX):].strip("/")
        if name.count("/") != 1:
            raise PretrainedError(f"{name_or_path!r} is not a Hub repository: write "
                                  f"hf://<owner>/<name>")
    else:
        path = Path(name).expanduser()
        if path.is_dir():
            if not (path / CONFIG_FILE).is_file():
                raise PretrainedError(f"{path} is not a keras-lt pretrained folder (no "
                                      f"{CONFIG_FILE}); write one with keras_lt.save_pretrained "
                                      f"or tools/export.py")
            return path, "local"
        if _looks_like_path(name):
            raise PretrainedError(f"no such directory: {path}")
    entry = find_entry(name)
    if entry is None and "/" not in name:
        get_entry(name)                                  # raises with close names
    repo_id = entry.repo_id if entry else name
    if entry is not None and not entry.published:
        raise PretrainedError(
            f"{entry.name} has no published checkpoint yet (recipe {entry.recipe}). Train and "
            f"export it with:\n  {entry.train_command}\nor convert the authors' PyTorch release "
            f"of it:\n  keras-lt convert <release .pth> --recipe {entry.name} "
            f"--data <prepared dataset> --out model_cards/{entry.name}")
    if local_files_only or _offline():
        why = "local_files_only is set" if local_files_only else "HF_HUB_OFFLINE is set"
        if force_download:
            raise PretrainedError(f"force_download needs the Hub, but {why}")
        cached = _from_cache(repo_id, revision, cache_dir, for_training)
        if cached is not None:
            return cached, "hf-cache"
        if entry is not None and revision is None and entry.local:
            return entry.card_dir, "bundled"
        from huggingface_hub import constants

        where = cache_dir or constants.HF_HUB_CACHE
        rev = f" --revision {revision}" if revision else ""
        raise PretrainedError(
            f"{repo_id}{'@' + revision if revision else ''} is not in the Hugging Face cache "
            f"({where}) and {why}. On a machine with Hub access run "
            f"`hf download {repo_id}{rev}` and copy its cache here (or point HF_HUB_CACHE at "
            f"it), go online to download, pass a local folder, or set KERAS_LT_ZOO_DIR to a "
            f"folder holding {entry.name if entry else '<name>'}/")
    from huggingface_hub import snapshot_download

    try:
        patterns = None if for_training else INFERENCE_DOWNLOAD
        return Path(snapshot_download(repo_id, revision=revision, cache_dir=cache_dir,
                                      token=token, force_download=force_download,
                                      allow_patterns=patterns)), "hub"
    except Exception as exc:
        endpoint = os.environ.get("HF_ENDPOINT", "the default Hub endpoint")
        if entry is not None and revision is None and not force_download and entry.local:
            print(f"note: {repo_id} could not be fetched from {endpoint} "
                  f"({type(exc).__name__}); using the local zoo copy {entry.card_dir} "
                  f"(HF_HUB_OFFLINE=1 skips the Hub)", file=sys.stderr)
            return entry.card_dir, "bundled"
        raise PretrainedError(
            f"cannot download {repo_id}{'@' + revision if revision else ''} from {endpoint}: "
            f"{type(exc).__name__}: {exc}. Check the name and network, set HF_ENDPOINT to a "
            f"mirror, or pass a local folder") from None


# ---------------------------------------------------------------------------
# loading


def folder_config(model_config, metadata):
    """What keras-lt knows of a folder, from Keras' serialized model (``config.json``) and
    ``metadata.json``: ``name``, ``method``, ``architecture`` (the classifier's arguments),
    ``preprocessing`` (input size, mean/std, eval view), ``class_names``, ``class_counts``,
    ``base_model`` and ``recipe``. Reads JSON only (builds no model)."""
    outer = model_config.get("config") or {}
    net = (outer.get("classifier") or {}).get("config") or {}
    pre = (outer.get("preprocessor") or {}).get("config") or {}
    recipe = metadata.get("recipe") or {}
    shape = [int(s) for s in net.get("input_shape", [0, 0, 3])]
    return {"format": metadata.get("format"), "format_version": metadata.get("format_version"),
            "name": metadata.get("name"), "method": metadata.get("method", "baseline"),
            "architecture": {"backbone": net.get("backbone"),
                             "backbone_kwargs": net.get("backbone_kwargs") or {},
                             "num_classes": net.get("num_classes"),
                             "classifier": net.get("classifier"),
                             "classifier_scale": net.get("classifier_scale"),
                             "input_shape": shape},
            "preprocessing": {"image_size": list(pre.get("image_size", shape[:2])),
                              "channels": shape[2], "mean": pre.get("mean"),
                              "std": pre.get("std"),
                              "eval_view": (recipe.get("data") or {}).get("eval_view"),
                              "input": INPUT_NOTE},
            "class_names": outer.get("class_names"), "class_counts": outer.get("class_counts"),
            "base_model": metadata.get("base_model"), "recipe": recipe}


def _read_json(path):
    try:
        return json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise PretrainedError(f"cannot read {path}: {exc}") from None


def read_pretrained_config(directory):
    """``(config, metadata)`` of a pretrained folder, validated; ``config`` is
    :func:`folder_config`'s description."""
    directory = Path(directory)
    cfg_path, meta_path = directory / CONFIG_FILE, directory / METADATA_FILE
    if not cfg_path.is_file():
        raise PretrainedError(f"{directory} is not a keras-lt pretrained folder: no {CONFIG_FILE}")
    model_config = _read_json(cfg_path)
    if model_config.get("format") == FORMAT:           # the first format wrote its own config
        raise PretrainedError(
            f"{directory} is a keras-lt folder of format version "
            f"{model_config.get('format_version')}, from before folders were Keras' own "
            f"format; rewrite it with: python tools/export.py --migrate {directory}")
    if not meta_path.is_file():
        raise PretrainedError(f"{directory} is not a keras-lt pretrained folder: no "
                              f"{METADATA_FILE}")
    metadata = _read_json(meta_path)
    if metadata.get("format") != FORMAT:
        raise PretrainedError(f"{meta_path} is not keras-lt metadata (format "
                              f"{metadata.get('format')!r}, expected {FORMAT!r})")
    if int(metadata.get("format_version", 0)) > FORMAT_VERSION:
        raise PretrainedError(f"{meta_path} has format version {metadata['format_version']}; "
                              f"this keras-lt reads up to {FORMAT_VERSION}: upgrade keras-lt")
    registered = model_config.get("registered_name")
    if registered != "keras_lt>LTImageClassifier":
        raise PretrainedError(f"{cfg_path} holds a {registered or model_config.get('class_name')!r}"
                              f", not a keras-lt LTImageClassifier")
    config = folder_config(model_config, metadata)
    for key in ("name", "recipe", "class_names", "class_counts"):
        if not config.get(key):
            raise PretrainedError(f"{directory}: no {key!r} in {CONFIG_FILE} / {METADATA_FILE}")
    check_config(config, cfg_path)
    return config, metadata


def weight_checksums(directory):
    """``{file name: sha256}`` of a pretrained folder's weights files (recorded in
    ``metadata.json`` ``files`` and checked by :func:`verify_weights` on load)."""
    directory = Path(directory)
    return {f: file_sha256(directory / f) for f in WEIGHT_FILES if (directory / f).is_file()}


def verify_weights(directory, metadata, name):
    """Refuse ``directory/name`` when its SHA-256 differs from the one ``metadata.json``
    records (a corrupt or replaced file); folders without a record load unchecked."""
    want = (metadata.get("files") or {}).get(name)
    if want is None:
        return
    have = file_sha256(Path(directory) / name)
    if have != want:
        raise PretrainedError(f"{Path(directory) / name} is corrupt or was replaced: its sha256 "
                              f"is {have[:16]}..., metadata.json records {want[:16]}...; "
                              f"download or export the folder again")


def check_config(config, cfg_path):
    """Refuse a config whose classes disagree: as many class names and class counts as the
    architecture's ``num_classes``."""
    n = config["architecture"].get("num_classes")
    names, counts = config["class_names"], config["class_counts"]
    if len(names) != n or len(counts) != n:
        raise PretrainedError(f"{cfg_path}: the architecture has {n} classes but the config "
                              f"lists {len(names)} class names and {len(counts)} class counts")
    if len(set(names)) != len(names):
        raise PretrainedError(f"{cfg_path}: class names repeat")


def load_inference_model(directory, metadata=None):
    """``keras.saving.load_model`` of a checked folder (safe mode), its weights file
    verified first; errors name the folder."""
    import keras

    directory = Path(directory)
    if metadata is None:
        _, metadata = read_pretrained_config(directory)
    wpath = directory / KERAS_WEIGHTS_FILE
    if not wpath.is_file():
        raise PretrainedError(f"{directory} has no {KERAS_WEIGHTS_FILE}")
    for name in (KERAS_WEIGHTS_FILE, WEIGHTS_FILE):       # the safetensors copy when present
        if (directory / name).is_file():
            verify_weights(directory, metadata, name)
    try:
        return keras.saving.load_model(str(directory), compile=False, safe_mode=True)
    except Exception as exc:       # h5py / deserialisation errors of many kinds
        raise PretrainedError(f"cannot load {directory}: {type(exc).__name__}: "
                              f"{' '.join(str(exc).split())[:300]}") from None


def load_pretrained_dir(directory, for_training=False, steps_per_epoch=1):
    """Load a pretrained folder: the inference model (:class:`LTImageClassifier`, raw
    pixels in), or with ``for_training`` the recipe's whole training model."""
    directory = Path(directory)
    config, metadata = read_pretrained_config(directory)
    inference = load_inference_model(directory, metadata)
    model = inference
    if for_training:
        arch = config["architecture"]
        model = build_method_model(config["recipe"], arch["num_classes"], config["class_counts"],
                                   tuple(arch["input_shape"]), steps_per_epoch)
        tpath = directory / TRAINING_WEIGHTS_FILE
        if not tpath.is_file() and TRAINING_WEIGHTS_FILE in (metadata.get("files") or {}):
            raise PretrainedError(f"{directory} lacks {TRAINING_WEIGHTS_FILE} (the training "
                                  f"state; a download for inference skips it): load it online "
                                  f"with for_training=True")
        if tpath.is_file():
            verify_weights(directory, metadata, TRAINING_WEIGHTS_FILE)
            model.load_weights(str(tpath))
        else:
            assign_inference_weights(model, inference_weights(inference.classifier),
                                     str(directory / KERAS_WEIGHTS_FILE))
    model.pretrained = PretrainedInfo(
        name=config["name"], directory=str(directory), class_names=tuple(config["class_names"]),
        class_counts=tuple(int(c) for c in config["class_counts"]),
        preprocessing=dict(config["preprocessing"]), config=config, metadata=metadata)
    return model


def from_pretrained(name_or_path, revision=None, for_training=False, cache_dir=None,
                    steps_per_epoch=1, token=None, local_files_only=False, force_download=False):
    """Load a zoo model by name (``"bccl-resnet32-cifar10lt-if100"``), Hub repository
    (``"org/name"`` or ``"hf://org/name"``) or local folder, on the current Keras backend.
    ``revision``, ``token``, ``cache_dir``, ``local_files_only`` and ``force_download`` mean
    what they mean to huggingface_hub (see :func:`resolve_pretrained` for the order).

    Returns the inference model, an :class:`~keras_lt.models.LTImageClassifier`: raw RGB
    images (uint8 or float 0-255, any size) in, logits out, with its preprocessing inside
    and ``model.class_names``; the same model ``keras.saving.load_model(folder)`` gives,
    plus ``model.pretrained`` (:class:`PretrainedInfo`: where it came from, recipe,
    metadata). With ``for_training=True``: the full training model of the recipe
    (momentum encoder, queues, prototypes, centroids; normalised images in), to continue
    training; only then is the training state downloaded.

    Example:
    >>> model = keras_lt.from_pretrained("bccl-resnet32-cifar10lt-if100")   # doctest: +SKIP
    >>> keras_lt.predict(model, "cat.jpg", top_k=3)                          # doctest: +SKIP
    """
    directory, _ = resolve_pretrained(name_or_path, revision, cache_dir, token=token,
                                      local_files_only=local_files_only,
                                      force_download=force_download, for_training=for_training)
    return load_pretrained_dir(directory, for_training=for_training,
                               steps_per_epoch=steps_per_epoch)


__all__ = ["from_pretrained", "save_pretrained", "resolve_pretrained", "load_pretrained_dir",
           "read_pretrained_config", "PretrainedError", "PretrainedInfo", "UnknownModelError"]
