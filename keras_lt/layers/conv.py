"""The convolution and batch-normalisation layers of the backbones, with the torch fast path.

The same Keras layers (same variables, same names, same checkpoints) run on every backend;
only how they compute differs where a backend forces it:

* **layout**: on torch the backbones run channels-first (NCHW, torch's own layout), so no
  layer converts NHWC <-> NCHW; elsewhere channels-last (TensorFlow's CPU convolutions
  have no NCHW kernel). :func:`backend_data_format` decides; the input stays NHWC and is
  transposed once at the stem. Kernels keep Keras' ``(kh, kw, in, out)`` layout on every
  backend, so weights load anywhere.
* :class:`Conv2D`: a ``Conv2D`` with torch's symmetric ``padding=p`` folded into the
  convolution on torch (one ``conv2d`` call); ``ops.pad`` + a ``'valid'`` convolution
  elsewhere. (Keras' ``'same'`` pads (0, 1) at stride 2, which is not the reference models'.)
* :class:`BatchNormalization`: Keras' ``BatchNormalization`` with torch's defaults (eps 1e-5,
  torch momentum 0.1 = Keras 0.9); on torch one fused ``native_batch_norm`` call (forward and
  backward) instead of Keras' moments / multiply / add ops, with the moving statistics
  updated exactly as Keras does (the biased batch variance), so checkpoints are the same.

The torch calls live in :mod:`keras_lt.layers.torch_path`, imported only on torch.

The classes keep Keras' names (``Conv2D``, ``BatchNormalization``) on purpose: Keras keys a
``.weights.h5`` checkpoint by each layer's class name (``conv2d_3``, ``batch_normalization_7``),
so checkpoints written by the generic layers load into these and back.

Example:
>>> conv = Conv2D(16, 3, strides=2, pad=1, data_format="channels_last")
>>> tuple(conv.compute_output_shape((None, 32, 32, 3)))
(None, 16, 16, 16)
"""

import os

import keras
from keras import layers, ops

__all__ = ["BN_EPSILON", "BN_MOMENTUM", "BatchNormalization", "Conv2D", "backend_data_format",
           "kaiming_normal"]

BN_EPSILON = 1e-5
BN_MOMENTUM = 0.9

#: ``KERAS_LT_TORCH_FAST_PATH=0`` turns the torch fast path off (Keras' generic ops,
#: channels-last), for benchmarks and debugging; results are the same either way
if keras.backend.backend() == "torch" and os.environ.get("KERAS_LT_TORCH_FAST_PATH", "1") != "0":
    from keras_lt.layers import torch_path
else:
    torch_path = None


def backend_data_format():
    """The layout the backbones run in: ``"channels_first"`` on the torch backend,
    ``"channels_last"`` elsewhere."""
    return "channels_first" if torch_path is not None else "channels_last"


def kaiming_normal(mode="fan_in"):
    """``torch.nn.init.kaiming_normal_(w, mode=mode, nonlinearity='relu')``:
    untruncated normal with std ``sqrt(2 / fan)`` (Keras' ``HeNormal`` is truncated)."""
    return keras.initializers.VarianceScaling(
        scale=2.0, mode=mode, distribution="untruncated_normal")


@keras.saving.register_keras_serializable(package="keras_lt")
class Conv2D(layers.Conv2D):
    """``Conv2D`` with symmetric zero padding ``pad`` on both spatial sides (torch's
    ``nn.Conv2d(padding=pad)``), no bias by default. See the module doc."""

    def __init__(self, filters, kernel_size, strides=1, pad=0, use_bias=False, **kwargs):
        kwargs.pop("padding", None)
        super().__init__(filters, kernel_size, strides=strides, padding="valid",
                         use_bias=use_bias, **kwargs)
        self.pad = int(pad)

    def _padded_shape(self, input_shape):
        shape = list(input_shape)
        spatial = (2, 3) if self.data_format == "channels_first" else (1, 2)
        for axis in spatial:
            if shape[axis] is not None:
                shape[axis] += 2 * self.pad
        return tuple(shape)

    def build(self, input_shape):
        super().build(self._padded_shape(input_shape))

    def compute_output_shape(self, input_shape):
        return super().compute_output_shape(self._padded_shape(input_shape))

    def call(self, inputs):
        if torch_path is not None and self.data_format == "channels_first":
            return torch_path.conv2d(self, inputs)
        if self.pad:
            p = [self.pad, self.pad]
            pads = ([[0, 0], [0, 0], p, p] if self.data_format == "channels_first"
                    else [[0, 0], p, p, [0, 0]])
            inputs = ops.pad(inputs, pads)
        return super().call(inputs)

    def get_config(self):
        config = super().get_config()
        config.pop("padding", None)
        return {**config, "pad": self.pad}


@keras.saving.register_keras_serializable(package="keras_lt")
class BatchNormalization(layers.BatchNormalization):
    """``BatchNormalization`` with torch's defaults and the fused torch path (module doc)."""

    def __init__(self, axis=-1, momentum=BN_MOMENTUM, epsilon=BN_EPSILON, **kwargs):
        super().__init__(axis=axis, momentum=momentum, epsilon=epsilon, **kwargs)

    def call(self, inputs, training=None, mask=None):
        if torch_path is not None and torch_path.can_fuse_batch_norm(self, inputs, mask):
            return torch_path.batch_norm(self, inputs, training=bool(training) and self.trainable)
        return super().call(inputs, training=training, mask=mask)
