"""Image transforms with torchvision semantics, on uint8 HWC arrays.

Every transform here takes a uint8 ``(H, W, 3)`` array (or a PIL image) and a
``numpy.random.Generator`` and is deterministic given that generator, so the
input pipeline (:mod:`keras_lt.data.pipeline`) can derive one generator per
batch and be reproducible regardless of worker scheduling.

Here: normalisation, RandomCrop + RandomHorizontalFlip (per image and
vectorised over a batch), Cutout, RandomResizedCrop, ColorJitter and
RandomGrayscale with the SimCLR/SupCon SimAug view made of them, and the
resize + centre crop of ImageNet evaluation. The AutoAugment and RandAugment
policies are in :mod:`keras_lt.data.policies`; the named views that combine
both are in :mod:`keras_lt.data.augment`.

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
"""

from __future__ import annotations

import math

import numpy as np
from PIL import Image, ImageEnhance

__all__ = [
    "normalize", "random_crop_flip", "random_crop_flip_batch", "horizontal_flip", "cutout",
    "random_resized_crop", "random_resized_crop_params", "color_jitter", "random_grayscale",
    "adjust_hue", "simaug", "resize_center_crop", "to_pil", "to_array",
]

BILINEAR = Image.Resampling.BILINEAR


# ----------------------------------------------------------------------------
# helpers


def to_pil(img) -> Image.Image:
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


def to_array(img) -> np.ndarray:
    if isinstance(img, Image.Image):
        return np.asarray(img.convert("RGB") if img.mode != "RGB" else img)
    return np.asarray(img)


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
    arr = to_array(img)
    return arr[:, ::-1] if rng.random() < p else arr


def random_crop_flip(img, rng: np.random.Generator, size: int | None = None,
                     padding: int = 4, flip: bool = True) -> np.ndarray:
    """RandomCrop(size, padding, fill 0) then RandomHorizontalFlip on one image.

    Uses the same draws, in the same order, as :func:`random_crop_flip_batch`
    on a batch of one, so both paths give identical results.
    """
    return random_crop_flip_batch(to_array(img)[None], rng, size, padding, flip)[0]


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
# Cutout


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
    img = to_pil(img)
    width, height = img.size
    top, left, h, w = random_resized_crop_params(height, width, rng, scale, ratio)
    return img.crop((left, top, left + w, top + h)).resize((size, size), BILINEAR)


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
    img = to_pil(img)
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
    img = to_pil(img)
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
# eval


def resize_center_crop(img, size: int = 224, resize: int = 256) -> np.ndarray:
    """Resize shorter side to ``resize`` (bilinear), centre crop ``size`` (torchvision)."""
    img = to_pil(img)
    w, h = img.size
    if w <= h:
        nw, nh = resize, int(resize * h / w)
    else:
        nh, nw = resize, int(resize * w / h)
    img = img.resize((nw, nh), BILINEAR)
    top = int(round((nh - size) / 2.0))
    left = int(round((nw - size) / 2.0))
    return np.asarray(img.crop((left, top, left + size, top + size)))
