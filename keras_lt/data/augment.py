"""Named augmentation views: the recipes of the training and evaluation images.

A *view* is a named recipe (see :data:`VIEW_RECIPES`) built by
:func:`make_view`; it maps an image, or a batch of images, to the normalised
float32 tensor ``(x / 255 - mean) / std`` (``mean``/``std`` in [0, 1] units,
per channel, like ``torchvision.transforms.Normalize`` after ``ToTensor``).
Given the same ``numpy.random.Generator`` a view gives the same output.

The views are made of the transforms of :mod:`keras_lt.data.transforms`
(which also says why they are Pillow and NumPy rather than Keras preprocessing
layers) and the AutoAugment and RandAugment policies of
:mod:`keras_lt.data.policies`; this module re-exports the public names of both.

Views (``VIEW_RECIPES``)
------------------------
``cifar_basic``      RandomCrop(32, padding=4, zero fill) + RandomHorizontalFlip
                     (LDAM-DRW / logit-adjustment baseline recipe); vectorised
                     over the batch.
``cifar_autoaug``    crop + flip, AutoAugment ``CIFAR10Policy`` (Cubuk et al.
                     2019, the 25 sub-policies as in the ``autoaugment.py``
                     used by BCL/BCCL), Cutout(1 hole, length 16), normalise:
                     Cutout before normalisation, as BCCL's code (its holes are
                     black pixels, ``-mean/std`` once normalised).
``cifar_randaug``    crop + flip + RandAugment(n=2, m=10, mstd=0.5) at 32 px: the
                     strong (query) view of Reb-SupCon on CIFAR (§4.2).
``cifar_simaug``     SimCLR/SupCon view: RandomResizedCrop(32, scale
                     (0.08, 1), ratio (3/4, 4/3)), flip, ColorJitter(0.4, 0.4,
                     0.4, 0.1) with p=0.8, RandomGrayscale(p=0.2).
``imagenet_randaug`` RandomResizedCrop(224) + flip + RandAugment(n=2, m=10,
                     mstd=0.5), timm's ``rand-n2-m10-mstd0.5`` op set (see
                     :func:`rand_augment`).
``imagenet_simaug``  the SimAug view at 224.
``cifar_eval``       normalisation only; vectorised.
``imagenet_eval``    resize shorter side to 256 (bilinear), centre crop 224.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

from keras_lt.data import policies
from keras_lt.data.policies import (
    AUTOAUG_RANGES, CIFAR10_POLICY, RANDAUG_OPS, apply_subpolicy, autoaugment_op,
    cifar10_autoaugment, rand_augment,
)
from keras_lt.data.transforms import (
    adjust_hue, color_jitter, cutout, horizontal_flip, normalize, random_crop_flip,
    random_crop_flip_batch, random_grayscale, random_resized_crop, random_resized_crop_params,
    resize_center_crop, simaug, to_array, to_pil,
)

__all__ = [
    "VIEW_RECIPES", "View", "make_view", "view_size",
    "CIFAR10_POLICY", "AUTOAUG_RANGES", "RANDAUG_OPS", "autoaugment_op", "apply_subpolicy",
    "cifar10_autoaugment", "rand_augment",
    "normalize", "random_crop_flip", "random_crop_flip_batch", "horizontal_flip", "cutout",
    "random_resized_crop", "random_resized_crop_params", "color_jitter", "random_grayscale",
    "adjust_hue", "simaug", "resize_center_crop", "to_pil", "to_array",
]

#: private helpers of the transforms and policies that tests and benchmarks use through here
_to_pil = to_pil
_randaug_op = policies._randaug_op


# ----------------------------------------------------------------------------
# views


def _as_batch(images):
    """(is_single, batch) where batch is an (B,H,W,3) array or a list of arrays."""
    if isinstance(images, Image.Image):
        return True, [to_array(images)]
    if isinstance(images, np.ndarray):
        if images.ndim == 3:
            return True, images[None]
        if images.ndim == 4:
            return False, images
        raise ValueError(f"expected (H,W,3) or (B,H,W,3), got shape {images.shape}")
    return False, [to_array(im) for im in images]


def _stack(images) -> np.ndarray:
    if isinstance(images, np.ndarray):
        return images
    shapes = {np.shape(im) for im in images}
    if len(shapes) != 1:
        raise ValueError(
            "images of different sizes in one batch; this view keeps the input size, "
            f"use a view that resizes (got sizes {sorted(shapes)[:4]}...)")
    return np.stack(images)


class View:
    """A named augmentation recipe: ``view(image_or_batch, rng) -> float32``.

    ``per_image(img, rng) -> uint8 HWC`` runs image by image (in batch order,
    sharing ``rng``); ``batch_fn(batch, rng) -> uint8 BHWC`` is a vectorised
    alternative.
    """

    def __init__(self, name, mean, std, per_image=None, batch_fn=None):
        self.name = name
        self.mean = np.asarray(mean, np.float32).reshape(3)
        self.std = np.asarray(std, np.float32).reshape(3)
        self.per_image = per_image
        self.batch_fn = batch_fn

    def __call__(self, images, rng: np.random.Generator) -> np.ndarray:
        single, batch = _as_batch(images)
        if self.batch_fn is not None:
            out = self.batch_fn(_stack(batch), rng)
        elif self.per_image is not None:
            out = np.stack([self.per_image(im, rng) for im in batch])
        else:
            out = _stack(batch)
        x = normalize(out, self.mean, self.std)
        return x[0] if single else x

    def __repr__(self):
        return f"View({self.name!r})"


def _cifar_autoaug(size):
    def fn(img, rng):
        return cutout(cifar10_autoaugment(random_crop_flip(img, rng, size, 4), rng), rng, 1, 16)
    return fn


def _cifar_randaug(size):
    def fn(img, rng):
        return np.asarray(rand_augment(random_crop_flip(img, rng, size, 4), rng, n=2, m=10,
                                       mstd=0.5))
    return fn


def _imagenet_randaug(size):
    def fn(img, rng):
        img = random_resized_crop(img, rng, size)
        if rng.random() < 0.5:
            img = img.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
        return np.asarray(rand_augment(img, rng, n=2, m=10, mstd=0.5))
    return fn


def _build(name, mean, std, image_size):
    if name == "cifar_basic":
        return View(name, mean, std,
                    batch_fn=lambda b, rng: random_crop_flip_batch(b, rng, image_size, 4))
    if name == "cifar_autoaug":
        return View(name, mean, std, per_image=_cifar_autoaug(image_size))
    if name == "cifar_randaug":
        return View(name, mean, std, per_image=_cifar_randaug(image_size))
    if name == "cifar_simaug":
        size = image_size or 32
        return View(name, mean, std, per_image=lambda im, rng: simaug(im, rng, size))
    if name == "imagenet_simaug":
        size = image_size or 224
        return View(name, mean, std, per_image=lambda im, rng: simaug(im, rng, size))
    if name == "imagenet_randaug":
        return View(name, mean, std, per_image=_imagenet_randaug(image_size or 224))
    if name == "cifar_eval":
        return View(name, mean, std)
    if name == "imagenet_eval":
        size = image_size or 224
        resize = int(round(size / 0.875))           # 224 -> 256
        return View(name, mean, std,
                    per_image=lambda im, rng: resize_center_crop(im, size, resize))
    raise AssertionError(name)


#: name -> one-line description of every view :func:`make_view` knows.
VIEW_RECIPES = {
    "cifar_basic": "RandomCrop(32, padding=4) + RandomHorizontalFlip (vectorised)",
    "cifar_autoaug": "crop+flip, AutoAugment CIFAR10Policy, Cutout(1, 16), normalise",
    "cifar_randaug": "crop+flip, RandAugment n=2 m=10 mstd=0.5 (timm ops), normalise",
    "cifar_simaug": "RandomResizedCrop(32, 0.08-1) + flip + ColorJitter(.4,.4,.4,.1) p=.8 "
                    "+ RandomGrayscale p=.2",
    "imagenet_randaug": "RandomResizedCrop(224) + flip + RandAugment n=2 m=10 mstd=0.5 (timm ops)",
    "imagenet_simaug": "SimAug at 224",
    "cifar_eval": "normalisation only (vectorised)",
    "imagenet_eval": "resize shorter side 256 (bilinear), centre crop 224",
}


def view_size(image_size):
    """The side of a view's square output from ``image_size``: ``None``, an int, or an
    ``[H, W]`` pair with ``H == W`` (as recipes write ``data.image_size``)."""
    if image_size is None or isinstance(image_size, (int, np.integer)):
        return None if image_size is None else int(image_size)
    size = [int(s) for s in image_size]
    if len(size) != 2 or size[0] != size[1]:
        raise ValueError(f"image_size {image_size!r}: the views make square images; give one "
                         f"side or an [H, W] pair with H == W")
    return size[0]


def make_view(name: str, mean, std, image_size=None) -> View:
    """Build the view ``name`` (one of :data:`VIEW_RECIPES`).

    ``mean``/``std``: per-channel, in [0, 1] units. ``image_size``: output
    size, one side or a square ``[H, W]`` (:func:`view_size`); ``None`` keeps the
    input size for the CIFAR crop views and uses 32 (``cifar_simaug``) or 224
    (ImageNet views). ``cifar_eval`` keeps the input size whatever it is.
    """
    if name not in VIEW_RECIPES:
        raise ValueError(f"unknown view {name!r}; known views: {', '.join(sorted(VIEW_RECIPES))}")
    return _build(name, mean, std, view_size(image_size))
