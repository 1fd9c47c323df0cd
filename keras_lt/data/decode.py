"""Decode one image (encoded bytes, a PIL image or an array) into uint8 RGB.

:func:`decode_image` is the one place where source images become the
``(H, W, 3)`` uint8 arrays that the prepared format stores, so that data
preparation and prediction see the same pixels:

* 16-bit images (PIL modes ``I;16``/``I;16B``/``I;16L``, 16-bit PNG grayscale
  opened as ``I``, ``uint16`` arrays) are scaled to 8 bits (``round(v / 257)``),
  so that 0..65535 maps onto 0..255 instead of being clipped at 255;
* grayscale and palette images are expanded to RGB, an alpha channel is dropped;
* ``max_pixels`` refuses an image whose width x height is larger, before its
  pixels are decoded.

No deep-learning framework is imported here.
"""

import io
from typing import Any, Optional

import numpy as np

__all__ = ["decode_image", "ImageDecodeError", "GRAYSCALE_MODES"]

# PIL modes with one intensity channel (plus alpha for "LA" / "La")
GRAYSCALE_MODES = frozenset({"1", "L", "LA", "La", "I", "I;16", "I;16L", "I;16B", "I;16N", "F"})
_SIXTEEN_BIT_MODES = frozenset({"I;16", "I;16L", "I;16B", "I;16N"})


class ImageDecodeError(ValueError):
    """The data is not a usable image (message names the problem, not the file)."""


def _scale_16bit(arr: np.ndarray) -> np.ndarray:
    """0..65535 integers -> 0..255 uint8 by ``round(v / 257)`` (65535 -> 255, 257 -> 1)."""
    return np.rint(arr.astype(np.float64) / 257.0).clip(0, 255).astype(np.uint8)


def _from_pil(im: Any, details: Optional[dict]) -> np.ndarray:
    mode = im.mode
    if details is not None:
        details["mode"] = mode
        details["grayscale"] = mode in GRAYSCALE_MODES
        details["scaled_16bit"] = False
    if mode in _SIXTEEN_BIT_MODES or mode == "I":
        grey = np.asarray(im)
        if grey.ndim != 2:
            raise ImageDecodeError(f"unexpected {mode} image of shape {grey.shape}")
        if mode == "I" and grey.size and (grey.min() < 0 or grey.max() > 65535):
            raise ImageDecodeError(f"32-bit integer image with values {int(grey.min())}.."
                                   f"{int(grey.max())} outside 0..65535")
        if mode in _SIXTEEN_BIT_MODES or (grey.size and grey.max() > 255):
            grey = _scale_16bit(grey)
            if details is not None:
                details["scaled_16bit"] = True
        else:
            grey = grey.astype(np.uint8)
        return np.ascontiguousarray(np.repeat(grey[:, :, None], 3, axis=2))
    if mode == "F":
        raise ImageDecodeError("floating-point (mode F) images have no defined 0..255 range")
    return np.asarray(im.convert("RGB"), dtype=np.uint8)


def _check_size(width: int, height: int, max_pixels: Optional[int]) -> None:
    if width < 1 or height < 1:
        raise ImageDecodeError(f"empty image of size {width}x{height}")
    if max_pixels is not None and width * height > max_pixels:
        raise ImageDecodeError(f"image of {width}x{height} = {width * height} pixels is larger "
                               f"than the limit of {max_pixels} pixels (--max-pixels)")


def decode_image(data: Any, *, max_pixels: Optional[int] = None,
                 details: Optional[dict] = None) -> np.ndarray:
    """``data`` (encoded bytes, a PIL image or an (H, W[, C]) array) -> uint8 (H, W, 3).

    ``max_pixels``: refuse images with more than this many pixels (checked from
    the header, before decoding). ``details``: a dict that receives ``mode`` (the
    PIL mode, or ``"array"``), ``grayscale`` (one intensity channel expanded to
    RGB) and ``scaled_16bit`` (16-bit values scaled to 8 bits). Raises
    :class:`ImageDecodeError` for data that is not a usable image (PIL's own
    errors for undecodable bytes pass through).
    """
    if isinstance(data, (bytes, bytearray, memoryview)):
        from PIL import Image, UnidentifiedImageError

        data = bytes(data)
        try:
            im = Image.open(io.BytesIO(data))
        except UnidentifiedImageError:
            raise ImageDecodeError(f"not an image in a format PIL reads ({len(data)} bytes, "
                                   f"starting {data[:8]!r})") from None
        with im:
            _check_size(im.width, im.height, max_pixels)
            return _from_pil(im, details)
    if hasattr(data, "convert") and hasattr(data, "size") and hasattr(data, "mode"):   # PIL
        _check_size(data.width, data.height, max_pixels)
        return _from_pil(data, details)
    arr = np.asarray(data)
    grey = arr.ndim == 2 or (arr.ndim == 3 and arr.shape[-1] == 1)
    if arr.ndim == 2:
        arr = arr[:, :, None]
    if arr.ndim != 3 or arr.shape[2] not in (1, 3, 4):
        raise ImageDecodeError(f"expected an (H, W[, C]) image array, got shape {arr.shape}")
    _check_size(arr.shape[1], arr.shape[0], max_pixels)
    if arr.shape[2] == 1:
        arr = np.repeat(arr, 3, axis=2)
    elif arr.shape[2] == 4:
        arr = arr[:, :, :3]
    scaled = False
    if arr.dtype == np.uint16:
        arr = _scale_16bit(arr)
        scaled = True
    elif arr.dtype != np.uint8:
        if np.issubdtype(arr.dtype, np.floating) or arr.min() < 0 or arr.max() > 255:
            raise ImageDecodeError(f"image array of dtype {arr.dtype} is not uint8 0..255 "
                                   f"(or uint16 0..65535)")
        arr = arr.astype(np.uint8)
    if details is not None:
        details.update(mode="array", grayscale=grey, scaled_16bit=scaled)
    return np.ascontiguousarray(arr)
