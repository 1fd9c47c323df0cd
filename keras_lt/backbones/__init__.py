"""Backbone registry: ``get_backbone(name, input_shape=None, **kwargs)``.

Every backbone is a functional ``keras.Model`` mapping channels-last images to pooled
features, so ``backbone.output_shape == (None, d)``.

Example:
>>> bb = get_backbone("resnet32", input_shape=(32, 32, 3), width=4)
>>> bb.output_shape
(None, 256)
"""

from keras_lt.backbones.resnet import imagenet_resnet, resnet50, resnext50_32x4d
from keras_lt.backbones.resnet_cifar import (
    ShortcutA, cifar_resnet, resnet20, resnet32, resnet44, resnet56)

BACKBONES = {
    "resnet20": resnet20,
    "resnet32": resnet32,
    "resnet44": resnet44,
    "resnet56": resnet56,
    "resnet50": resnet50,
    "resnext50_32x4d": resnext50_32x4d,
}

_FEATURE_DIMS = {
    "resnet20": 64, "resnet32": 64, "resnet44": 64, "resnet56": 64,
    "resnet50": 2048, "resnext50_32x4d": 2048,
}


def _check_name(name):
    if name not in BACKBONES:
        raise ValueError(f"unknown backbone {name!r}; known backbones: {sorted(BACKBONES)}")


def get_backbone(name, input_shape=None, **kwargs):
    """Build backbone ``name`` as a functional ``keras.Model`` with
    ``output_shape == (None, d)``.

    Args:
        name: one of :data:`BACKBONES` (``resnet20/32/44/56`` for CIFAR,
            ``resnet50``, ``resnext50_32x4d`` for ImageNet).
        input_shape: (H, W, 3); defaults to (32, 32, 3) for the CIFAR nets and
            (224, 224, 3) for the ImageNet nets.
        **kwargs: passed to the builder (e.g. ``width=4`` for CIFAR ResNets, ``name``).
    """
    _check_name(name)
    if input_shape is not None:
        kwargs["input_shape"] = tuple(input_shape)
    return BACKBONES[name](**kwargs)


def backbone_feature_dim(name, **kwargs):
    """Feature dimension of backbone ``name`` without building it
    (``64 * width`` for CIFAR ResNets, 2048 for ResNet-50/ResNeXt-50)."""
    _check_name(name)
    dim = _FEATURE_DIMS[name]
    if name.startswith("resnet") and dim == 64:
        dim *= int(kwargs.get("width", 1))
    return dim


__all__ = [
    "BACKBONES", "ShortcutA", "backbone_feature_dim", "cifar_resnet", "get_backbone",
    "imagenet_resnet", "resnet20", "resnet32", "resnet44", "resnet50", "resnet56",
    "resnext50_32x4d",
]
