"""Image augmentation views with torchvision semantics, on uint8 HWC arrays.

Every transform here takes a uint8 ``(H, W, 3)`` array (or a PIL image) and a
``numpy.random.Generator`` and is deterministic given that generator, so the
input pipeline (:mod:`keras_lt.data.pipeline`) can derive one generator per
batch and be reproducible regardless of worker scheduling.

A *view* is a named recipe (see :data:`VIEW_RECIPES`) built by
:func:`make_view`; it maps an image, or a batch of images, to the normalised
float32 tensor ``(x / 255 - mean) / std`` (``mean``/``std`` in [0, 1] units,
per channel, like ``torchvision.transforms.Normalize`` after ``ToTensor``).

Why PIL + NumPy rather than Keras preprocessing layers
------------------------------------------------------
The project prefers Keras' own augmentation layers and maintained libraries to
hand-written transforms *where they give the same result*. Here they do not,
for three reasons, so the photometric/geometric primitives come from Pillow
(``ImageOps``, ``ImageEnhance``, ``Image.transform``) -- the same maintained
primitives torchvision's PIL path and the reference AutoAugment/RandAugment
code call -- and only the glue (sampling, crop/flip, normalisation) is NumPy:

* **Semantics.** The published recipes we reproduce (LDAM/LA crop+flip,
  the BCL/BCCL ``CIFAR10Policy`` AutoAugment, SupCon's SimAug, timm-style
  RandAugment) are defined by PIL operations: PIL's ``autocontrast``,
  ``equalize``, ``posterize``, the ``ImageEnhance`` blend-with-degenerate
  formulas, nearest/bicubic affine resampling with a fill colour, torchvision's
  RandomResizedCrop sampling with its 10-try loop and centre-crop fallback, and
  ColorJitter's random order of the four adjustments. Keras' layers
  (``RandomCrop``, ``RandAugment``, ``AutoContrast``, ``Equalization``,
  ``RandomColorJitter`` ...) implement different parametrisations (e.g. Keras
  ``RandomCrop`` does not pad, ``RandAugment`` uses its own op set and
  magnitude scale, there is no AutoAugment policy), so results would differ.
* **Speed.** Keras preprocessing layers run per batch as backend tensor ops;
  on this CPU Keras' ``RandAugment`` costs about as much as a whole training
  step, whereas the PIL ops on a 32x32 image take microseconds and release the
  GIL, so a couple of threads keep up (``benchmarks/bench_pipeline.py``
  measures both).
* **Workers without a backend.** The pipeline runs in ``PyDataset`` worker
  threads (or processes); these transforms need no deep-learning backend, so
  nothing here imports keras, TensorFlow, torch or jax (on the torch/jax
  backends TensorFlow must not be required at all).

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

import math

import numpy as np
from PIL import Image, ImageEnhance, ImageOps

__all__ = [
    "VIEW_RECIPES", "CIFAR10_POLICY", "View", "make_view", "normalize",
    "random_crop_flip", "random_crop_flip_batch", "horizontal_flip",
    "cifar10_autoaugment", "autoaugment_op", "cutout", "random_resized_crop",
    "random_resized_crop_params", "color_jitter", "random_grayscale",
    "adjust_hue", "simaug", "rand_augment", "resize_center_crop",
]

_BILINEAR = Image.Resampling.BILINEAR
_BICUBIC = Image.Resampling.BICUBIC
_NEAREST = Image.Resampling.NEAREST
_AFFINE = Image.Transform.AFFINE


# ----------------------------------------------------------------------------
# helpers


def _to_pil(img) -> Image.Image:
    if isinstance(img, Image.Image):
        return img if img.mode == "RGB" else img.convert("RGB")
    arr = np.asarray(img)
    if arr.dtype != np.uint8:
        raise TypeError(f"expected a uint8 image, got dtype {arr.dtype}")
    if arr.ndim == 2:
        arr = np.repeat(arr[..., None], 3, axis=-1)
    if arr.ndim != 3 or arr.shape[-1] != 3:
        raise ValueError(f"expected an (H, W, 3) image, got shape {arr.shape}")
    return Image.fromarray(arr, "RGB")


def _to_array(img) -> np.ndarray:
    if isinstance(img, Image.Image):
        return np.asarray(img.convert("RGB") if img.mode != "RGB" else img)
    return np.asarray(img)


def _sign(rng: np.random.Generator) -> float:
    """random.choice([-1, 1]) of the reference code."""
    return 1.0 if rng.random() < 0.5 else -1.0


def normalize(images, mean, std) -> np.ndarray:
    """``(x / 255 - mean) / std`` as float32, for an image or a batch (..., 3)."""
    x = np.asarray(images, dtype=np.float32)
    mean = np.asarray(mean, dtype=np.float32)
    std = np.asarray(std, dtype=np.float32)
    return ((x / np.float32(255.0) - mean) / std).astype(np.float32, copy=False)


# ----------------------------------------------------------------------------
# crop / flip (CIFAR classic recipe)


def horizontal_flip(img, rng: np.random.Generator, p: float = 0.5):
    """RandomHorizontalFlip(p): returns a uint8 array."""
    arr = _to_array(img)
    return arr[:, ::-1] if rng.random() < p else arr


def random_crop_flip(img, rng: np.random.Generator, size: int | None = None,
                     padding: int = 4, flip: bool = True) -> np.ndarray:
    """RandomCrop(size, padding, fill 0) then RandomHorizontalFlip on one image.

    Uses the same draws, in the same order, as :func:`random_crop_flip_batch`
    on a batch of one, so both paths give identical results.
    """
    return random_crop_flip_batch(_to_array(img)[None], rng, size, padding, flip)[0]


def random_crop_flip_batch(batch: np.ndarray, rng: np.random.Generator,
                           size: int | None = None, padding: int = 4,
                           flip: bool = True) -> np.ndarray:
    """Vectorised RandomCrop(size, padding) + RandomHorizontalFlip on (B,H,W,3).

    Zero padding; top-left offsets uniform in ``[0, H + 2p - size]`` like
    torchvision; each image flipped with probability 1/2. Draw order: all y
    offsets, all x offsets, then all flip coins.
    """
    batch = np.asarray(batch)
    b, h, w = batch.shape[:3]
    sw = w if size is None else int(size)
    size = h if size is None else int(size)
    if padding:
        batch = np.pad(batch, ((0, 0), (padding, padding), (padding, padding), (0, 0)))
    ph, pw = batch.shape[1:3]
    if ph < size or pw < sw:
        raise ValueError(f"crop size {size} larger than padded image {ph}x{pw}")
    oy = rng.integers(0, ph - size + 1, size=b)
    ox = rng.integers(0, pw - sw + 1, size=b)
    flips = (rng.random(b) < 0.5) if flip else np.zeros(b, bool)
    rows = oy[:, None] + np.arange(size)[None, :]                     # (B, S)
    cols_fwd = np.arange(sw)[None, :]
    cols = np.where(flips[:, None], cols_fwd[:, ::-1], cols_fwd) + ox[:, None]
    return batch[np.arange(b)[:, None, None], rows[:, :, None], cols[:, None, :]]


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
    img = _to_pil(img)
    if rng.random() < p1:
        img = autoaugment_op(img, op1, AUTOAUG_RANGES[op1][m1], rng, fill)
    if rng.random() < p2:
        img = autoaugment_op(img, op2, AUTOAUG_RANGES[op2][m2], rng, fill)
    return img


def cifar10_autoaugment(img, rng: np.random.Generator, fill=_FILL) -> np.ndarray:
    """AutoAugment CIFAR10Policy: one of the 25 sub-policies uniformly at random."""
    index = int(rng.integers(len(CIFAR10_POLICY)))
    return np.asarray(apply_subpolicy(img, index, rng, fill))


def cutout(img, rng: np.random.Generator, n_holes: int = 1, length: int = 16) -> np.ndarray:
    """Cutout (DeVries & Taylor 2017) on an (H, W, C) image before normalisation.

    Centre uniform over the image, square of side ``length`` clipped at the
    borders, set to 0 (black) -- BCCL's transform applies it to the [0, 1] tensor
    before ``Normalize``, so the hole is ``-mean/std`` in normalised units. Returns
    a new array.
    """
    x = np.array(img, copy=True)
    h, w = x.shape[:2]
    for _ in range(n_holes):
        y = int(rng.integers(h))
        c = int(rng.integers(w))
        y1, y2 = np.clip([y - length // 2, y + length // 2], 0, h)
        x1, x2 = np.clip([c - length // 2, c + length // 2], 0, w)
        x[y1:y2, x1:x2] = 0
    return x


# ----------------------------------------------------------------------------
# SimAug (SimCLR / SupCon contrastive view)


def random_resized_crop_params(height: int, width: int, rng: np.random.Generator,
                               scale=(0.08, 1.0), ratio=(3 / 4, 4 / 3)):
    """torchvision ``RandomResizedCrop.get_params``: (top, left, h, w)."""
    area = height * width
    log_ratio = (math.log(ratio[0]), math.log(ratio[1]))
    for _ in range(10):
        target_area = area * rng.uniform(scale[0], scale[1])
        aspect = math.exp(rng.uniform(log_ratio[0], log_ratio[1]))
        w = int(round(math.sqrt(target_area * aspect)))
        h = int(round(math.sqrt(target_area / aspect)))
        if 0 < w <= width and 0 < h <= height:
            top = int(rng.integers(0, height - h + 1))
            left = int(rng.integers(0, width - w + 1))
            return top, left, h, w
    in_ratio = width / height
    if in_ratio < min(ratio):
        w = width
        h = int(round(w / min(ratio)))
    elif in_ratio > max(ratio):
        h = height
        w = int(round(h * max(ratio)))
    else:
        w, h = width, height
    return (height - h) // 2, (width - w) // 2, h, w


def random_resized_crop(img, rng: np.random.Generator, size: int,
                        scale=(0.08, 1.0), ratio=(3 / 4, 4 / 3)) -> Image.Image:
    """RandomResizedCrop(size, scale, ratio), bilinear (PIL, antialiased): crop, then resize
    the crop alone, as torchvision does (resizing with ``box=`` would blend pixels from outside
    the box into the output's border)."""
    img = _to_pil(img)
    width, height = img.size
    top, left, h, w = random_resized_crop_params(height, width, rng, scale, ratio)
    return img.crop((left, top, left + w, top + h)).resize((size, size), _BILINEAR)


def adjust_hue(img: Image.Image, hue_factor: float) -> Image.Image:
    """torchvision ``adjust_hue`` (PIL path): shift H of HSV by hue_factor*255 (mod 256)."""
    if not -0.5 <= hue_factor <= 0.5:
        raise ValueError(f"hue_factor {hue_factor} not in [-0.5, 0.5]")
    h, s, v = img.convert("HSV").split()
    np_h = np.asarray(h, dtype=np.uint8)
    shift = int(hue_factor * 255)          # truncation, as np.uint8(float) does
    np_h = ((np_h.astype(np.int16) + shift) % 256).astype(np.uint8)
    return Image.merge("HSV", (Image.fromarray(np_h, "L"), s, v)).convert("RGB")


def color_jitter(img, rng: np.random.Generator, brightness=0.4, contrast=0.4,
                 saturation=0.4, hue=0.1) -> Image.Image:
    """torchvision ColorJitter: the four adjustments in a random order.

    Factors are drawn first (brightness, contrast, saturation uniform in
    ``[max(0, 1 - v), 1 + v]``, hue in ``[-hue, hue]``), then applied in a
    random permutation, as torchvision does.
    """
    img = _to_pil(img)
    order = rng.permutation(4)
    b = rng.uniform(max(0.0, 1 - brightness), 1 + brightness) if brightness else None
    c = rng.uniform(max(0.0, 1 - contrast), 1 + contrast) if contrast else None
    s = rng.uniform(max(0.0, 1 - saturation), 1 + saturation) if saturation else None
    hf = rng.uniform(-hue, hue) if hue else None
    for k in order:
        if k == 0 and b is not None:
            img = ImageEnhance.Brightness(img).enhance(b)
        elif k == 1 and c is not None:
            img = ImageEnhance.Contrast(img).enhance(c)
        elif k == 2 and s is not None:
            img = ImageEnhance.Color(img).enhance(s)
        elif k == 3 and hf is not None:
            img = adjust_hue(img, hf)
    return img


def random_grayscale(img, rng: np.random.Generator, p: float = 0.2) -> Image.Image:
    """RandomGrayscale(p): ITU-R 601-2 luma (PIL ``L``), replicated to 3 channels."""
    img = _to_pil(img)
    if rng.random() < p:
        return img.convert("L").convert("RGB")
    return img


def simaug(img, rng: np.random.Generator, size: int, scale=(0.08, 1.0)) -> np.ndarray:
    """SupCon/BCL SimAug: RRC, flip, ColorJitter(0.4,0.4,0.4,0.1) p=0.8, gray p=0.2."""
    out = random_resized_crop(img, rng, size, scale=scale)
    if rng.random() < 0.5:
        out = out.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    if rng.random() < 0.8:
        out = color_jitter(out, rng, 0.4, 0.4, 0.4, 0.1)
    out = random_grayscale(out, rng, 0.2)
    return np.asarray(out)


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
        return img.rotate(lvl * 30.0 * _sign(rng), resample=_BILINEAR, fillcolor=fill)
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
                             _BILINEAR, fillcolor=fill)
    if op == "ShearY":
        return img.transform(img.size, _AFFINE, (1, 0, 0, lvl * 0.3 * _sign(rng), 1, 0),
                             _BILINEAR, fillcolor=fill)
    if op == "TranslateXRel":
        px = lvl * 0.45 * img.size[0] * _sign(rng)
        return img.transform(img.size, _AFFINE, (1, 0, px, 0, 1, 0), _BILINEAR, fillcolor=fill)
    if op == "TranslateYRel":
        px = lvl * 0.45 * img.size[1] * _sign(rng)
        return img.transform(img.size, _AFFINE, (1, 0, 0, 0, 1, px), _BILINEAR, fillcolor=fill)
    raise ValueError(f"unknown RandAugment op {op!r}")


def rand_augment(img, rng: np.random.Generator, n: int = 2, m: float = 10.0,
                 mstd: float = 0.5, p: float = 0.5) -> Image.Image:
    """RandAugment(n, m) with timm's op set and magnitude mapping (see above)."""
    img = _to_pil(img)
    ops = rng.integers(len(RANDAUG_OPS), size=n)
    for k in ops:
        if rng.random() >= p:
            continue
        mag = m
        if mstd > 0:
            mag = float(np.clip(rng.normal(m, mstd), 0.0, 10.0))
        img = _randaug_op(img, RANDAUG_OPS[int(k)], mag, rng)
    return img


# ----------------------------------------------------------------------------
# eval


def resize_center_crop(img, size: int = 224, resize: int = 256) -> np.ndarray:
    """Resize shorter side to ``resize`` (bilinear), centre crop ``size`` (torchvision)."""
    img = _to_pil(img)
    w, h = img.size
    if w <= h:
        nw, nh = resize, int(resize * h / w)
    else:
        nh, nw = resize, int(resize * w / h)
    img = img.resize((nw, nh), _BILINEAR)
    top = int(round((nh - size) / 2.0))
    left = int(round((nw - size) / 2.0))
    return np.asarray(img.crop((left, top, left + size, top + size)))


# ----------------------------------------------------------------------------
# views


def _as_batch(images):
    """(is_single, batch) where batch is an (B,H,W,3) array or a list of arrays."""
    if isinstance(images, Image.Image):
        return True, [_to_array(images)]
    if isinstance(images, np.ndarray):
        if images.ndim == 3:
            return True, images[None]
        if images.ndim == 4:
            return False, images
        raise ValueError(f"expected (H,W,3) or (B,H,W,3), got shape {images.shape}")
    return False, [_to_array(im) for im in images]


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
