"""The torch calls behind :class:`~keras_lt.layers.conv.Conv2D` and
:class:`~keras_lt.layers.conv.BatchNormalization` (imported on the torch backend only).

Keras' generic torch ops run a channels-last convolution as a layout copy, an explicit
pad and the convolution, and BatchNormalization as separate moments / multiply / add
ops, each with its own backward; here each is one fused torch call on channels-first
tensors. The variables are the layers' own Keras variables, in Keras' layouts.
"""

import torch
import torch.nn.functional as F
from keras import ops


def conv2d(layer, x):
    """``layer`` (a channels-first Conv2D) on NCHW ``x`` as one ``F.conv2d``."""
    kernel = ops.convert_to_tensor(layer.kernel).permute(3, 2, 0, 1)   # -> (out, in/g, kh, kw)
    bias = ops.convert_to_tensor(layer.bias) if layer.use_bias else None
    out = F.conv2d(x, kernel, bias, stride=layer.strides, padding=layer.pad,
                   dilation=layer.dilation_rate, groups=layer.groups)
    if layer.activation is not None and layer.activation.__name__ != "linear":
        out = layer.activation(out)
    return out


def can_fuse_batch_norm(layer, x, mask):
    """The fused path covers float32 / float64 NCHW / NC inputs normalised over the channel
    axis 1, without mask or renorm (everything the backbones and heads use; 16-bit inputs
    take Keras' path, which normalises them in float32)."""
    axis = layer.axis[0] if isinstance(layer.axis, (list, tuple)) else layer.axis
    ndim = x.ndim
    return (mask is None and not layer.renorm and not layer.synchronized
            and x.dtype in (torch.float32, torch.float64) and layer.scale and layer.center
            and (axis == 1 or (ndim == 2 and axis in (-1, 1))))


def batch_norm(layer, x, training):
    """``layer`` on ``x`` (channels on axis 1): batch statistics and a Keras moving-average
    update of the biased batch variance in training, moving statistics otherwise."""
    gamma = ops.convert_to_tensor(layer.gamma)
    beta = ops.convert_to_tensor(layer.beta)
    if not training:
        return F.batch_norm(x, ops.convert_to_tensor(layer.moving_mean),
                            ops.convert_to_tensor(layer.moving_variance), gamma, beta,
                            training=False, momentum=0.0, eps=layer.epsilon)
    out, mean, invstd = torch.native_batch_norm(x, gamma, beta, None, None, True, 0.0,
                                                layer.epsilon)
    with torch.no_grad():
        var = invstd.reciprocal().square() - layer.epsilon          # biased batch variance
        m = layer.momentum
        layer.moving_mean.assign(ops.convert_to_tensor(layer.moving_mean) * m + mean * (1.0 - m))
        layer.moving_variance.assign(
            ops.convert_to_tensor(layer.moving_variance) * m + var * (1.0 - m))
    return out
