"""``keras_lt.predict``: top-k labels of images with a model from ``from_pretrained``.

The model's own preprocessing (``model.pretrained.preprocessing``) is applied:
images are resized to the model's input size when needed (CIFAR models) or pass
through the recipe's evaluation view (ImageNet models: resize 256, centre crop 224),
then normalised with the training mean and std.

Example:
>>> model = keras_lt.from_pretrained("la-resnet32-cifar10lt-if100")      # doctest: +SKIP
>>> keras_lt.predict(model, ["cat.jpg", "ship.png"], top_k=2)             # doctest: +SKIP
[{'labels': ['cat', 'dog'], 'indices': [3, 5], 'probs': [0.91, 0.05], 'source': 'cat.jpg'}, ...]
"""

from pathlib import Path

import numpy as np


def _load_image(path):
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            return np.asarray(im.convert("RGB"))
    except FileNotFoundError:
        raise FileNotFoundError(f"image file not found: {path}") from None
    except (UnidentifiedImageError, OSError) as exc:
        raise ValueError(f"cannot decode image {path}: {exc}") from None


def _as_images(images):
    """A list of (H, W, 3) uint8 arrays and a parallel list of their sources."""
    if isinstance(images, (str, Path)):
        images = [images]
    if isinstance(images, np.ndarray):
        if images.ndim == 3:
            images = images[None]
        if images.ndim != 4:
            raise ValueError(f"expected an (H, W, 3) image or an (N, H, W, 3) batch, got shape "
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
    out = []
    for arr, src in zip(items, sources):
        if arr.ndim != 3 or arr.shape[-1] != 3:
            raise ValueError(f"{src}: expected an RGB image of shape (H, W, 3), got {arr.shape}")
        if arr.dtype != np.uint8:
            raise ValueError(f"{src}: expected uint8 pixels (0-255), got {arr.dtype}")
        out.append(arr)
    return out, sources


def preprocess(images, preprocessing):
    """uint8 images (list of (H, W, 3)) -> the model's normalised float32 batch."""
    from PIL import Image

    from keras_lt.data.augment import make_view

    h, w = preprocessing["image_size"]
    view_name = preprocessing.get("eval_view", "cifar_eval")
    view = make_view(view_name, preprocessing["mean"], preprocessing["std"], image_size=h)
    if view_name == "cifar_eval":      # normalisation only: bring every image to the input size
        images = [im if im.shape[:2] == (h, w) else
                  np.asarray(Image.fromarray(im).resize((w, h), Image.BILINEAR)) for im in images]
    rng = np.random.default_rng(0)     # evaluation views are deterministic
    return np.stack([view(im, rng) for im in images]).astype("float32")


def predict(model, images, top_k=5, batch_size=64):
    """Top-``top_k`` classes of ``images`` (a path, a list of paths, a uint8 (H, W, 3)
    array, an (N, H, W, 3) batch or a list of arrays) for a model returned by
    :func:`keras_lt.from_pretrained`. Returns one dict per image: ``labels`` (class
    names), ``indices``, ``probs`` (softmax probabilities, best first) and ``source``."""
    info = getattr(model, "pretrained", None)
    if info is None:
        raise ValueError("predict needs a model from keras_lt.from_pretrained (it carries the "
                         "preprocessing and class names)")
    arrays, sources = _as_images(images)
    top_k = max(1, min(int(top_k), len(info.class_names)))
    results = []
    for start in range(0, len(arrays), batch_size):
        x = preprocess(arrays[start:start + batch_size], info.preprocessing)
        logits = np.asarray(model.predict_on_batch(x), np.float64)
        logits -= logits.max(axis=1, keepdims=True)
        probs = np.exp(logits)
        probs /= probs.sum(axis=1, keepdims=True)
        for row, src in zip(probs, sources[start:start + batch_size]):
            idx = np.argsort(-row, kind="stable")[:top_k]
            results.append({"labels": [info.class_names[i] for i in idx],
                            "indices": [int(i) for i in idx],
                            "probs": [float(row[i]) for i in idx], "source": src})
    return results
