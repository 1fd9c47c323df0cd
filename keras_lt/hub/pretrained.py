"""Pretrained folders: ``save_pretrained`` / ``from_pretrained``.

A pretrained folder (also the exact content of a Hub repository) holds::

    config.json          architecture, preprocessing, class names and counts, recipe
    metadata.json        versions, backend, parameter count, date, recipe hash, data
                         provenance, training budget and hardware
    model.safetensors    inference weights: backbone + classifier
    training.weights.h5  the whole training model (momentum encoder, queues,
                         prototypes, centroids...; methods other than the baseline)
    eval_results.json    the evaluation reports the card's numbers come from
    README.md            the model card, generated (keras_lt.hub.card)
    *_per_class.png      per-class accuracy plots

No pickle anywhere: weights are safetensors or Keras ``.weights.h5``; models are
rebuilt from ``config.json`` with registered classes only.

Resolution order of :func:`from_pretrained`: a local directory; else a zoo name or Hub
repository id (``owner/name``, ``hf://owner/name``). Online, the Hub (``snapshot_download``:
it resolves ``revision``, default ``main``, to a commit and reuses a cached copy of that
commit; ``HF_ENDPOINT`` is honoured); when the Hub cannot serve a zoo name, the repository's
own ``model_cards/<name>/`` (the published content; only without ``revision``). Offline
(``HF_HUB_OFFLINE=1`` or ``local_files_only=True``): the Hugging Face cache, then
``model_cards/<name>/``.
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

import keras_lt
from keras_lt.config import config_hash
from keras_lt.hub.card import render_card
from keras_lt.hub.registry import UnknownModelError, find_entry, get_entry
from keras_lt.models.builder import build_method_model
from keras_lt.models.registry import get_method
from keras_lt.models.classifier import LTClassifier
from keras_lt.utils.files import atomic_write_text, file_sha256, replace_atomically

FORMAT = "keras_lt.pretrained"
FORMAT_VERSION = 1
CONFIG_FILE = "config.json"
METADATA_FILE = "metadata.json"
WEIGHTS_FILE = "model.safetensors"
TRAINING_WEIGHTS_FILE = "training.weights.h5"
EVAL_FILE = "eval_results.json"
CARD_FILE = "README.md"
INFERENCE_PARTS = ("backbone", "classifier")


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
    order, which is the same on every backend."""
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


def preprocessing_of(recipe, image_shape):
    """Inference preprocessing of a recipe: input size, mean/std, eval view."""
    data = recipe["data"]
    return {"image_size": [int(image_shape[0]), int(image_shape[1])],
            "channels": int(image_shape[2]), "mean": [float(m) for m in data["mean"]],
            "std": [float(s) for s in data["std"]], "eval_view": data["eval_view"],
            "input": "RGB uint8 (H, W, 3); scaled to [0, 1], then (x - mean) / std"}


def architecture_of(model):
    """The inference model's constructor arguments (an :class:`LTClassifier`)."""
    return {"backbone": model.backbone_name, "backbone_kwargs": dict(model.backbone_kwargs),
            "num_classes": int(model.num_classes), "classifier": model.classifier_kind,
            "classifier_scale": model.classifier_scale, "input_shape": list(model.image_shape)}


def save_pretrained(model, directory, recipe, class_names, class_counts, eval_report=None,
                    training=None, data_provenance=None, base_model=None, overwrite=False,
                    extra_files=(), name=None):
    """Write ``model`` (a trained keras-lt model: baseline, BCCL or Reb-SupCon) as a
    pretrained folder, generating its model card.

    Args:
        model: the training model (its backbone + classifier become ``model.safetensors``;
            for BCCL / Reb-SupCon the whole model also goes to ``training.weights.h5``).
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
    from safetensors.numpy import save_file

    directory = Path(directory)
    if directory.exists() and any(directory.iterdir()) and not overwrite:
        raise FileExistsError(f"{directory} exists and is not empty; pass overwrite=True")
    if len(class_names) != model.num_classes or len(class_counts) != model.num_classes:
        raise ValueError(f"{len(class_names)} class names / {len(class_counts)} counts for a "
                         f"model with {model.num_classes} classes")
    arch = architecture_of(model)
    config = {"format": FORMAT, "format_version": FORMAT_VERSION, "name": name or recipe["name"],
              "method": recipe.get("method", "baseline"), "architecture": arch,
              "preprocessing": preprocessing_of(recipe, arch["input_shape"]),
              "class_names": list(class_names), "class_counts": [int(c) for c in class_counts],
              "base_model": base_model, "recipe": recipe}
    weights = inference_weights(model)
    n_params = int(sum(int(np.prod(v.shape)) for v in model.backbone.trainable_weights
                       + model.classifier.trainable_weights))
    metadata = {"keras_lt": keras_lt.__version__, "keras": keras.__version__,
                "backend": (training or {}).get("backend", keras.backend.backend()),
                "parameters": n_params, "date": _dt.date.today().isoformat(),
                "recipe": recipe["name"],
                "recipe_hash": (training or {}).get("config_hash") or config_hash(recipe),
                "data_provenance": data_provenance or {}, "training": training or {}}
    directory.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{directory.name}.", dir=directory.parent))
    try:
        _write_json(tmp / CONFIG_FILE, config)
        save_file(weights, str(tmp / WEIGHTS_FILE), metadata={"format": FORMAT})
        if get_method(config["method"]).training_state:
            model.save_weights(str(tmp / TRAINING_WEIGHTS_FILE))
        metadata["files"] = weight_checksums(tmp)
        _write_json(tmp / METADATA_FILE, metadata)
        if eval_report:
            _write_json(tmp / EVAL_FILE, {"results": eval_report})
        for f in extra_files:
            shutil.copy2(f, tmp / Path(f).name)
        (tmp / CARD_FILE).write_text(render_card(config, metadata, eval_report or {},
                                                 [Path(f).name for f in extra_files]))
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


def refresh_card(directory, note=None):
    """Rewrite ``directory/README.md`` from the folder's own config, metadata,
    evaluation and plots (after the card generator changed); weights untouched.
    ``note`` first sets ``metadata.json`` ``training.note`` (why the run departs from
    its recipe). Returns ``True`` when the card changed. Each file is written to a
    temporary file and renamed over the old one."""
    directory = Path(directory)
    for f in (CONFIG_FILE, METADATA_FILE):
        if not (directory / f).is_file():
            raise PretrainedError(f"{directory} is not a pretrained folder: no {f}")
    config = json.loads((directory / CONFIG_FILE).read_text())
    metadata = json.loads((directory / METADATA_FILE).read_text())
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


# ---------------------------------------------------------------------------
# resolving a name to a folder


def _offline():
    from huggingface_hub import constants

    env = os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on")
    return bool(constants.HF_HUB_OFFLINE) or env


def _looks_like_path(name):
    """A name that can only be a file-system path (a Hub id is ``name`` or ``org/name``)."""
    return name.startswith((".", "/", "~")) or "\\" in name or name.count("/") > 1


def _from_cache(repo_id, revision, cache_dir):
    from huggingface_hub import snapshot_download

    try:
        return Path(snapshot_download(repo_id, revision=revision, cache_dir=cache_dir,
                                      local_files_only=True))
    except Exception:      # LocalEntryNotFoundError and friends: not cached
        return None


HUB_PREFIX = "hf://"


def resolve_pretrained(name_or_path, revision=None, cache_dir=None, token=None,
                       local_files_only=False, force_download=False):
    """The local folder of a pretrained model, and where it came from (``local``,
    ``hf-cache``, ``bundled`` or ``hub``). See the module docstring.

    ``name_or_path``: a folder, a zoo name, a Hub id ``owner/name`` or ``hf://owner/name``.
    Online, the Hub says which commit a name (at ``revision``) means, as huggingface_hub
    resolves it (a copy already in the cache is reused when it is that commit); offline
    (``HF_HUB_OFFLINE=1`` or ``local_files_only=True``) the cache answers. A zoo name the Hub
    cannot serve falls back to the copy bundled in ``model_cards/`` (without ``revision``)."""
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
        recipe = f"zoo_configs/{entry.name}.yaml"
        raise PretrainedError(
            f"{entry.name} has no published checkpoint yet (its recipe is {recipe}). Train and "
            f"export it with:\n  {entry.train_command}\nor convert the authors' PyTorch release "
            f"of it:\n  python tools/convert_torch.py <release .pth> --recipe {entry.name} "
            f"--data <prepared dataset> --out model_cards/{entry.name}")
    if local_files_only or _offline():
        why = "local_files_only is set" if local_files_only else "HF_HUB_OFFLINE is set"
        if force_download:
            raise PretrainedError(f"force_download needs the Hub, but {why}")
        cached = _from_cache(repo_id, revision, cache_dir)
        if cached is not None:
            return cached, "hf-cache"
        if entry is not None and revision is None:
            return entry.card_dir, "bundled"
        from huggingface_hub import constants

        where = cache_dir or constants.HF_HUB_CACHE
        rev = f" --revision {revision}" if revision else ""
        raise PretrainedError(
            f"{repo_id}{'@' + revision if revision else ''} is not in the Hugging Face cache "
            f"({where}) and {why}. On a machine with Hub access run "
            f"`hf download {repo_id}{rev}` and copy its cache here (or point HF_HUB_CACHE at "
            f"it), go online to download, or pass a local folder")
    from huggingface_hub import snapshot_download

    try:
        return Path(snapshot_download(repo_id, revision=revision, cache_dir=cache_dir,
                                      token=token, force_download=force_download)), "hub"
    except Exception as exc:
        endpoint = os.environ.get("HF_ENDPOINT", "the default Hub endpoint")
        if entry is not None and revision is None and not force_download:
            print(f"note: {repo_id} could not be fetched from {endpoint} "
                  f"({type(exc).__name__}); using the copy bundled in model_cards/ "
                  f"(HF_HUB_OFFLINE=1 skips the Hub)", file=sys.stderr)
            return entry.card_dir, "bundled"
        raise PretrainedError(
            f"cannot download {repo_id}{'@' + revision if revision else ''} from {endpoint}: "
            f"{type(exc).__name__}: {exc}. Check the name and network, set HF_ENDPOINT to a "
            f"mirror, or pass a local folder") from None


# ---------------------------------------------------------------------------
# loading


def read_pretrained_config(directory):
    """``(config, metadata)`` of a pretrained folder, validated."""
    directory = Path(directory)
    cfg_path = directory / CONFIG_FILE
    try:
        config = json.loads(cfg_path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise PretrainedError(f"cannot read {cfg_path}: {exc}") from None
    if config.get("format") != FORMAT:
        raise PretrainedError(f"{cfg_path} is not a keras-lt config (format "
                              f"{config.get('format')!r}, expected {FORMAT!r})")
    if int(config.get("format_version", 0)) > FORMAT_VERSION:
        raise PretrainedError(f"{cfg_path} has format version {config['format_version']}; this "
                              f"keras-lt reads up to {FORMAT_VERSION}: upgrade keras-lt")
    for key in ("architecture", "preprocessing", "class_names", "class_counts", "recipe"):
        if key not in config:
            raise PretrainedError(f"{cfg_path} lacks {key!r}")
    check_config(config, cfg_path)
    meta_path = directory / METADATA_FILE
    metadata = json.loads(meta_path.read_text()) if meta_path.is_file() else {}
    return config, metadata


def weight_checksums(directory):
    """``{file name: sha256}`` of a pretrained folder's weights files (recorded in
    ``metadata.json`` ``files`` and checked by :func:`verify_weights` on load)."""
    directory = Path(directory)
    return {f: file_sha256(directory / f) for f in (WEIGHTS_FILE, TRAINING_WEIGHTS_FILE)
            if (directory / f).is_file()}


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


def build_inference_model(architecture):
    """An :class:`~keras_lt.models.classifier.LTClassifier` from ``config["architecture"]``."""
    arch = dict(architecture)
    model = LTClassifier(backbone=arch["backbone"], num_classes=arch["num_classes"],
                         backbone_kwargs=arch.get("backbone_kwargs") or {},
                         classifier=arch["classifier"], classifier_scale=arch.get("classifier_scale"),
                         input_shape=tuple(arch["input_shape"]))
    model.build((None, *arch["input_shape"]))
    return model


def load_pretrained_dir(directory, for_training=False, steps_per_epoch=1):
    """Load a pretrained folder: the inference model (backbone + classifier), or
    with ``for_training`` the recipe's whole training model."""
    from safetensors import SafetensorError
    from safetensors.numpy import load_file

    directory = Path(directory)
    config, metadata = read_pretrained_config(directory)
    wpath = directory / WEIGHTS_FILE
    if not wpath.is_file():
        raise PretrainedError(f"{directory} has no {WEIGHTS_FILE}")
    verify_weights(directory, metadata, WEIGHTS_FILE)
    try:
        tensors = load_file(str(wpath))
    except (SafetensorError, OSError) as exc:
        raise PretrainedError(f"cannot read {wpath}: {exc}") from None
    arch = config["architecture"]
    if for_training:
        model = build_method_model(config["recipe"], arch["num_classes"], config["class_counts"],
                                   tuple(arch["input_shape"]), steps_per_epoch)
        tpath = directory / TRAINING_WEIGHTS_FILE
        if tpath.is_file():
            verify_weights(directory, metadata, TRAINING_WEIGHTS_FILE)
            model.load_weights(str(tpath))
        else:
            assign_inference_weights(model, tensors, str(wpath))
    else:
        model = build_inference_model(arch)
        assign_inference_weights(model, tensors, str(wpath))
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

    Returns the inference model (backbone + classifier, ``model(images) -> logits``)
    with ``model.pretrained`` (:class:`PretrainedInfo`: class names, training class
    counts, preprocessing); with ``for_training=True`` the full training model of the
    recipe (momentum encoder, queues, prototypes, centroids), to continue training.

    Example:
    >>> model = keras_lt.from_pretrained("bccl-resnet32-cifar10lt-if100")   # doctest: +SKIP
    >>> keras_lt.predict(model, "cat.jpg", top_k=3)                          # doctest: +SKIP
    """
    directory, _ = resolve_pretrained(name_or_path, revision, cache_dir, token=token,
                                      local_files_only=local_files_only,
                                      force_download=force_download)
    return load_pretrained_dir(directory, for_training=for_training,
                               steps_per_epoch=steps_per_epoch)


__all__ = ["from_pretrained", "save_pretrained", "resolve_pretrained", "load_pretrained_dir",
           "read_pretrained_config", "PretrainedError", "PretrainedInfo", "UnknownModelError"]
