"""Recipes: YAML files in ``zoo_configs/`` with command-line overrides.

A recipe has the sections ``data``, ``model``, ``loss`` and ``optim`` (see
``zoo_configs/la-resnet32-cifar10lt-if100.yaml`` for every key). Overrides are
``key.sub=value`` strings whose value is parsed as YAML, e.g.
``optim.epochs=30`` or ``data.views=[cifar_basic]``.
"""

import copy
import hashlib
import json
from pathlib import Path

import yaml

DEFAULTS = {
    "name": "unnamed",
    "method": "baseline",
    "seed": 0,
    "data": {
        "prepared": None,
        "views": ["cifar_basic"],
        "eval_view": "cifar_eval",
        "mean": None,
        "std": None,
        "workers": 2,
        "image_size": None,
    },
    "model": {"backbone": "resnet32", "width": 1, "classifier": "linear", "classifier_scale": None},
    "loss": {"name": "ce", "tau": 1.0},
    "optim": {
        "epochs": 200,
        "batch_size": 128,
        "lr": 0.1,
        "momentum": 0.9,
        "nesterov": False,
        "weight_decay": 2e-4,
        "warmup_epochs": 5,
        "min_lr": 0.0,
        # "warmup_cosine": per-step linear warm-up then cosine to min_lr;
        # "bccl_epoch": BCCL's released code (per-epoch warm-up + cosine, utils.adjust_lr)
        "schedule": "warmup_cosine",
    },
    # Method-specific settings (used when ``method: bccl``); defaults are the
    # paper's CIFAR values (Kim & Ko 2025, §4.1-4.3) where it gives them, the released
    # code's otherwise (M = 100, the k-means tolerance); see keras_lt.models.BCCL.
    # ``warmup_epochs: null`` means "the same as optim.warmup_epochs", as in the
    # reference code, where one --warmup_epochs drives the lr warm-up and the
    # SCL -> class-complement switch.
    "bccl": {
        "feat_dim": 128, "head_hidden": 512, "queue_size": 100, "num_centroids": 5,
        "temperature": 0.1, "gamma": 0.1, "lc_tau": 1.0, "warmup_epochs": None,
        "refresh_every": 5, "refresh": "paper", "centroid_loss": "paper",
        "centroid_norm": "class", "scl_count": "contrast", "complement": True,
        "use_scl": True, "use_centroid_loss": True, "use_lc": True,
        "queue_store": "all_views", "kmeans_iters": 100, "kmeans_tol": 1.0e-4,
    },
    # ``method: rebsupcon`` settings (Lv et al. 2025, §3.3, §4.2, Tables 7-8);
    # CIFAR-scale defaults where the paper gives ImageNet values (see the README).
    "rebsupcon": {
        "feat_dim": 128, "head_hidden": 256, "queue_size": 4096, "momentum": 0.999,
        "temperature": 0.1, "alpha": 0.5, "beta": 0.1, "eps": 1.0e-5, "rebalance": "printed",
        "grad_momentum": 0.9, "num_prototypes": 30, "proto_temperature": None,
        "sinkhorn_epsilon": 0.05, "sinkhorn_iters": 3, "delta": 1.0, "proto_weights": "role",
        "classifier_loss": "logit_adjusted", "classifier_stop_gradient": False,
        "classifier_weight": 1.0, "use_rebalance": True, "use_prototypes": True,
    },
    "eval": {"every": 1, "batch_size": 256, "select_on": "class_avg"},
    # Fine-tuning a pretrained model (tools/train.py --init): ``init`` names it (zoo
    # name, Hub id or folder); its backbone (and, with ``keep_classifier``, its
    # classifier) initialise the recipe's model; ``freeze_backbone_epochs`` trains
    # only the rest for that many epochs first. ``keep_classifier``: "auto" keeps it
    # when the class names match, true requires that, false always starts afresh.
    "finetune": {"init": None, "freeze_backbone_epochs": 0, "keep_classifier": "auto"},
    # jit_compile "auto": off on torch and TensorFlow (XLA/Inductor are slower or
    # crash for these convs on CPU), on for JAX (JAX without jit runs op by op).
    # precision: "float32", or a keras.mixed_precision policy for accelerators
    # ("mixed_float16" adds dynamic loss scaling, "mixed_bfloat16"); the backbone and
    # heads compute in 16 bits, while the variables, the models' outputs, the losses,
    # queues, k-means and Sinkhorn stay float32.
    "runtime": {"jit_compile": "auto", "verbose": "auto", "precision": "float32"},
}


class ConfigError(ValueError):
    """A recipe or override is malformed; the message names the key or file."""


def _merge(base, update, path=""):
    out = copy.deepcopy(base)
    for key, value in update.items():
        where = f"{path}{key}"
        if key not in out:
            raise ConfigError(f"unknown recipe key {where!r}; known keys here: {sorted(out)}")
        if isinstance(out[key], dict) and out[key] and not isinstance(value, dict):
            raise ConfigError(f"recipe key {where!r} must be a mapping, got {value!r}")
        if isinstance(out[key], dict) and out[key] and isinstance(value, dict):
            out[key] = _merge(out[key], value, where + ".")
        else:
            out[key] = value
    return out


def apply_override(cfg, override):
    """Apply one ``a.b=value`` override (value parsed as YAML) and return a new dict."""
    if "=" not in override:
        raise ConfigError(f"override {override!r} must look like key.sub=value")
    key, raw = override.split("=", 1)
    try:
        value = yaml.safe_load(raw)
    except yaml.YAMLError as exc:
        raise ConfigError(f"override {override!r}: cannot parse value: {exc}") from None
    nested = value
    for part in reversed(key.strip().split(".")):
        nested = {part: nested}
    return _merge(cfg, nested)


#: numeric recipe keys and the values they accept: (kind, low, high, ends); kind "int" or
#: "number"; ends "[]" closed, "[)" / "(]" / "()" open at that end; ``None`` leaves a side
#: unbounded; keys marked ``optional`` also accept ``null``
_RANGES = {
    "seed": ("int", 0, None, "[]"),
    "data.workers": ("int", 0, None, "[]"),
    "optim.epochs": ("int", 1, None, "[]"),
    "optim.batch_size": ("int", 1, None, "[]"),
    "optim.lr": ("number", 0, None, "()"),
    "optim.momentum": ("number", 0, 1, "[)"),
    "optim.weight_decay": ("number", 0, None, "[]"),
    "optim.warmup_epochs": ("int", 0, None, "[]"),
    "optim.min_lr": ("number", 0, None, "[]"),
    "eval.every": ("int", 1, None, "[]"),
    "eval.batch_size": ("int", 1, None, "[]"),
    "finetune.freeze_backbone_epochs": ("int", 0, None, "[]"),
    "bccl.feat_dim": ("int", 1, None, "[]"),
    "bccl.head_hidden": ("int", 1, None, "[]"),
    "bccl.queue_size": ("int", 1, None, "[]"),
    "bccl.num_centroids": ("int", 1, None, "[]"),
    "bccl.temperature": ("number", 0, None, "()"),
    "bccl.lc_tau": ("number", 0, None, "[]"),
    "bccl.warmup_epochs": ("int", 0, None, "[]", "optional"),
    "bccl.refresh_every": ("int", 1, None, "[]"),
    "bccl.kmeans_iters": ("int", 1, None, "[]"),
    "bccl.kmeans_tol": ("number", 0, None, "[]", "optional"),
    "rebsupcon.feat_dim": ("int", 1, None, "[]"),
    "rebsupcon.head_hidden": ("int", 1, None, "[]"),
    "rebsupcon.queue_size": ("int", 1, None, "[]"),
    "rebsupcon.momentum": ("number", 0, 1, "[]"),
    "rebsupcon.temperature": ("number", 0, None, "()"),
    "rebsupcon.eps": ("number", 0, None, "()"),
    "rebsupcon.grad_momentum": ("number", 0, 1, "[)"),
    "rebsupcon.num_prototypes": ("int", 1, None, "[]"),
    "rebsupcon.proto_temperature": ("number", 0, None, "()", "optional"),
    "rebsupcon.sinkhorn_epsilon": ("number", 0, None, "()"),
    "rebsupcon.sinkhorn_iters": ("int", 1, None, "[]"),
}


def _describe(kind, low, high, ends):
    noun = "an integer" if kind == "int" else "a number"
    parts = []
    if low is not None:
        parts.append(f"{'>=' if ends[0] == '[' else '>'} {low}")
    if high is not None:
        parts.append(f"{'<=' if ends[1] == ']' else '<'} {high}")
    return f"{noun} {' and '.join(parts)}" if parts else noun


def validate_config(cfg):
    """Check the recipe's numeric settings (:data:`_RANGES`) and return ``cfg`` (a number
    written as ``1e-3``, which YAML reads as a string, is converted); a value of the wrong
    type or out of range raises :class:`ConfigError` naming the key and the value."""
    for dotted, (kind, low, high, ends, *flags) in _RANGES.items():
        section = cfg
        *parents, key = dotted.split(".")
        for part in parents:
            section = section.get(part) if isinstance(section, dict) else None
        if not isinstance(section, dict) or key not in section:
            continue
        value = section[key]
        if value is None and "optional" in flags:
            continue
        if kind == "number" and isinstance(value, str):
            try:      # YAML 1.1 reads "1e-3" (no dot) as a string
                value = section[key] = float(value)
            except ValueError:
                pass
        types = (int,) if kind == "int" else (int, float)
        ok = isinstance(value, types) and not isinstance(value, bool)
        if ok and kind == "number":
            ok = value == value and abs(value) != float("inf")
        if ok and low is not None:
            ok = value >= low if ends[0] == "[" else value > low
        if ok and high is not None:
            ok = value <= high if ends[1] == "]" else value < high
        if not ok:
            raise ConfigError(f"{dotted} must be {_describe(kind, low, high, ends)}"
                              f"{' (or null)' if 'optional' in flags else ''}, got {value!r}")
    return cfg


def load_config(path=None, overrides=()):
    """Load a recipe (YAML) on top of :data:`DEFAULTS`, then apply overrides; the result
    is checked with :func:`validate_config`."""
    cfg = copy.deepcopy(DEFAULTS)
    if path is not None:
        path = Path(path)
        if not path.is_file():
            raise ConfigError(f"recipe file not found: {path}")
        try:
            loaded = yaml.safe_load(path.read_text()) or {}
        except yaml.YAMLError as exc:
            raise ConfigError(f"{path}: invalid YAML: {exc}") from None
        if not isinstance(loaded, dict):
            raise ConfigError(f"{path}: a recipe must be a mapping at the top level")
        try:
            cfg = _merge(cfg, loaded)
        except ConfigError as exc:
            raise ConfigError(f"{path}: {exc}") from None
    for override in overrides:
        cfg = apply_override(cfg, override)
    return validate_config(cfg)


#: sections and keys added after runs were recorded, whose defaults keep the earlier
#: behaviour: left out of the hash while at their defaults, so runs started before they
#: existed still resume
_HASH_OPTIONAL = ("finetune", "optim.schedule", "bccl.complement", "runtime.precision")


def config_from_dict(recipe, overrides=()):
    """A recipe given as a dict (e.g. a pretrained folder's), on top of the defaults."""
    cfg = _merge(copy.deepcopy(DEFAULTS), recipe)
    for override in overrides:
        cfg = apply_override(cfg, override)
    return validate_config(cfg)


def config_hash(cfg):
    """Short sha256 of the recipe's canonical JSON (recorded in checkpoints and reports)."""
    cfg = copy.deepcopy(cfg)
    for dotted in _HASH_OPTIONAL:
        *parents, key = dotted.split(".")
        section, default = cfg, DEFAULTS
        for part in parents:
            section, default = section.get(part, {}), default[part]
        if key in section and section[key] == default[key]:
            del section[key]
    blob = json.dumps(cfg, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:16]
