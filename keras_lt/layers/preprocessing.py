"""The inference model's own preprocessing, as a layer: raw RGB pixels in, the
backbone's normalised input out."""

import keras
from keras import ops


def crop_fraction_of(eval_view, image_size):
    """The centre-crop fraction of an evaluation view: ``imagenet_eval`` resizes the
    shorter side to ``image_size * 256 / 224`` and crops ``image_size``, i.e. keeps the
    central ``224 / 256`` of the shorter side; ``cifar_eval`` crops nothing (``None``)."""
    if eval_view == "imagenet_eval":
        return 224 / 256
    if eval_view == "cifar_eval":
        return None
    raise ValueError(f"no in-model preprocessing for the evaluation view {eval_view!r}; "
                     f"known: cifar_eval, imagenet_eval")


@keras.saving.register_keras_serializable(package="keras_lt")
class ImagePreprocessor(keras.layers.Layer):
    """Raw images (uint8 or float in 0-255, any height and width) -> normalised float32.

    In order: an optional centre square crop of ``crop_fraction`` of the shorter side
    (the geometry of "resize the shorter side, then centre-crop"), a bilinear resize to
    ``image_size`` when the size differs (antialiased, so downscaling does not alias), then
    ``(x / 255 - mean) / std`` per channel.

    Args:
        image_size: ``(H, W)`` the backbone takes.
        mean, std: per-channel statistics in 0-1 units (the training recipe's).
        crop_fraction: ``None``, or the kept fraction of the shorter side (0, 1].

    Example:
    >>> pre = ImagePreprocessor((32, 32), mean=[0.5] * 3, std=[0.25] * 3)
    >>> pre(np.full((1, 64, 48, 3), 255, "uint8")).shape
    (1, 32, 32, 3)
    """

    def __init__(self, image_size, mean, std, crop_fraction=None, **kwargs):
        super().__init__(**kwargs)
        self.image_size = tuple(int(s) for s in image_size)
        self.mean = [float(m) for m in mean]
        self.std = [float(s) for s in std]
        if len(self.image_size) != 2 or len(self.mean) != 3 or len(self.std) != 3:
            raise ValueError(f"image_size needs 2 values and mean/std 3 each, got "
                             f"{self.image_size}, {self.mean}, {self.std}")
        if min(self.std) <= 0:
            raise ValueError(f"std must be positive, got {self.std}")
        if crop_fraction is not None and not 0 < float(crop_fraction) <= 1:
            raise ValueError(f"crop_fraction must be in (0, 1], got {crop_fraction}")
        self.crop_fraction = None if crop_fraction is None else float(crop_fraction)

    def _crop(self, x):
        shape = ops.shape(x)
        h, w = shape[1], shape[2]
        side = ops.cast(ops.cast(ops.minimum(h, w), "float32") * self.crop_fraction, "int32")
        side = ops.maximum(side, 1)
        top, left = (h - side) // 2, (w - side) // 2
        return x[:, top:top + side, left:left + side, :]

    def call(self, images):
        x = ops.cast(images, "float32")
        if self.crop_fraction is not None:
            x = self._crop(x)
        if tuple(x.shape[1:3]) != self.image_size:      # unknown (None) sizes resize too
            x = ops.image.resize(x, self.image_size, interpolation="bilinear", antialias=True)
        mean = ops.reshape(ops.convert_to_tensor(self.mean, "float32"), (1, 1, 1, 3))
        std = ops.reshape(ops.convert_to_tensor(self.std, "float32"), (1, 1, 1, 3))
        return (x / 255.0 - mean) / std

    def compute_output_shape(self, input_shape):
        return (input_shape[0], *self.image_size, input_shape[-1])

    def get_config(self):
        return {**super().get_config(), "image_size": list(self.image_size), "mean": self.mean,
                "std": self.std, "crop_fraction": self.crop_fraction}
