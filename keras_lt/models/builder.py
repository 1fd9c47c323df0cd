"""Build models from the ``model:`` section of a recipe (``zoo_configs/*.yaml``)."""

from keras_lt.models.classifier import LTClassifier


def build_model(model_cfg, num_classes, input_shape, weight_decay=0.0):
    """Return a built :class:`LTClassifier` for a recipe's ``model`` section.

    ``model_cfg`` keys: ``backbone`` (name), ``width`` (CIFAR ResNet width
    multiplier, optional), ``classifier`` (``linear``/``cosine``),
    ``classifier_scale`` (optional).
    """
    cfg = dict(model_cfg)
    backbone_kwargs = {}
    if cfg.get("width", 1) != 1:
        backbone_kwargs["width"] = int(cfg["width"])
    model = LTClassifier(
        backbone=cfg.get("backbone", "resnet32"),
        num_classes=num_classes,
        backbone_kwargs=backbone_kwargs,
        classifier=cfg.get("classifier", "linear"),
        classifier_scale=cfg.get("classifier_scale"),
        input_shape=tuple(input_shape),
        weight_decay=weight_decay,
    )
    model.build((None, *input_shape))
    return model
