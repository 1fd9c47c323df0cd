"""The plain long-tailed classifier: backbone + linear or cosine classifier.

This is the model of the cross-entropy, logit-adjusted and Balanced Softmax
baselines, and the inference model every method exports. Training follows the
reference PyTorch recipes: SGD with momentum and *coupled* L2 weight decay
(torch's ``weight_decay``: ``wd * w`` is added to the gradient before the
momentum update). Keras' optimizer ``weight_decay`` is decoupled, which is a
different recipe, so the L2 term is added in :meth:`compute_loss` instead.
"""

import keras
from keras import ops

from keras_lt.backbones import get_backbone
from keras_lt.layers import CosineClassifier, ImagePreprocessor, LinearClassifier
from keras_lt.models.registry import Method, register_method
from keras_lt.utils.jit import resolve_jit


def l2_penalty(variables, weight_decay):
    """``0.5 * wd * sum ||w||^2`` whose gradient ``wd * w`` equals torch SGD's
    ``weight_decay`` term. Applied to every trainable variable, as torch does
    when all parameters are passed to the optimizer (BCL/BCCL code)."""
    if not weight_decay or not variables:
        return 0.0
    total = ops.sum(ops.stack([ops.sum(ops.square(v)) for v in variables]))
    return 0.5 * weight_decay * total


def resolve_class_counts(class_counts, num_classes):
    """Training images per class as ints (all 1 when unknown); the length must match."""
    if class_counts is None:
        class_counts = [1] * num_classes
    if len(class_counts) != num_classes:
        raise ValueError(f"class_counts has {len(class_counts)} entries for {num_classes} classes")
    return [int(c) for c in class_counts]


def make_classifier(kind, num_classes, scale=None, name="classifier"):
    """Build the classification head: ``linear`` (Dense with bias) or ``cosine``
    (normalised weights and features times ``scale``)."""
    if kind == "linear":
        return LinearClassifier(num_classes, name=name)
    if kind == "cosine":
        kwargs = {} if scale is None else {"scale": float(scale)}
        return CosineClassifier(num_classes, name=name, **kwargs)
    raise ValueError(f"unknown classifier {kind!r}; choose 'linear' or 'cosine'")


@keras.saving.register_keras_serializable(package="keras_lt")
class LTClassifier(keras.Model):
    """Backbone + classifier; ``model(images) -> logits``.

    Args:
        backbone: backbone name in ``keras_lt.backbones`` (e.g. ``"resnet32"``).
        num_classes: number of classes.
        backbone_kwargs: extra keyword arguments of the backbone (e.g. ``{"width": 4}``).
        classifier: ``"linear"`` or ``"cosine"``.
        classifier_scale: logit scale of the cosine classifier.
        input_shape: (H, W, 3) used to build the backbone.
        weight_decay: coupled L2 weight decay added in :meth:`compute_loss`.

    Example:
    >>> model = LTClassifier("resnet32", num_classes=10)
    >>> model(np.zeros((2, 32, 32, 3), "float32")).shape
    (2, 10)
    """

    def __init__(self, backbone="resnet32", num_classes=10, backbone_kwargs=None,
                 classifier="linear", classifier_scale=None, input_shape=(32, 32, 3),
                 weight_decay=0.0, **kwargs):
        super().__init__(**kwargs)
        self.backbone_name = backbone
        self.backbone_kwargs = dict(backbone_kwargs or {})
        self.num_classes = int(num_classes)
        self.classifier_kind = classifier
        self.classifier_scale = classifier_scale
        self.image_shape = tuple(int(s) for s in input_shape)
        self.weight_decay = float(weight_decay)
        self.backbone = get_backbone(backbone, input_shape=self.image_shape, **self.backbone_kwargs)
        self.classifier = make_classifier(classifier, self.num_classes, classifier_scale)

    def build(self, input_shape=None):
        feats = self.backbone.output_shape
        self.classifier.build(feats)
        self.built = True

    def features(self, images, training=False):
        """Backbone features (B, d) of a batch of normalised images (B, H, W, 3)."""
        return self.backbone(images, training=training)

    def call(self, images, training=False):
        # float32 logits under a mixed-precision policy too (losses, softmax)
        return ops.cast(self.classifier(self.features(images, training=training)), "float32")

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        loss = super().compute_loss(x, y, y_pred, sample_weight, training)
        if training and self.weight_decay:
            loss = loss + l2_penalty(self.trainable_variables, self.weight_decay)
        return loss

    def get_config(self):
        return {
            **super().get_config(),
            "backbone": self.backbone_name,
            "num_classes": self.num_classes,
            "backbone_kwargs": self.backbone_kwargs,
            "classifier": self.classifier_kind,
            "classifier_scale": self.classifier_scale,
            "input_shape": list(self.image_shape),
            "weight_decay": self.weight_decay,
        }

    def compile_from_config(self, config):
        """Compile a loaded model as it was saved, except ``jit_compile``: that follows the
        loading backend's default (:func:`~keras_lt.utils.jit.resolve_jit`), since a model
        saved on JAX (XLA on) would otherwise run ``torch.compile`` on torch."""
        return super().compile_from_config({**config, "jit_compile": resolve_jit("auto")})


@keras.saving.register_keras_serializable(package="keras_lt")
class LTImageClassifier(keras.Model):
    """The inference model of the zoo: raw images in, logits out.

    ``preprocessor`` (an :class:`~keras_lt.layers.ImagePreprocessor`: crop, resize,
    normalisation) then ``classifier`` (an :class:`LTClassifier` that takes normalised
    images). The class names and training class counts travel in the config, so a model
    saved with ``keras.saving.save_model`` and loaded with ``keras.saving.load_model``
    (after ``import keras_lt``) predicts and names classes like the original.

    Args:
        classifier: an :class:`LTClassifier` (or its serialized config).
        preprocessor: an :class:`~keras_lt.layers.ImagePreprocessor` (or its config).
        class_names: one name per class, in logit order.
        class_counts: training images per class (the long-tail profile), or ``None``.

    Example:
    >>> net = LTClassifier("resnet32", num_classes=2)
    >>> pre = ImagePreprocessor((32, 32), [0.5] * 3, [0.25] * 3)
    >>> model = LTImageClassifier(net, pre, ["cat", "dog"])
    >>> model.predict(np.zeros((1, 40, 40, 3), "uint8"), verbose=0).shape
    (1, 2)
    """

    def __init__(self, classifier, preprocessor, class_names, class_counts=None, **kwargs):
        super().__init__(**kwargs)
        if isinstance(classifier, dict):
            classifier = keras.saving.deserialize_keras_object(classifier)
        if isinstance(preprocessor, dict):
            preprocessor = keras.saving.deserialize_keras_object(preprocessor)
        self.classifier = classifier
        self.preprocessor = preprocessor
        self.class_names = [str(n) for n in class_names]
        self.class_counts = None if class_counts is None else [int(c) for c in class_counts]
        n = classifier.num_classes
        if len(self.class_names) != n or (self.class_counts is not None
                                          and len(self.class_counts) != n):
            raise ValueError(f"{len(self.class_names)} class names and "
                             f"{len(self.class_counts or [])} class counts for a classifier "
                             f"with {n} classes")
        if len(set(self.class_names)) != n:
            raise ValueError("class names repeat")

    @property
    def num_classes(self):
        return self.classifier.num_classes

    def build(self, input_shape=None):
        if not self.classifier.built:
            self.classifier.build((None, *self.classifier.image_shape))
        self.built = True

    def call(self, images, training=False):
        return self.classifier(self.preprocessor(images), training=training)

    def get_config(self):
        return {**super().get_config(),
                "classifier": keras.saving.serialize_keras_object(self.classifier),
                "preprocessor": keras.saving.serialize_keras_object(self.preprocessor),
                "class_names": self.class_names, "class_counts": self.class_counts}

    @classmethod
    def from_config(cls, config):
        return cls(**config)


#: the baselines' loss (a recipe's ``loss.name``) -> (title, citation) on model cards
BASELINE_LOSSES = {
    "ce": ("Cross-entropy baseline", "plain softmax cross-entropy"),
    "logit_adjusted": ("Logit adjustment", "Menon et al., *Long-tail learning via logit "
                                           "adjustment*, ICLR 2021"),
    "balanced_softmax": ("Balanced Softmax", "Ren et al., *Balanced Meta-Softmax for "
                                             "Long-Tailed Visual Recognition*, NeurIPS 2020"),
}


def arch_kwargs(model_cfg, num_classes, input_shape, weight_decay):
    """The architecture keyword arguments of every method model (:class:`LTClassifier` and
    its subclasses) from a recipe's ``model:`` section: ``backbone`` (name), ``width`` (CIFAR
    ResNet width multiplier), ``classifier`` (``linear`` / ``cosine``), ``classifier_scale``."""
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
    """Return a built :class:`LTClassifier` for a recipe's ``model`` section (see
    :func:`arch_kwargs`)."""
    model = LTClassifier(**arch_kwargs(model_cfg, num_classes, input_shape, weight_decay))
    model.build((None, *input_shape))
    return model


def build_classifier_model(cfg, num_classes, class_counts, input_shape, steps_per_epoch):
    """The baseline's training model: a built :class:`LTClassifier` (its loss is the
    recipe's ``loss:``, compiled in by the training loop)."""
    return build_model(cfg["model"], num_classes, input_shape, cfg["optim"]["weight_decay"])


def _describe_baseline(recipe, method):
    name = (recipe.get("loss") or {}).get("name", "ce")
    return (*BASELINE_LOSSES.get(name, (method.title, f"loss {name!r}")), None)


register_method(Method(
    name="baseline", title="Cross-entropy baseline", citation="plain softmax cross-entropy",
    build=build_classifier_model, describe_fn=_describe_baseline))
