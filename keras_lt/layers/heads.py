"""Projection heads and classifiers of the long-tailed contrastive methods (BCL, BCCL).

Initialisation follows PyTorch so that freshly built models train like the
reference code:

* ``torch.nn.Linear`` default init (``kaiming_uniform_(a=sqrt(5))``) draws the weight
  from ``U(-1/sqrt(fan_in), 1/sqrt(fan_in))`` and the bias from the same interval;
  :func:`torch_linear_initializers` returns that pair.
* BatchNormalization uses torch defaults (``epsilon=1e-5``, Keras ``momentum=0.9`` = torch 0.1).
"""

import math

import keras
from keras import layers, ops

from keras_lt.layers.conv import BatchNormalization


def l2_normalize(x, axis=-1, epsilon=1e-12):
    """``x / max(||x||_2, epsilon)`` along ``axis``, like ``torch.nn.functional.normalize``.

    Written as ``x / sqrt(max(sum(x^2), epsilon^2))`` (same value) so the gradient
    stays finite for all-zero rows.

    Example:
    >>> l2_normalize(np.array([[3.0, 4.0]]))  # -> [[0.6, 0.8]]
    """
    x = ops.convert_to_tensor(x)
    sq = ops.sum(ops.square(x), axis=axis, keepdims=True)
    return x / ops.sqrt(ops.maximum(sq, epsilon * epsilon))


def torch_linear_initializers(fan_in, seed=None):
    """(kernel, bias) initializers equal to ``torch.nn.Linear``'s default:
    both ``U(-1/sqrt(fan_in), 1/sqrt(fan_in))``."""
    bound = 1.0 / math.sqrt(fan_in) if fan_in > 0 else 0.0
    bias_seed = None if seed is None else seed + 1
    return (keras.initializers.RandomUniform(-bound, bound, seed=seed),
            keras.initializers.RandomUniform(-bound, bound, seed=bias_seed))


def _torch_dense(units, fan_in, name):
    kinit, binit = torch_linear_initializers(fan_in)
    return layers.Dense(units, use_bias=True, kernel_initializer=kinit,
                        bias_initializer=binit, name=name)


@keras.saving.register_keras_serializable(package="keras_lt")
class UnitColumnUniform(keras.initializers.Initializer):
    """``U(-1, 1)`` then every column (last axis = output unit) rescaled to unit L2
    norm; the init of BCCL's ``NormedLinear``
    (``uniform_(-1, 1).renorm_(2, 1, 1e-5).mul_(1e5)``) for (in, out) weights."""

    def __init__(self, seed=None):
        # An int seed drawn now (from Python's generator, which keras.utils.set_random_seed
        # seeds), as Keras' own initializers do: a None seed would use the global seed
        # generator, which has no state inside a traced TensorFlow function.
        if seed is None:
            import random

            seed = random.randint(1, 2**31 - 1)
        self.seed = seed

    def __call__(self, shape, dtype=None):
        w = keras.random.uniform(shape, -1.0, 1.0, dtype=dtype, seed=self.seed)
        return l2_normalize(w, axis=0)

    def get_config(self):
        return {"seed": self.seed}


@keras.saving.register_keras_serializable(package="keras_lt")
class ProjectionHead(layers.Layer):
    """MLP projection head: ``[Dense -> BatchNormalization -> ReLU] * (num_layers - 1) -> Dense``,
    then L2 normalisation (``normalize=True``).

    This is the ``head`` of BCL/BCCL: CIFAR ``64 -> 512 -> 128``
    (``ProjectionHead(512, 128)``), ImageNet ``d -> d -> feat_dim``. The Dense layers
    have biases and torch's default ``nn.Linear`` init
    (weights and biases ``U(-1/sqrt(fan_in), 1/sqrt(fan_in))``); BatchNormalization uses
    ``epsilon=1e-5, momentum=0.9`` (torch defaults). Sublayers are ``dense_0``, ``bn_0``,
    ``dense_1``... (torch ``head.0``, ``head.1``, ``head.3``...).

    Args:
        hidden_dim: width of the hidden layers.
        output_dim: projection size.
        num_layers: number of Dense layers (>= 1); 2 in BCL/BCCL.
        normalize: L2-normalise the output (``F.normalize``, eps 1e-12).

    Example:
    >>> head = ProjectionHead(512, 128)
    >>> z = head(np.random.rand(4, 64).astype("float32"))
    >>> tuple(z.shape)
    (4, 128)
    """

    def __init__(self, hidden_dim, output_dim, num_layers=2, normalize=True, **kwargs):
        super().__init__(**kwargs)
        self.hidden_dim = int(hidden_dim)
        self.output_dim = int(output_dim)
        self.num_layers = int(num_layers)
        self.normalize = bool(normalize)
        if self.num_layers < 1:
            raise ValueError(f"num_layers must be >= 1, got {num_layers}")
        self.dense_layers = []
        self.bn_layers = []

    def build(self, input_shape):
        fan_in = int(input_shape[-1])
        self.dense_layers = []
        self.bn_layers = []
        for i in range(self.num_layers):
            units = self.output_dim if i == self.num_layers - 1 else self.hidden_dim
            dense = _torch_dense(units, fan_in, name=f"dense_{i}")
            dense.build((None, fan_in))
            self.dense_layers.append(dense)
            if i < self.num_layers - 1:
                bn = BatchNormalization(name=f"bn_{i}")
                bn.build((None, units))
                self.bn_layers.append(bn)
            fan_in = units
        self.built = True

    def project(self, x, training=False):
        """Head output *before* L2 normalisation (``model.head(feat)`` in torch)."""
        for i, dense in enumerate(self.dense_layers):
            x = dense(x)
            if i < self.num_layers - 1:
                x = self.bn_layers[i](x, training=training)
                x = ops.relu(x)
        return x

    def call(self, x, training=False):
        x = self.project(x, training=training)
        return l2_normalize(x, axis=-1) if self.normalize else x

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (self.output_dim,)

    def get_config(self):
        return {**super().get_config(), "hidden_dim": self.hidden_dim,
                "output_dim": self.output_dim, "num_layers": self.num_layers,
                "normalize": self.normalize}


@keras.saving.register_keras_serializable(package="keras_lt")
class CosineClassifier(layers.Layer):
    """Cosine (normalised-weight) classifier without bias:
    ``logits = scale * normalize(x, axis=-1) @ normalize(W, axis=0)``, ``W`` of shape
    (in, num_classes).

    BCCL's ``NormedLinear`` divides by 0.03, i.e. ``scale = 1 / 0.03 ~= 33.3`` (the
    default here); BCL uses ``scale = 30``. ``W`` is initialised ``U(-1, 1)`` with unit
    columns (:class:`UnitColumnUniform`), like ``NormedLinear``; only its direction matters.

    Example:
    >>> clf = CosineClassifier(10, name="classifier")
    >>> clf.build((None, 64))
    >>> tuple(clf(np.random.rand(2, 64).astype("float32")).shape)
    (2, 10)
    """

    def __init__(self, num_classes, scale=1.0 / 0.03, **kwargs):
        super().__init__(**kwargs)
        self.num_classes = int(num_classes)
        self.scale = float(scale)

    def build(self, input_shape):
        self.kernel = self.add_weight(
            shape=(int(input_shape[-1]), self.num_classes), initializer=UnitColumnUniform(),
            name="kernel")
        self.built = True

    def call(self, x):
        x = l2_normalize(x, axis=-1)
        w = l2_normalize(ops.cast(self.kernel, x.dtype), axis=0)
        return self.scale * ops.matmul(x, w)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (self.num_classes,)

    def get_config(self):
        return {**super().get_config(), "num_classes": self.num_classes, "scale": self.scale}


@keras.saving.register_keras_serializable(package="keras_lt")
class LinearClassifier(layers.Layer):
    """Plain linear classifier ``x @ W + b`` with torch's default ``nn.Linear`` init
    (``U(-1/sqrt(fan_in), 1/sqrt(fan_in))`` for weight and bias). ``W`` is (in, num_classes).

    Example:
    >>> clf = LinearClassifier(10, name="classifier")
    >>> clf.build((None, 64))
    >>> tuple(clf(np.random.rand(2, 64).astype("float32")).shape)
    (2, 10)
    """

    def __init__(self, num_classes, **kwargs):
        super().__init__(**kwargs)
        self.num_classes = int(num_classes)

    def build(self, input_shape):
        fan_in = int(input_shape[-1])
        kinit, binit = torch_linear_initializers(fan_in)
        self.kernel = self.add_weight(shape=(fan_in, self.num_classes),
                                      initializer=kinit, name="kernel")
        self.bias = self.add_weight(shape=(self.num_classes,), initializer=binit, name="bias")
        self.built = True

    def call(self, x):
        return ops.matmul(x, ops.cast(self.kernel, x.dtype)) + ops.cast(self.bias, x.dtype)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (self.num_classes,)

    def get_config(self):
        return {**super().get_config(), "num_classes": self.num_classes}
