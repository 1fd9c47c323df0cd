"""Build models from a recipe (``zoo_configs/*.yaml``): its ``method`` picks the registered
method (:mod:`keras_lt.models.registry`), its ``model`` section the architecture, its method
section (e.g. ``bccl``) the method's hyperparameters."""

from keras_lt.models.classifier import LTClassifier
from keras_lt.models.registry import arch_kwargs, get_method


def build_model(model_cfg, num_classes, input_shape, weight_decay=0.0):
    """Return a built :class:`LTClassifier` for a recipe's ``model`` section.

    ``model_cfg`` keys: ``backbone`` (name), ``width`` (CIFAR ResNet width
    multiplier, optional), ``classifier`` (``linear``/``cosine``),
    ``classifier_scale`` (optional).
    """
    model = LTClassifier(**arch_kwargs(model_cfg, num_classes, input_shape, weight_decay))
    model.build((None, *input_shape))
    return model


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
