"""CIFAR ResNets (ResNet-20/32/44/56) as used by LDAM-DRW, BCL and BCCL.

Layout (He et al. 2016, CIFAR variant, "option A" shortcuts), channels-last:

* stem: 3x3 conv 3->16 (stride 1, no bias) -> BatchNormalization -> ReLU;
* three stages of ``n = (depth - 2) / 6`` BasicBlocks with 16, 32 and 64 channels
  (times ``width``), first-block strides 1, 2, 2;
* BasicBlock: conv3x3(stride) -> BN -> ReLU -> conv3x3 -> BN -> (+ shortcut) -> ReLU;
* shortcut "A" (no parameters) only when the shape changes: keep even rows and
  columns (``x[:, ::2, ::2, :]``) and zero-pad ``planes // 4`` channels on *both*
  sides; the identity otherwise;
* global average pooling -> features of size ``64 * width`` (no final linear layer).

Every conv uses *symmetric* zero padding 1 (torch's ``padding=1``; Keras' ``'same'`` pads
(0, 1) at stride 2 and does not reproduce the reference): :class:`~keras_lt.layers.conv.Conv2D`.
BatchNorm uses torch's defaults (``epsilon=1e-5``, ``momentum=0.9`` in Keras' convention =
0.1 in torch's). Convs are initialised like ``torch.nn.init.kaiming_normal_`` (untruncated normal,
fan-in, ReLU gain). The network runs channels-first on torch and channels-last elsewhere
(:func:`~keras_lt.layers.conv.backend_data_format`); the input is channels-last on every backend and
the weights are the same. Layer names mirror the torch module names with dots replaced by
underscores (``conv1``, ``bn1``, ``layer2_0_conv1``, ``layer2_0_bn2``...), which is
what :mod:`keras_lt.hub.convert` relies on.
"""

import keras
from keras import layers, ops

from keras_lt.layers.conv import BatchNormalization, Conv2D, backend_data_format, kaiming_normal

__all__ = ["ShortcutA", "batch_norm", "channels_first_input", "cifar_resnet", "conv3x3",
           "resnet20", "resnet32", "resnet44", "resnet56"]


def batch_norm(name, data_format):
    """BatchNormalization over the channel axis of ``data_format``."""
    return BatchNormalization(axis=1 if data_format == "channels_first" else -1, name=name)


def channels_first_input(inputs, data_format):
    """The channels-last model input in the backbone's layout (one transpose when
    ``data_format`` is channels-first)."""
    if data_format == "channels_first":
        return layers.Permute((3, 1, 2), name="to_channels_first")(inputs)
    return inputs


@keras.saving.register_keras_serializable(package="keras_lt")
class ShortcutA(layers.Layer):
    """Parameter-free "option A" shortcut of the CIFAR ResNets.

    Subsamples with stride 2 (``x[:, ::2, ::2, :]`` channels-last) and zero-pads ``pad``
    channels on both sides of the channel axis, so ``C -> C + 2 * pad``.

    Example:
    >>> y = ShortcutA(pad=8)(np.ones((1, 32, 32, 16), "float32"))
    >>> tuple(y.shape)
    (1, 16, 16, 32)
    """

    def __init__(self, pad, data_format="channels_last", **kwargs):
        super().__init__(**kwargs)
        self.pad = int(pad)
        self.data_format = data_format

    def call(self, x):
        if self.data_format == "channels_first":
            return ops.pad(x[:, :, ::2, ::2], [[0, 0], [self.pad, self.pad], [0, 0], [0, 0]])
        x = x[:, ::2, ::2, :]
        return ops.pad(x, [[0, 0], [0, 0], [0, 0], [self.pad, self.pad]])

    def compute_output_shape(self, input_shape):
        first = self.data_format == "channels_first"
        b, c, h, w = input_shape if first else (input_shape[0], input_shape[3], *input_shape[1:3])
        h = None if h is None else (h + 1) // 2
        w = None if w is None else (w + 1) // 2
        c = None if c is None else c + 2 * self.pad
        return (b, c, h, w) if first else (b, h, w, c)

    def get_config(self):
        return {**super().get_config(), "pad": self.pad, "data_format": self.data_format}


def conv3x3(x, filters, strides, name, data_format):
    """3x3 conv without bias, symmetric padding 1 (torch ``padding=1``)."""
    return Conv2D(filters, 3, strides=strides, pad=1, data_format=data_format,
                  kernel_initializer=kaiming_normal("fan_in"), name=name)(x)


def basic_block(x, in_planes, planes, stride, name, data_format):
    """CIFAR BasicBlock with option-A shortcut; returns the block output."""
    out = conv3x3(x, planes, stride, f"{name}_conv1", data_format)
    out = batch_norm(f"{name}_bn1", data_format)(out)
    out = layers.ReLU(name=f"{name}_relu1")(out)
    out = conv3x3(out, planes, 1, f"{name}_conv2", data_format)
    out = batch_norm(f"{name}_bn2", data_format)(out)
    if stride != 1 or in_planes != planes:
        if stride != 2 or planes - in_planes != 2 * (planes // 4):
            raise ValueError("option-A shortcut supports stride 2 with channels doubling only")
        shortcut = ShortcutA(planes // 4, data_format=data_format, name=f"{name}_shortcut")(x)
    else:
        shortcut = x
    out = layers.Add(name=f"{name}_add")([out, shortcut])
    return layers.ReLU(name=f"{name}_out")(out)


def cifar_resnet(depth=32, input_shape=(32, 32, 3), width=1, name=None, data_format=None):
    """Functional CIFAR ResNet-``depth`` (depth = 6n + 2) returning pooled features.

    Args:
        depth: 20, 32, 44, 56, 110... (``(depth - 2) % 6 == 0``).
        input_shape: (H, W, C) channels-last input shape.
        width: channel multiplier (``width=4`` is the "x4" ResNet-32 of BCCL Table 1).
        name: model name (default ``f"resnet{depth}"``, with ``"x{width}"`` if width != 1).
        data_format: the layout inside the network (default: the backend's,
            :func:`~keras_lt.layers.conv.backend_data_format`); the input is channels-last.

    Returns:
        ``keras.Model`` mapping (B, H, W, C) images to (B, 64 * width) features.

    Example:
    >>> m = cifar_resnet(32)
    >>> m.output_shape
    (None, 64)
    """
    if (depth - 2) % 6 != 0 or depth < 8:
        raise ValueError(f"CIFAR ResNet depth must be 6n + 2, got {depth}")
    width = int(width)
    if width < 1:
        raise ValueError(f"width must be a positive integer, got {width}")
    n = (depth - 2) // 6
    if name is None:
        name = f"resnet{depth}" + ("" if width == 1 else f"x{width}")
    fmt = data_format or backend_data_format()
    inputs = keras.Input(shape=tuple(input_shape), name="images")
    x = conv3x3(channels_first_input(inputs, fmt), 16 * width, 1, "conv1", fmt)
    x = batch_norm("bn1", fmt)(x)
    x = layers.ReLU(name="relu")(x)
    in_planes = 16 * width
    for stage, (planes, stride) in enumerate(((16, 1), (32, 2), (64, 2)), start=1):
        planes *= width
        for i in range(n):
            x = basic_block(x, in_planes, planes, stride if i == 0 else 1,
                            name=f"layer{stage}_{i}", data_format=fmt)
            in_planes = planes
    x = layers.GlobalAveragePooling2D(data_format=fmt, name="avgpool")(x)
    return keras.Model(inputs, x, name=name)


def resnet20(input_shape=(32, 32, 3), width=1, name=None, data_format=None):
    """CIFAR ResNet-20 (3 blocks per stage). See :func:`cifar_resnet`."""
    return cifar_resnet(20, input_shape, width, name, data_format)


def resnet32(input_shape=(32, 32, 3), width=1, name=None, data_format=None):
    """CIFAR ResNet-32 of LDAM/BCL/BCCL (5 blocks per stage, 463,504 parameters at
    ``width=1``, 64-d features; ``width=4`` gives 256-d features). See :func:`cifar_resnet`.

    Example:
    >>> resnet32(width=4).output_shape
    (None, 256)
    """
    return cifar_resnet(32, input_shape, width, name, data_format)


def resnet44(input_shape=(32, 32, 3), width=1, name=None, data_format=None):
    """CIFAR ResNet-44 (7 blocks per stage). See :func:`cifar_resnet`."""
    return cifar_resnet(44, input_shape, width, name, data_format)


def resnet56(input_shape=(32, 32, 3), width=1, name=None, data_format=None):
    """CIFAR ResNet-56 (9 blocks per stage). See :func:`cifar_resnet`."""
    return cifar_resnet(56, input_shape, width, name, data_format)
