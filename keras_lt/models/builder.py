"""Build models from a recipe (``zoo_configs/*.yaml``): its ``method`` picks the registered
method (:mod:`keras_lt.models.registry`), its ``model`` section the architecture, its method
section (e.g. ``bccl``) the method's hyperparameters."""

from keras_lt.models.classifier import build_model
from keras_lt.models.registry import get_method

__all__ = ["build_model", "build_method_model"]


def build_method_model(cfg, num_classes, class_counts, input_shape, steps_per_epoch):
    """The training model of a whole recipe, built by its registered method (an
    :class:`LTClassifier` for ``method: baseline``, whose loss comes from ``loss:``; BCCL and
    Reb-SupCon carry their losses, with settings from their ``bccl:`` / ``rebsupcon:``
    sections)."""
    try:
        method = get_method(cfg.get("method", "baseline"))
    except ValueError as exc:
        raise ValueError(f"{exc} (recipe {cfg.get('name')!r})") from None
    return method.build(cfg, num_classes, class_counts, input_shape, steps_per_epoch)
