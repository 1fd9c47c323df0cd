"""``keras_lt.predict``: top-k labels of images with a zoo model.

The zoo's inference model (:class:`~keras_lt.models.LTImageClassifier`, from
``keras_lt.from_pretrained`` or ``keras.saving.load_model`` of a zoo folder) carries its
own preprocessing (crop, resize to its input size, normalisation) and class names, so
``model.predict(uint8_images)`` already gives the right logits; :func:`predict` adds file
decoding, softmax, top-k and names. Files are decoded like data preparation decodes them
(:func:`keras_lt.data.decode.decode_image`: 16-bit greyscale is scaled to 8 bits by 1/257,
not clipped). A file or array that cannot be used raises :class:`ImageError` with one line
naming it (``FileNotFoundError`` for a missing file); ``tools/predict.py`` is the
command-line front end.

Example:
>>> model = keras_lt.from_pretrained("la-resnet32-cifar10lt-if100")      # doctest: +SKIP
>>> keras_lt.predict(model, ["cat.jpg", "ship.png"], top_k=2)             # doctest: +SKIP
[{'labels': ['cat', 'dog'], 'indices': [3, 5], 'probs': [0.91, 0.05], 'source': 'cat.jpg'}, ...]
"""

import warnings
from pathlib import Path

import numpy as np

from keras_lt.data.decode import decode_image


class ImageError(ValueError):
    """An image that ``predict`` cannot use (undecodable, truncated, empty, wrong
    shape or dtype); the message is one line and names the image."""


def _one_line(exc):
    return " ".join(str(exc).split()) or type(exc).__name__


def _load_image(path):
    from PIL import Image

    try:
        with Image.open(path) as im:
            im.load()
            arr = decode_image(im)
    except FileNotFoundError:
        raise FileNotFoundError(f"image file not found: {path}") from None
    except (IsADirectoryError, PermissionError) as exc:
        raise ImageError(f"cannot read image {path}: {_one_line(exc)}") from None
    except Exception as exc:       # PIL raises OSError, SyntaxError, ValueError... on bad bytes
        raise ImageError(f"cannot decode image {path}: {_one_line(exc)}") from None
    return arr


def _as_images(images):
    """A list of (H, W, 3) uint8 arrays and a parallel list of their sources."""
    if isinstance(images, (str, Path)):
        images = [images]
    if isinstance(images, np.ndarray):
        if images.ndim == 3:
            images = images[None]
        if images.ndim != 4:
            raise ImageError(f"expected an (H, W, 3) image or an (N, H, W, 3) batch, got shape "
                             f"{images.shape}")
        items = list(images)
        sources = [f"array[{i}]" for i in range(len(items))]
    else:
        items, sources = [], []
        for i, im in enumerate(images):
            if isinstance(im, (str, Path)):
                items.append(_load_image(im))
                sources.append(str(im))
            else:
                items.append(np.asarray(im))
                sources.append(f"images[{i}]")
    if not items:
        raise ImageError("no images to predict")
    out = []
    for arr, src in zip(items, sources):
        if arr.ndim != 3 or arr.shape[-1] != 3:
            raise ImageError(f"{src}: expected an RGB image of shape (H, W, 3), got {arr.shape}")
        if arr.dtype != np.uint8:
            raise ImageError(f"{src}: expected uint8 pixels (0-255), got {arr.dtype}")
        if arr.shape[0] == 0 or arr.shape[1] == 0:
            raise ImageError(f"{src}: the image has no pixels ({arr.shape[1]}x{arr.shape[0]})")
        out.append(arr)
    return out, sources


def check_top_k(top_k, num_classes):
    """``top_k`` as an int in ``1..num_classes``: a value below 1 (or not an
    integer) is refused with ``ValueError``; one above ``num_classes`` is clamped
    to ``num_classes`` with a warning."""
    if isinstance(top_k, bool) or not isinstance(top_k, (int, np.integer)):
        raise ValueError(f"top_k must be a positive integer, got {top_k!r}")
    if top_k <= 0:
        raise ValueError(f"top_k must be a positive integer, got {top_k}")
    if top_k > num_classes:
        warnings.warn(f"top_k {top_k} is more than the model's {num_classes} classes; "
                      f"returning all {num_classes}", stacklevel=3)
        return int(num_classes)
    return int(top_k)


def _same_size_runs(arrays, batch_size):
    """``(start, stop)`` of consecutive images of one size, at most ``batch_size`` long."""
    start = 0
    for i in range(1, len(arrays) + 1):
        if i == len(arrays) or arrays[i].shape != arrays[start].shape or i - start == batch_size:
            yield start, i
            start = i


def predict(model, images, top_k=5, batch_size=64):
    """Top-``top_k`` classes of ``images`` (a path, a list of paths, a uint8 (H, W, 3)
    array, an (N, H, W, 3) batch or a list of arrays, any size) for a zoo inference
    model (:func:`keras_lt.from_pretrained`, or ``keras.saving.load_model`` of a zoo
    folder). Returns one dict per image: ``labels`` (class names), ``indices``, ``probs``
    (softmax probabilities, best first) and ``source``.

    ``top_k`` below 1 is refused (``ValueError``); above the number of classes it
    is clamped to it, with a warning. An image that cannot be used (missing file:
    ``FileNotFoundError``; undecodable or truncated bytes, no pixels, wrong shape
    or dtype: :class:`ImageError`, a ``ValueError``) stops the call with a
    one-line message naming it."""
    names = getattr(model, "class_names", None)
    if names is None or not hasattr(model, "preprocessor"):
        raise ValueError("predict needs a zoo inference model (keras_lt.from_pretrained, or "
                         "keras.saving.load_model of a zoo folder): it carries the "
                         "preprocessing and class names")
    top_k = check_top_k(top_k, len(names))
    arrays, sources = _as_images(images)
    results = []
    for start, stop in _same_size_runs(arrays, batch_size):
        logits = np.asarray(model.predict_on_batch(np.stack(arrays[start:stop])), np.float64)
        logits -= logits.max(axis=1, keepdims=True)
        probs = np.exp(logits)
        probs /= probs.sum(axis=1, keepdims=True)
        for row, src in zip(probs, sources[start:stop]):
            idx = np.argsort(-row, kind="stable")[:top_k]
            results.append({"labels": [names[i] for i in idx],
                            "indices": [int(i) for i in idx],
                            "probs": [float(row[i]) for i in idx], "source": src})
    return results
