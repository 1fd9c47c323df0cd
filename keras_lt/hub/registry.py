"""The model zoo's one registry: every recipe in ``zoo_configs/`` is an entry.

An entry's name is its recipe's name, by convention ``<method>-<backbone>-<dataset>[-if<IF>]``
(e.g. ``bccl-resnet32-cifar10lt-if100``, ``rebsupcon-resnext50-imagenetlt``); its method,
backbone, benchmark and imbalance factor are read from the recipe (``method``,
``model.backbone``, ``data.dataset``, ``data.imbalance_factor``), and recipes that name no
benchmark (the quick-start demo) are not zoo entries. Its Hub repository id is
``<org>/<name>`` with the organisation from ``$KERAS_LT_HUB_ORG`` (default
:data:`DEFAULT_ORG`). An entry is *published* when ``model_cards/<name>/`` holds a
checkpoint folder (the exact content of its Hub repository, written by
:func:`keras_lt.save_pretrained` / ``tools/export.py``); its headline metrics come from that
folder's ``eval_results.json``.

Example:
>>> [e.name for e in list_models() if e.published]          # doctest: +SKIP
['bccl-resnet32-cifar10lt-if100', 'la-resnet32-cifar10lt-if100', ...]
"""

import difflib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from keras_lt.config import load_config
from keras_lt.data.catalog import dataset_title

DEFAULT_ORG = "keras-lt"
ORG_ENV = "KERAS_LT_HUB_ORG"
CHECKPOINT_FILES = ("config.json", "model.safetensors")


class UnknownModelError(KeyError):
    """A name that is neither a directory, a zoo entry nor a Hub repository id."""

    def __str__(self):
        return str(self.args[0])


def project_root():
    """The repository root (``zoo_configs/`` and ``model_cards/`` live there)."""
    return Path(__file__).resolve().parents[2]


def zoo_configs_dir():
    return Path(os.environ.get("KERAS_LT_ZOO_CONFIGS", project_root() / "zoo_configs"))


def model_cards_dir():
    return Path(os.environ.get("KERAS_LT_MODEL_CARDS", project_root() / "model_cards"))


def hub_org():
    return os.environ.get(ORG_ENV) or DEFAULT_ORG


@dataclass(frozen=True)
class ZooEntry:
    """One zoo model: its recipe, Hub repository and (when trained) checkpoint."""

    name: str
    method: str
    backbone: str
    dataset: str
    imbalance_factor: int | None
    recipe: Path
    repo_id: str
    card_dir: Path
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
    def train_command(self):
        """The commands that train this entry and write its checkpoint folder."""
        recipe = self.recipe.relative_to(project_root()) if self.recipe.is_relative_to(
            project_root()) else self.recipe
        return (f"python tools/train.py --config {recipe} --run-dir runs/{self.name} && "
                f"python tools/export.py runs/{self.name} --out model_cards/{self.name}")


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


def _entry(recipe_path):
    cfg = load_config(recipe_path)
    if cfg["data"].get("dataset") is None:
        return None                       # e.g. the quick-start demo recipe
    name = cfg["name"]
    card_dir = model_cards_dir() / name
    published = all((card_dir / f).is_file() for f in CHECKPOINT_FILES)
    imb = cfg["data"].get("imbalance_factor")
    return ZooEntry(name=name, method=cfg["method"], backbone=cfg["model"]["backbone"],
                    dataset=cfg["data"]["dataset"],
                    imbalance_factor=None if imb is None else int(imb),
                    recipe=recipe_path, repo_id=f"{hub_org()}/{name}", card_dir=card_dir,
                    published=published, metrics=_headline(card_dir) if published else {})


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
    entries = [e for e in (_entry(p) for p in sorted(zoo_configs_dir().glob("*.yaml"))) if e]
    return ZooList(e for e in entries
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
