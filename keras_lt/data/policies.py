"""Augmentation policies: AutoAugment's CIFAR10Policy and RandAugment, on PIL images.

Like the transforms of :mod:`keras_lt.data.transforms`, each policy takes a
uint8 ``(H, W, 3)`` array (or a PIL image) and a ``numpy.random.Generator`` and
is deterministic given that generator.

* AutoAugment ``CIFAR10Policy`` (Cubuk et al. 2019): the 25 sub-policies
  (:data:`CIFAR10_POLICY`) and each op's magnitudes (:data:`AUTOAUG_RANGES`)
  as in the ``autoaugment.py`` used by BCL/BCCL; :func:`cifar10_autoaugment`
  applies one sub-policy drawn uniformly at random.
* RandAugment (:func:`rand_augment`): timm's ``rand-n2-m10-mstd0.5`` op set
  (:data:`RANDAUG_OPS`) and magnitude mapping.

The ops are Pillow's (``ImageOps``, ``ImageEnhance``, ``Image.transform``),
the primitives the reference code calls; :mod:`keras_lt.data.transforms` says
why these rather than Keras preprocessing layers.
"""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageEnhance, ImageOps

from keras_lt.data.transforms import BILINEAR, to_pil

__all__ = [
    "CIFAR10_POLICY", "AUTOAUG_RANGES", "autoaugment_op", "apply_subpolicy",
    "cifar10_autoaugment", "RANDAUG_OPS", "rand_augment",
]

_BICUBIC = Image.Resampling.BICUBIC
_AFFINE = Image.Transform.AFFINE


def _sign(rng: np.random.Generator) -> float:
    """random.choice([-1, 1]) of the reference code."""
    return 1.0 if rng.random() < 0.5 else -1.0


# ----------------------------------------------------------------------------
# AutoAugment CIFAR10Policy (Cubuk et al., CVPR 2019; table as in the widely
# used ``autoaugment.py`` (DeepVoltaire) that BCL / BCCL import)

#: (op1, p1, magnitude_idx1, op2, p2, magnitude_idx2): the 25 CIFAR-10 sub-policies.
CIFAR10_POLICY = (
    ("invert", 0.1, 7, "contrast", 0.2, 6),
    ("rotate", 0.7, 2, "translateX", 0.3, 9),
    ("sharpness", 0.8, 1, "sharpness", 0.9, 3),
    ("shearY", 0.5, 8, "translateY", 0.7, 9),
    ("autocontrast", 0.5, 8, "equalize", 0.9, 2),
    ("shearY", 0.2, 7, "posterize", 0.3, 7),
    ("color", 0.4, 3, "brightness", 0.6, 7),
    ("sharpness", 0.3, 9, "brightness", 0.7, 9),
    ("equalize", 0.6, 5, "equalize", 0.5, 1),
    ("contrast", 0.6, 7, "sharpness", 0.6, 5),
    ("color", 0.7, 7, "translateX", 0.5, 8),
    ("equalize", 0.3, 7, "autocontrast", 0.4, 8),
    ("translateY", 0.4, 3, "sharpness", 0.2, 6),
    ("brightness", 0.9, 6, "color", 0.2, 8),
    ("solarize", 0.5, 2, "invert", 0.0, 3),
    ("equalize", 0.2, 0, "autocontrast", 0.6, 0),
    ("equalize", 0.2, 8, "equalize", 0.6, 4),
    ("color", 0.9, 9, "equalize", 0.6, 6),
    ("autocontrast", 0.8, 4, "solarize", 0.2, 8),
    ("brightness", 0.1, 3, "color", 0.7, 0),
    ("solarize", 0.4, 5, "autocontrast", 0.9, 3),
    ("translateY", 0.9, 9, "translateY", 0.7, 9),
    ("autocontrast", 0.9, 2, "solarize", 0.8, 3),
    ("equalize", 0.8, 8, "invert", 0.1, 3),
    ("translateY", 0.7, 9, "autocontrast", 0.9, 1),
)

#: magnitude index (0..9) -> magnitude, as in the reference ``SubPolicy``.
AUTOAUG_RANGES = {
    "shearX": np.linspace(0, 0.3, 10),
    "shearY": np.linspace(0, 0.3, 10),
    "translateX": np.linspace(0, 150 / 331, 10),
    "translateY": np.linspace(0, 150 / 331, 10),
    "rotate": np.linspace(0, 30, 10),
    "color": np.linspace(0.0, 0.9, 10),
    "posterize": np.round(np.linspace(8, 4, 10), 0).astype(int),
    "solarize": np.linspace(256, 0, 10),
    "contrast": np.linspace(0.0, 0.9, 10),
    "sharpness": np.linspace(0.0, 0.9, 10),
    "brightness": np.linspace(0.0, 0.9, 10),
    "autocontrast": np.zeros(10),
    "equalize": np.zeros(10),
    "invert": np.zeros(10),
}

_FILL = (128, 128, 128)


def autoaugment_op(img: Image.Image, op: str, magnitude: float,
                   rng: np.random.Generator, fill=_FILL) -> Image.Image:
    """One AutoAugment operation on a PIL image, as in the reference SubPolicy.

    Signed ops (shear, translate, color, contrast, sharpness, brightness) draw
    a random sign from ``rng``. ``rotate`` is *not* signed, exactly as in the
    reference ``autoaugment.py`` (its signed variant is commented out there);
    geometric ops fill with ``fill``; shear is bicubic, translate and rotate
    nearest (PIL defaults), as in the reference.
    """
    if op == "shearX":
        return img.transform(img.size, _AFFINE, (1, magnitude * _sign(rng), 0, 0, 1, 0),
                             _BICUBIC, fillcolor=fill)
    if op == "shearY":
        return img.transform(img.size, _AFFINE, (1, 0, 0, magnitude * _sign(rng), 1, 0),
                             _BICUBIC, fillcolor=fill)
    if op == "translateX":
        return img.transform(img.size, _AFFINE,
                             (1, 0, magnitude * img.size[0] * _sign(rng), 0, 1, 0),
                             fillcolor=fill)
    if op == "translateY":
        return img.transform(img.size, _AFFINE,
                             (1, 0, 0, 0, 1, magnitude * img.size[1] * _sign(rng)),
                             fillcolor=fill)
    if op == "rotate":
        return img.rotate(float(magnitude), fillcolor=fill)
    if op == "color":
        return ImageEnhance.Color(img).enhance(1 + magnitude * _sign(rng))
    if op == "posterize":
        return ImageOps.posterize(img, int(magnitude))
    if op == "solarize":
        return ImageOps.solarize(img, float(magnitude))
    if op == "contrast":
        return ImageEnhance.Contrast(img).enhance(1 + magnitude * _sign(rng))
    if op == "sharpness":
        return ImageEnhance.Sharpness(img).enhance(1 + magnitude * _sign(rng))
    if op == "brightness":
        return ImageEnhance.Brightness(img).enhance(1 + magnitude * _sign(rng))
    if op == "autocontrast":
        return ImageOps.autocontrast(img)
    if op == "equalize":
        return ImageOps.equalize(img)
    if op == "invert":
        return ImageOps.invert(img)
    raise ValueError(f"unknown AutoAugment op {op!r}")


def apply_subpolicy(img, index: int, rng: np.random.Generator, fill=_FILL) -> Image.Image:
    """Sub-policy ``CIFAR10_POLICY[index]``: each op applied with its probability."""
    op1, p1, m1, op2, p2, m2 = CIFAR10_POLICY[index]
    img = to_pil(img)
    if rng.random() < p1:
        img = autoaugment_op(img, op1, AUTOAUG_RANGES[op1][m1], rng, fill)
    if rng.random() < p2:
        img = autoaugment_op(img, op2, AUTOAUG_RANGES[op2][m2], rng, fill)
    return img


def cifar10_autoaugment(img, rng: np.random.Generator, fill=_FILL) -> np.ndarray:
    """AutoAugment CIFAR10Policy: one of the 25 sub-policies uniformly at random."""
    index = int(rng.integers(len(CIFAR10_POLICY)))
    return np.asarray(apply_subpolicy(img, index, rng, fill))


# ----------------------------------------------------------------------------
# RandAugment (ImageNet classifier view)
#
# Op set and magnitude mapping of timm's ``rand_augment_transform(
# 'rand-n2-m10-mstd0.5')`` (the ImageNet-LT recipe of BCL/BCCL), magnitude
# level m in [0, 10] (``_LEVEL_DENOM = 10``), each of the n=2 ops chosen
# uniformly *with replacement* and applied with probability 0.5:
#   AutoContrast, Equalize, Invert                    (no magnitude)
#   Rotate        degrees = m/10 * 30, random sign
#   Posterize     bits = int(m/10 * 4)   (timm's 'Posterize': keep 0..4 MSB)
#   Solarize      threshold = min(256, int(m/10 * 256))
#   SolarizeAdd   add = min(128, int(m/10 * 110)) to pixels < 128
#   Color, Contrast, Brightness, Sharpness   factor = m/10 * 1.8 + 0.1
#   ShearX, ShearY           shear = m/10 * 0.3, random sign
#   TranslateXRel, TranslateYRel   shift = m/10 * 0.45 * size, random sign
# mstd=0.5: per op, m ~ Normal(10, 0.5) clipped to [0, 10].
# Geometric ops fill with the ImageNet mean colour (124, 116, 104) like timm.
# Deviation: timm picks bilinear or bicubic at random for geometric ops; we
# always use bilinear.

RANDAUG_OPS = (
    "AutoContrast", "Equalize", "Invert", "Rotate", "Posterize", "Solarize",
    "SolarizeAdd", "Color", "Contrast", "Brightness", "Sharpness", "ShearX",
    "ShearY", "TranslateXRel", "TranslateYRel",
)
_IMAGENET_FILL = (124, 116, 104)


def _randaug_op(img: Image.Image, op: str, m: float, rng: np.random.Generator,
                fill=_IMAGENET_FILL) -> Image.Image:
    lvl = m / 10.0
    if op == "AutoContrast":
        return ImageOps.autocontrast(img)
    if op == "Equalize":
        return ImageOps.equalize(img)
    if op == "Invert":
        return ImageOps.invert(img)
    if op == "Rotate":
        return img.rotate(lvl * 30.0 * _sign(rng), resample=BILINEAR, fillcolor=fill)
    if op == "Posterize":
        bits = int(lvl * 4)
        return img if bits >= 8 else ImageOps.posterize(img, bits)
    if op == "Solarize":
        return ImageOps.solarize(img, min(256, int(lvl * 256)))
    if op == "SolarizeAdd":
        add = min(128, int(lvl * 110))
        arr = np.asarray(img).astype(np.int16)
        arr = np.where(arr < 128, np.minimum(arr + add, 255), arr).astype(np.uint8)
        return Image.fromarray(arr, "RGB")
    if op in ("Color", "Contrast", "Brightness", "Sharpness"):
        factor = lvl * 1.8 + 0.1
        return getattr(ImageEnhance, op)(img).enhance(factor)
    if op == "ShearX":
        return img.transform(img.size, _AFFINE, (1, lvl * 0.3 * _sign(rng), 0, 0, 1, 0),
                             BILINEAR, fillcolor=fill)
    if op == "ShearY":
        return img.transform(img.size, _AFFINE, (1, 0, 0, lvl * 0.3 * _sign(rng), 1, 0),
                             BILINEAR, fillcolor=fill)
    if op == "TranslateXRel":
        px = lvl * 0.45 * img.size[0] * _sign(rng)
        return img.transform(img.size, _AFFINE, (1, 0, px, 0, 1, 0), BILINEAR, fillcolor=fill)
    if op == "TranslateYRel":
        px = lvl * 0.45 * img.size[1] * _sign(rng)
        return img.transform(img.size, _AFFINE, (1, 0, 0, 0, 1, px), BILINEAR, fillcolor=fill)
    raise ValueError(f"unknown RandAugment op {op!r}")


def rand_augment(img, rng: np.random.Generator, n: int = 2, m: float = 10.0,
                 mstd: float = 0.5, p: float = 0.5) -> Image.Image:
    """RandAugment(n, m) with timm's op set and magnitude mapping (see above)."""
    img = to_pil(img)
    ops = rng.integers(len(RANDAUG_OPS), size=n)
    for k in ops:
        if rng.random() >= p:
            continue
        mag = m
        if mstd > 0:
            mag = float(np.clip(rng.normal(m, mstd), 0.0, 10.0))
        img = _randaug_op(img, RANDAUG_OPS[int(k)], mag, rng)
    return img
