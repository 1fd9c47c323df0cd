"""Recipes: YAML files in ``zoo_configs/`` with command-line overrides.

A recipe has the sections ``data``, ``model``, ``loss`` and ``optim`` (see
``zoo_configs/la-resnet32-cifar10lt-if100.yaml`` for every key) and a method's section
(``bccl``, ``rebsupcon``: the typed records of :mod:`keras_lt.options`). ``base: other.yaml``
starts a recipe from another one, so a variant lists only what it changes. Overrides are
``key.sub=value`` strings whose value is parsed as YAML, e.g.
``optim.epochs=30`` or ``data.views=[cifar_basic]``.
"""

import copy
import hashlib
import json
from pathlib import Path

import yaml

from keras_lt.options import METHOD_OPTIONS, check_value

DEFAULTS = {
    "name": "unnamed",
    "method": "baseline",
    "seed": 0,
    "data": {
        "prepared": None,
        # the benchmark the recipe is written for (an id of keras_lt.data.catalog) and its
        # imbalance factor: facts the zoo and cards show, checked against the prepared
        # dataset's provenance when training starts; null for other data
        "dataset": None,
        "imbalance_factor": None,
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
    # Method-specific settings: the sections of keras_lt.options' typed records (their
    # only defaults, checked there): ``bccl`` (Kim & Ko 2025) and ``rebsupcon`` (Lv et al.
    # 2025). ``bccl.warmup_epochs: null`` means "the same as optim.warmup_epochs", as in
    # the reference code, where one --warmup_epochs drives the lr warm-up and the
    # SCL -> class-complement switch.
    **{section: options.defaults() for section, options in METHOD_OPTIONS.items()},
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
    "data.imbalance_factor": ("number", 1, None, "[]", "optional"),
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
}


def validate_config(cfg):
    """Check the recipe's numeric settings (:data:`_RANGES`) and its method sections (the
    records of :mod:`keras_lt.options`) and return ``cfg`` (a number written as ``1e-3``,
    which YAML reads as a string, is converted); a value of the wrong type or out of range
    raises :class:`ConfigError` naming the key and the value."""
    try:
        for dotted, (kind, low, high, ends, *flags) in _RANGES.items():
            section = cfg
            *parents, key = dotted.split(".")
            for part in parents:
                section = section.get(part) if isinstance(section, dict) else None
            if isinstance(section, dict) and key in section:
                section[key] = check_value(dotted, section[key], kind, low, high, ends,
                                           optional="optional" in flags)
        for name, options in METHOD_OPTIONS.items():
            if isinstance(cfg.get(name), dict):
                cfg[name] = options.check(cfg[name], prefix=f"{name}.")
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    return cfg


def _read_recipe(path, seen=()):
    """A recipe file's mapping, merged onto the recipe its ``base:`` names (a path relative
    to the file; bases may have bases)."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"recipe file not found: {path}" + (
            f" (the base of {seen[-1]})" if seen else ""))
    try:
        loaded = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: invalid YAML: {exc}") from None
    if not isinstance(loaded, dict):
        raise ConfigError(f"{path}: a recipe must be a mapping at the top level")
    base = loaded.pop("base", None)
    if base is None:
        return loaded
    if not isinstance(base, str) or not base:
        raise ConfigError(f"{path}: base must name a recipe file, got {base!r}")
    base_path = path.parent / base
    if base_path.resolve() in {p.resolve() for p in (*seen, path)}:
        raise ConfigError(f"{path}: its bases form a loop through {base_path}")
    return _overlay(_read_recipe(base_path, (*seen, path)), loaded)


def _overlay(base, update):
    """``base`` with ``update``'s mappings merged in key by key and its other values replacing."""
    out = copy.deepcopy(base)
    for key, value in update.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _overlay(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def defaults_for(method):
    """:data:`DEFAULTS` with the ``model:`` settings of ``method``'s papers (its options
    record's ``model_defaults``, e.g. BCCL's cosine classifier)."""
    cfg = copy.deepcopy(DEFAULTS)
    options = METHOD_OPTIONS.get(method)
    if options is not None:
        cfg["model"].update(options.model_defaults)
    return cfg


def _method_of(recipe, overrides):
    method = recipe.get("method", DEFAULTS["method"])
    for override in overrides:
        key, _, raw = override.partition("=")
        if key.strip() == "method":
            method = yaml.safe_load(raw)
    return method


#: the zoo's recipes as their files give them (``base:`` chains applied, before defaults)
#: and a summary of each zoo entry's card, generated from ``zoo_configs/`` and
#: ``model_cards/`` (``tools/zoo_index.py``) and shipped inside the package, so that an
#: installed keras-lt knows its zoo without a checkout
ZOO_INDEX = Path(__file__).with_name("zoo_index.json")


def packaged_index():
    """The content of :data:`ZOO_INDEX` (``recipes``: name -> mapping; ``entries``: name ->
    summary), read once."""
    global _INDEX
    if _INDEX is None:
        _INDEX = (json.loads(ZOO_INDEX.read_text()) if ZOO_INDEX.is_file()
                  else {"recipes": {}, "entries": {}})
    return _INDEX


_INDEX = None


def read_recipe(ref):
    """A recipe's own mapping (its ``base:`` chain applied, no defaults): ``ref`` is a YAML
    file, or the name of a zoo recipe shipped with keras-lt (:func:`packaged_index`)."""
    path = Path(ref)
    if path.is_file():
        return _read_recipe(path)
    name = str(ref)
    recipes = packaged_index()["recipes"]
    if path.suffix not in (".yaml", ".yml") and "/" not in name and name in recipes:
        return copy.deepcopy(recipes[name])
    raise ConfigError(f"recipe file not found: {ref} (and no zoo recipe has that name; "
                      f"keras_lt.list_models() lists them)")


def load_config(path=None, overrides=()):
    """Load a recipe (a YAML file with its ``base:`` chain, or a zoo recipe's name) on top of
    :func:`defaults_for` its method, then apply overrides; the result is checked with
    :func:`validate_config`."""
    loaded = {} if path is None else read_recipe(path)
    try:
        cfg = _merge(defaults_for(_method_of(loaded, overrides)), loaded)
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None
    for override in overrides:
        cfg = apply_override(cfg, override)
    return validate_config(cfg)


def config_from_dict(recipe, overrides=()):
    """A recipe given as a dict (e.g. a pretrained folder's), on top of the defaults."""
    cfg = _merge(defaults_for(_method_of(recipe, overrides)), recipe)
    for override in overrides:
        cfg = apply_override(cfg, override)
    return validate_config(cfg)


#: sections and keys added after runs were recorded, whose defaults keep the earlier
#: behaviour: left out of the hash while at their defaults, so runs started before they
#: existed still resume
_HASH_OPTIONAL = ("finetune", "optim.schedule", "bccl.complement", "runtime.precision")
#: keys that describe the data rather than set training, never part of the hash
_HASH_EXCLUDED = ("data.dataset", "data.imbalance_factor")


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
    for dotted in _HASH_EXCLUDED:
        section, key = dotted.split(".")
        cfg.get(section, {}).pop(key, None)
    blob = json.dumps(cfg, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:16]
