"""The model zoo's one registry: every zoo recipe is an entry.

An entry's name is its recipe's name, by convention ``<method>-<backbone>-<dataset>[-if<IF>]``
(e.g. ``bccl-resnet32-cifar10lt-if100``, ``rebsupcon-resnext50-imagenetlt``); its method,
backbone, benchmark and imbalance factor are read from the recipe (``method``,
``model.backbone``, ``data.dataset``, ``data.imbalance_factor``), and recipes that name no
benchmark (the quick-start demo) are not zoo entries. Its Hub repository id is
``<org>/<name>`` with the organisation from ``$KERAS_LT_HUB_ORG`` (default
:data:`DEFAULT_ORG`). An entry is *published* when its checkpoint folder exists (the exact
content of its Hub repository, written by :func:`keras_lt.save_pretrained` /
``tools/export.py``); its headline metrics come from that folder's ``eval_results.json``.

Where the zoo comes from: the index shipped inside the package
(:data:`keras_lt.config.ZOO_INDEX`, generated from ``zoo_configs/`` and ``model_cards/`` by
``tools/zoo_index.py``), so an installed keras-lt lists and loads its zoo anywhere. With
``$KERAS_LT_ZOO_CONFIGS`` set, the recipes in that folder instead (a zoo of your own), with
their checkpoint folders in the local zoo directory. The local zoo directory
(:func:`local_zoo_dir`: ``$KERAS_LT_ZOO_DIR``, else a source checkout's ``model_cards/``)
holds checkpoint folders that load without the Hub.

Example:
>>> [e.name for e in list_models() if e.published]          # doctest: +SKIP
['bccl-resnet32-cifar10lt-if100', 'la-resnet32-cifar10lt-if100', ...]
"""

import difflib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from keras_lt.config import load_config, packaged_index, read_recipe
from keras_lt.data.catalog import dataset_title

DEFAULT_ORG = "keras-lt"
ORG_ENV = "KERAS_LT_HUB_ORG"
ZOO_DIR_ENV = "KERAS_LT_ZOO_DIR"
ZOO_CONFIGS_ENV = "KERAS_LT_ZOO_CONFIGS"
#: the files that make a folder a checkpoint (Keras' directory format)
CHECKPOINT_FILES = ("config.json", "metadata.json", "model.weights.h5")
INDEX_FORMAT = "keras_lt.zoo_index"


class UnknownModelError(KeyError):
    """A name that is neither a directory, a zoo entry nor a Hub repository id."""

    def __str__(self):
        return str(self.args[0])


def source_checkout():
    """The root of the source checkout keras-lt runs from (``pyproject.toml``,
    ``zoo_configs/`` and ``model_cards/`` beside the package), or ``None`` when it is
    installed."""
    root = Path(__file__).resolve().parent.parent.parent
    if all((root / p).exists() for p in ("pyproject.toml", "zoo_configs", "model_cards")):
        return root
    return None


def zoo_configs_dir():
    """The folder of live recipes: ``$KERAS_LT_ZOO_CONFIGS``, else ``None`` (the packaged
    index is the zoo)."""
    env = os.environ.get(ZOO_CONFIGS_ENV)
    return Path(env) if env else None


def local_zoo_dir():
    """Folder of checkpoint folders (``<dir>/<name>/``) that load without the Hub:
    ``$KERAS_LT_ZOO_DIR``, else a source checkout's ``model_cards/``, else ``None``."""
    env = os.environ.get(ZOO_DIR_ENV)
    if env:
        return Path(env)
    root = source_checkout()
    return root / "model_cards" if root else None


def hub_org():
    return os.environ.get(ORG_ENV) or DEFAULT_ORG


def is_checkpoint(folder):
    return folder is not None and all((Path(folder) / f).is_file() for f in CHECKPOINT_FILES)


@dataclass(frozen=True)
class ZooEntry:
    """One zoo model: its recipe, Hub repository and (when trained) checkpoint."""

    name: str
    method: str
    backbone: str
    dataset: str
    imbalance_factor: int | None
    recipe: str                      # what ``--config`` takes: a YAML path or the zoo name
    repo_id: str
    card_dir: Path | None            # its folder in the local zoo directory, if any
    published: bool
    metrics: dict = field(default_factory=dict)     # split -> {top1, class_avg, many, medium, few}

    def __repr__(self):
        score = "" if self.test_top1 is None else f", test top-1 {self.test_top1:.2f}"
        return f"ZooEntry({self.name!r}, {self.dataset_title}, {self.status}{score})"

    @property
    def test_top1(self):
        """The card's test top-1 (percent), or None."""
        return (self.metrics.get("test") or {}).get("top1")

    @property
    def status(self):
        return "published" if self.published else "not trained"

    @property
    def dataset_title(self):
        return dataset_title(self.dataset, self.imbalance_factor)

    @property
    def local(self):
        """True when the local zoo directory holds this entry's checkpoint folder."""
        return is_checkpoint(self.card_dir)

    @property
    def train_command(self):
        """The commands that train this entry and write its checkpoint folder."""
        return (f"keras-lt train --config {self.recipe} --run-dir runs/{self.name} && "
                f"keras-lt export runs/{self.name} --out model_cards/{self.name}")


def _headline(card_dir):
    """split -> headline metrics from ``eval_results.json`` (percent, rounded as on the card)."""
    path = card_dir / "eval_results.json"
    if not path.is_file():
        return {}
    data = json.loads(path.read_text())
    out = {}
    for split, report in data.get("results", {}).items():
        out[split] = {k: (None if report.get(k) is None else round(100 * report[k], 2))
                      for k in ("top1", "class_avg", "many", "medium", "few")}
    return out


def build_index(configs_dir, cards_dir):
    """The zoo index of a recipes folder and a folder of checkpoint folders: ``recipes``
    (name -> the file's mapping, ``base:`` applied) and ``entries`` (name -> method,
    backbone, dataset, imbalance factor, published, headline metrics)."""
    recipes, entries = {}, {}
    for path in sorted(Path(configs_dir).glob("*.yaml")):
        cfg = load_config(path)
        name = cfg["name"]
        if name != path.stem:
            raise ValueError(f"{path}: recipe name {name!r} differs from the file name")
        recipes[name] = read_recipe(path)
        if cfg["data"].get("dataset") is None:
            continue                       # e.g. the quick-start demo recipe
        imb = cfg["data"].get("imbalance_factor")
        card = Path(cards_dir) / name
        published = is_checkpoint(card)
        entries[name] = {"method": cfg["method"], "backbone": cfg["model"]["backbone"],
                         "dataset": cfg["data"]["dataset"],
                         "imbalance_factor": None if imb is None else int(imb),
                         "published": published, "metrics": _headline(card) if published else {}}
    return {"format": INDEX_FORMAT, "recipes": recipes, "entries": entries}


def index_text(index):
    """The index as written to :data:`keras_lt.config.ZOO_INDEX` (stable, one key a line)."""
    return json.dumps(index, indent=1, sort_keys=True) + "\n"


def _zoo():
    """``(index, recipe ref of a name)`` of the zoo in use (see the module docstring)."""
    live = zoo_configs_dir()
    if live is not None:
        cards = local_zoo_dir() or live.parent / "model_cards"
        return build_index(live, cards), lambda name: str(live / f"{name}.yaml")
    return packaged_index(), lambda name: name


def zoo_recipe(name):
    """The resolved zoo recipe called ``name`` (defaults applied), or ``None``."""
    index, ref = _zoo()
    return load_config(ref(name)) if name in index["recipes"] else None


def _entries():
    index, ref = _zoo()
    local = local_zoo_dir()
    return [ZooEntry(name=name, method=e["method"], backbone=e["backbone"], dataset=e["dataset"],
                     imbalance_factor=e["imbalance_factor"], recipe=ref(name),
                     repo_id=f"{hub_org()}/{name}",
                     card_dir=None if local is None else local / name,
                     published=bool(e["published"]), metrics=e.get("metrics") or {})
            for name, e in sorted(index["entries"].items())]


class ZooList(list):
    """The entries :func:`list_models` returns; its repr is a table, one line per entry."""

    def __repr__(self):
        if not self:
            return "(no zoo entries)"
        width = max(len(e.name) for e in self)
        rows = [f"{'name':<{width}}  {'dataset':<18}  {'method':<9}  {'status':<11}  test top-1"]
        for e in self:
            top1 = "" if e.test_top1 is None else f"{e.test_top1:.2f}"
            rows.append(f"{e.name:<{width}}  {e.dataset_title:<18}  {e.method:<9}  "
                        f"{e.status:<11}  {top1}")
        return "\n".join(rows)


def list_models(published_only=False, *, published=None, method=None, dataset=None):
    """Every zoo entry (sorted by name) with its status and headline metrics, optionally
    filtered: ``published`` (True / False), ``method`` (a recipe method: ``"bccl"``,
    ``"rebsupcon"``, ``"baseline"``), ``dataset`` (a benchmark id such as ``"cifar10lt"``).
    ``published_only=True`` is ``published=True``.

    >>> keras_lt.list_models(published=True, method="bccl")      # doctest: +SKIP
    name                           dataset             method     status       test top-1
    bccl-resnet32-cifar10lt-if10   CIFAR-10-LT IF10    bccl       published    81.61
    ...
    """
    if published_only:
        published = True
    return ZooList(e for e in _entries()
                   if (published is None or e.published == bool(published))
                   and (method is None or e.method == method)
                   and (dataset is None or e.dataset == dataset))


def get_entry(name):
    """The entry called ``name`` or whose repository id is ``name``; raises
    :class:`UnknownModelError` listing close names."""
    entries = list_models()
    for e in entries:
        if name in (e.name, e.repo_id):
            return e
    names = [e.name for e in entries]
    close = difflib.get_close_matches(name.split("/")[-1], names, n=5, cutoff=0.5)
    hint = f"; did you mean {', '.join(close)}?" if close else ""
    raise UnknownModelError(f"{name!r} is not a keras-lt zoo model{hint} "
                            f"(keras_lt.list_models() lists all {len(names)})")


def find_entry(name):
    """Like :func:`get_entry` but returns ``None`` for unknown names."""
    try:
        return get_entry(name)
    except UnknownModelError:
        return None
