"""ImageNet ResNet-50 and ResNeXt-50 (32x4d) in the torchvision layout (channels-last).

* stem: 7x7/2 conv (64, no bias) -> BN -> ReLU -> 3x3/2 max-pool;
* four stages of Bottleneck blocks, ``[3, 4, 6, 3]``, planes 64/128/256/512, output
  ``4 * planes`` channels; the stride sits on the 3x3 conv ("ResNet v1.5");
* Bottleneck: conv1x1 -> BN -> ReLU -> conv3x3(stride, groups) -> BN -> ReLU ->
  conv1x1 -> BN -> (+ shortcut) -> ReLU, where the shortcut is a projection
  (conv1x1(stride) + BN) when the shape changes and the identity otherwise;
* ResNeXt-50 32x4d: ``groups=32``, inner width ``planes * 4 / 64 * 32``;
* global average pooling -> 2048-d features (no ``fc``).

Torch's symmetric padding is reproduced by :class:`~keras_lt.layers.conv.Conv2D` and an
explicit ``ZeroPadding2D`` before the ``'valid'`` max-pool (zero padding there is equivalent
to torch's ``-inf`` padding because its input is post-ReLU, hence non-negative). The network
runs channels-first on torch and channels-last elsewhere, on the same weights. Convs use
``kaiming_normal_(mode='fan_out', nonlinearity='relu')`` as torchvision does, and
BatchNormalization uses torch defaults (eps 1e-5, momentum 0.1). Layer names mirror torchvision
module names with dots replaced by underscores (``conv1``, ``layer1_0_conv2``,
``layer1_0_downsample_0``, ``layer1_0_downsample_1``...).

Parameter counts without ``fc``: ResNet-50 23,508,032; ResNeXt-50 32x4d 22,979,904.
"""

import keras
from keras import layers

from keras_lt.backbones.resnet_cifar import batch_norm, channels_first_input
from keras_lt.layers.conv import Conv2D, backend_data_format, kaiming_normal


def _conv(x, filters, kernel_size, strides, name, data_format, groups=1):
    return Conv2D(filters, kernel_size, strides=strides, pad=(kernel_size - 1) // 2,
                  groups=groups, data_format=data_format,
                  kernel_initializer=kaiming_normal("fan_out"), name=name)(x)


def bottleneck(x, in_channels, planes, stride, groups, base_width, name, data_format):
    """torchvision Bottleneck (expansion 4, stride on the 3x3 conv)."""
    fmt = data_format
    width = int(planes * (base_width / 64.0)) * groups
    out_channels = planes * 4
    out = _conv(x, width, 1, 1, f"{name}_conv1", fmt)
    out = batch_norm(f"{name}_bn1", fmt)(out)
    out = layers.ReLU(name=f"{name}_relu1")(out)
    out = _conv(out, width, 3, stride, f"{name}_conv2", fmt, groups=groups)
    out = batch_norm(f"{name}_bn2", fmt)(out)
    out = layers.ReLU(name=f"{name}_relu2")(out)
    out = _conv(out, out_channels, 1, 1, f"{name}_conv3", fmt)
    out = batch_norm(f"{name}_bn3", fmt)(out)
    if stride != 1 or in_channels != out_channels:
        shortcut = _conv(x, out_channels, 1, stride, f"{name}_downsample_0", fmt)
        shortcut = batch_norm(f"{name}_downsample_1", fmt)(shortcut)
    else:
        shortcut = x
    out = layers.Add(name=f"{name}_add")([out, shortcut])
    return layers.ReLU(name=f"{name}_out")(out)


def imagenet_resnet(blocks=(3, 4, 6, 3), groups=1, base_width=64,
                    input_shape=(224, 224, 3), name="resnet", data_format=None):
    """Functional torchvision-style bottleneck ResNet without ``fc``.

    Returns a ``keras.Model`` mapping (B, H, W, 3) to (B, 2048) pooled features;
    ``data_format``: the layout inside (default: the backend's).
    """
    fmt = data_format or backend_data_format()
    inputs = keras.Input(shape=tuple(input_shape), name="images")
    x = _conv(channels_first_input(inputs, fmt), 64, 7, 2, "conv1", fmt)
    x = batch_norm("bn1", fmt)(x)
    x = layers.ReLU(name="relu")(x)
    x = layers.ZeroPadding2D(1, data_format=fmt, name="maxpool_pad")(x)
    x = layers.MaxPooling2D(3, strides=2, padding="valid", data_format=fmt, name="maxpool")(x)
    in_channels = 64
    for stage, (planes, n) in enumerate(zip((64, 128, 256, 512), blocks), start=1):
        for i in range(n):
            stride = 2 if (i == 0 and stage > 1) else 1
            x = bottleneck(x, in_channels, planes, stride, groups, base_width,
                           name=f"layer{stage}_{i}", data_format=fmt)
            in_channels = planes * 4
    x = layers.GlobalAveragePooling2D(data_format=fmt, name="avgpool")(x)
    return keras.Model(inputs, x, name=name)


def resnet50(input_shape=(224, 224, 3), name="resnet50", data_format=None):
    """ResNet-50 (torchvision v1.5 layout) without ``fc``: 2048-d features,
    23,508,032 parameters.

    Example:
    >>> resnet50(input_shape=(64, 64, 3)).output_shape
    (None, 2048)
    """
    return imagenet_resnet((3, 4, 6, 3), 1, 64, input_shape, name, data_format)


def resnext50_32x4d(input_shape=(224, 224, 3), name="resnext50_32x4d", data_format=None):
    """ResNeXt-50 32x4d (torchvision layout) without ``fc``: 2048-d features,
    22,979,904 parameters.

    Example:
    >>> resnext50_32x4d(input_shape=(64, 64, 3)).output_shape
    (None, 2048)
    """
    return imagenet_resnet((3, 4, 6, 3), 32, 4, input_shape, name, data_format)
