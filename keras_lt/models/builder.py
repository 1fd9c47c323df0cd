"""Build models from a recipe (``zoo_configs/*.yaml``): its ``method`` picks the
model class, its ``model`` section the architecture, its method section (e.g.
``bccl``) the method's hyperparameters."""

from keras_lt.models.bccl import BCCL
from keras_lt.models.classifier import LTClassifier
from keras_lt.models.rebsupcon import RebSupCon

METHODS = ("baseline", "bccl", "rebsupcon")


def _arch_kwargs(model_cfg, num_classes, input_shape, weight_decay):
    cfg = dict(model_cfg)
    backbone_kwargs = {}
    if cfg.get("width", 1) != 1:
        backbone_kwargs["width"] = int(cfg["width"])
    kwargs = dict(backbone=cfg.get("backbone", "resnet32"), num_classes=num_classes,
                  backbone_kwargs=backbone_kwargs, classifier=cfg.get("classifier", "linear"),
                  input_shape=tuple(input_shape), weight_decay=weight_decay)
    if cfg.get("classifier_scale") is not None:
        kwargs["classifier_scale"] = float(cfg["classifier_scale"])
    return kwargs


def build_model(model_cfg, num_classes, input_shape, weight_decay=0.0):
    """Return a built :class:`LTClassifier` for a recipe's ``model`` section.

    ``model_cfg`` keys: ``backbone`` (name), ``width`` (CIFAR ResNet width
    multiplier, optional), ``classifier`` (``linear``/``cosine``),
    ``classifier_scale`` (optional).
    """
    model = LTClassifier(**_arch_kwargs(model_cfg, num_classes, input_shape, weight_decay))
    model.build((None, *input_shape))
    return model


def build_method_model(cfg, num_classes, class_counts, input_shape, steps_per_epoch):
    """The training model of a whole recipe: an :class:`LTClassifier` for
    ``method: baseline`` (the loss comes from ``loss:``), a :class:`BCCL` for
    ``method: bccl`` and a :class:`RebSupCon` for ``method: rebsupcon`` (their
    losses are built in; settings from the ``bccl:`` / ``rebsupcon:`` sections)."""
    method = cfg.get("method", "baseline")
    weight_decay = cfg["optim"]["weight_decay"]
    if method == "baseline":
        return build_model(cfg["model"], num_classes, input_shape, weight_decay)
    if method == "bccl":
        opts = dict(cfg["bccl"])
        if opts.get("warmup_epochs") is None:
            opts["warmup_epochs"] = cfg["optim"]["warmup_epochs"]
        model = BCCL(**_arch_kwargs(cfg["model"], num_classes, input_shape, weight_decay),
                     class_counts=class_counts, steps_per_epoch=steps_per_epoch,
                     seed=int(cfg.get("seed", 0)), **opts)
        model.build((None, *input_shape))
        return model
    if method == "rebsupcon":
        model = RebSupCon(**_arch_kwargs(cfg["model"], num_classes, input_shape, weight_decay),
                          class_counts=class_counts, **cfg["rebsupcon"])
        model.build((None, *input_shape))
        return model
    raise ValueError(f"unknown method {method!r} in recipe {cfg.get('name')!r}; "
                     f"choose one of {METHODS}")
