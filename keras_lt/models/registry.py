"""The method registry: what a recipe's ``method:`` names.

Each training method is one :class:`Method` record, registered by the module that defines
its model (:func:`register_method` at the end of ``keras_lt/models/bccl.py``, for example).
Everything outside that module asks the registry instead of comparing method names: the
builder (:meth:`Method.build`), the training loop (how many views, whether a batch needs two
samples, whether the loss is the recipe's ``loss:`` or the model's own), pretrained folders
(whether the training model has state beyond the classifier) and model cards
(:meth:`Method.describe`: title, citation, ablation).

Adding a method is a new module in ``keras_lt/models/`` (its model and its
``register_method`` call), its import in ``keras_lt/models/__init__.py``, its options record in
:mod:`keras_lt.options` when it has hyperparameters, and recipes.

>>> import keras_lt.models
>>> from keras_lt.models.registry import get_method, method_names
>>> method_names()
('baseline', 'bccl', 'rebsupcon')
>>> get_method("bccl").min_views
2
"""

import dataclasses
from typing import Callable

__all__ = ["Method", "register_method", "get_method", "method_names"]


def _same(recipe, method):
    return method.title, method.citation, None


@dataclasses.dataclass(frozen=True)
class Method:
    """One training method.

    ``build(cfg, num_classes, class_counts, input_shape, steps_per_epoch)`` returns the built
    training model of a resolved recipe ``cfg``. ``min_views`` / ``max_views`` bound the
    number of ``data.views`` (``views_doc`` names their roles for the error message);
    ``pairs``: the loss compares samples of a batch with each other, so a batch needs two;
    ``own_loss``: the model computes its loss in ``compute_loss`` (its training output is
    not the logits), otherwise the recipe's ``loss:`` is compiled in; ``training_state``: the
    training model holds more than the inference classifier (heads, queues), saved beside it
    in a pretrained folder. ``describe(recipe, method)`` gives ``(title, citation, note)``
    for a recipe of this method (``note``: an ablation, or None)."""

    name: str
    title: str
    citation: str
    build: Callable
    min_views: int = 1
    max_views: int | None = None
    views_doc: str = ""
    pairs: bool = False
    own_loss: bool = False
    training_state: bool = False
    describe_fn: Callable = _same

    def describe(self, recipe):
        """``(title, citation, ablation note or None)`` of a recipe of this method."""
        return self.describe_fn(recipe, self)

    def check_views(self, views):
        """A ValueError when ``views`` (the recipe's ``data.views``) are too few or too many."""
        n, low, high = len(views), self.min_views, self.max_views
        if n >= low and (high is None or n <= high):
            return
        if high == low:
            need = f"exactly {_count(low)}"
        elif high is None:
            need = f"at least {_count(low)}"
        else:
            need = f"{_count(low)} to {_count(high)}"
        roles = f" ({self.views_doc})" if self.views_doc else ""
        plural = "" if need.endswith(" one") else "s"
        raise ValueError(f"method {self.name} needs {need} view{plural}{roles}, got "
                         f"data.views={list(views)}")


def _count(n):
    return ("one", "two", "three", "four")[n - 1] if 1 <= n <= 4 else str(n)


_METHODS = {}


def register_method(method):
    """Add ``method`` (a :class:`Method`) to the registry; returns it. A second method of the
    same name is refused."""
    if method.name in _METHODS and _METHODS[method.name] is not method:
        raise ValueError(f"a method named {method.name!r} is already registered")
    _METHODS[method.name] = method
    return method


def get_method(name):
    """The registered :class:`Method` called ``name``; a ValueError lists the known ones."""
    try:
        return _METHODS[name]
    except KeyError:
        raise ValueError(f"unknown method {name!r}; choose one of {method_names()}") from None


def method_names():
    """The registered method names, sorted."""
    return tuple(sorted(_METHODS))
