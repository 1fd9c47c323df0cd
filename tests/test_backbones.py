"""Backbones and heads: shapes, parameter counts, layers (runs on every backend)."""

import contextlib

import numpy as np
import pytest
import keras
from keras import ops

from keras_lt.backbones import BACKBONES, backbone_feature_dim, get_backbone
from keras_lt.layers import CosineClassifier, LinearClassifier, ProjectionHead, l2_normalize
from keras_lt.utils.precision import dtype_policy


def n_trainable(model):
    return sum(int(np.prod(w.shape)) for w in model.trainable_weights)


def test_resnet32_param_count_and_features():
    m = get_backbone("resnet32", input_shape=(32, 32, 3))
    assert n_trainable(m) == 463_504
    assert m.output_shape == (None, 64)
    assert backbone_feature_dim("resnet32") == 64
    y = m(np.random.default_rng(0).normal(size=(2, 32, 32, 3)).astype("float32"))
    assert tuple(y.shape) == (2, 64)
    names = {layer.name for layer in m.layers}
    assert {"conv1", "bn1", "layer1_0_conv1", "layer3_4_bn2", "layer2_0_shortcut"} <= names
    # option-A shortcut: no parameters anywhere outside convs/BN
    assert not m.get_layer("layer2_0_shortcut").weights


def test_resnet32_width4_feature_dim():
    m = get_backbone("resnet32", input_shape=(32, 32, 3), width=4)
    assert m.output_shape == (None, 256)
    assert backbone_feature_dim("resnet32", width=4) == 256


# Architecture-only check (same Python graph on every backend). On jax every new
# initializer shape is compiled (~8 s per net on 2 CPU cores), so there it is "slow".
_SLOW_ON_JAX = pytest.mark.slow if keras.backend.backend() == "jax" else ()


@pytest.mark.parametrize("name,expected", [
    pytest.param("resnet50", 23_508_032, marks=_SLOW_ON_JAX),
    pytest.param("resnext50_32x4d", 22_979_904, marks=_SLOW_ON_JAX)])
def test_imagenet_param_counts(name, expected):
    # parameter counts do not depend on the input size: build small to stay fast
    m = get_backbone(name, input_shape=(64, 64, 3))
    assert n_trainable(m) == expected
    assert m.output_shape == (None, 2048)
    assert backbone_feature_dim(name) == 2048


def test_unknown_backbone_lists_names():
    with pytest.raises(ValueError, match="resnet32"):
        get_backbone("resnet33")
    assert {"resnet32", "resnet50", "resnext50_32x4d"} <= set(BACKBONES)


def test_l2_normalize_matches_torch_semantics():
    x = np.array([[3.0, 4.0], [0.0, 0.0], [1e-14, 0.0]], "float32")
    y = ops.convert_to_numpy(l2_normalize(x))
    np.testing.assert_allclose(y, [[0.6, 0.8], [0.0, 0.0], [1e-2, 0.0]], rtol=1e-6, atol=1e-12)


def test_heads_shapes_and_serialization():
    x = np.random.default_rng(1).normal(size=(4, 64)).astype("float32")
    head = ProjectionHead(512, 128)
    z = ops.convert_to_numpy(head(x, training=True))
    assert z.shape == (4, 128)
    np.testing.assert_allclose(np.linalg.norm(z, axis=1), 1.0, rtol=1e-5)
    assert n_trainable(head) == 64 * 512 + 512 + 2 * 512 + 512 * 128 + 128  # 99,968
    bound = 1 / np.sqrt(64)   # torch nn.Linear default init
    k = ops.convert_to_numpy(head.dense_layers[0].kernel)
    assert np.abs(k).max() <= bound and np.abs(k).max() > 0.9 * bound

    cos = CosineClassifier(10, name="classifier")
    cos.build((None, 64))
    logits = ops.convert_to_numpy(cos(x))
    assert logits.shape == (4, 10) and np.abs(logits).max() <= 1 / 0.03 + 1e-3
    np.testing.assert_allclose(np.linalg.norm(ops.convert_to_numpy(cos.kernel), axis=0), 1.0,
                               rtol=1e-5)
    lin = LinearClassifier(10, name="classifier")
    lin.build((None, 64))
    assert tuple(lin(x).shape) == (4, 10)

    for layer in (head, cos, lin):
        clone = layer.__class__.from_config(layer.get_config())
        assert clone.get_config() == layer.get_config()
        assert keras.saving.deserialize_keras_object(
            keras.saving.serialize_keras_object(layer)).get_config() == layer.get_config()


def test_cosine_classifier_built_lazily_inside_a_train_step():
    """Built on first call inside fit's traced step (TensorFlow graph): its initializer
    must not need the global seed generator's state."""
    class Tiny(keras.Model):
        def __init__(self):
            super().__init__()
            self.fc = CosineClassifier(10)

        def call(self, x):
            return self.fc(x)

    model = Tiny()
    model.compile("sgd", "mse")
    loss = model.train_on_batch(np.ones((4, 8), "float32"), np.zeros((4, 10), "float32"))
    assert np.isfinite(loss)


@contextlib.contextmanager
def float64():
    """Layers built inside compute and store float64 (floatx and the dtype policy, both
    restored afterwards)."""
    floatx = keras.config.floatx()
    keras.config.set_floatx("float64")
    try:
        with dtype_policy("float64"):
            yield
    finally:
        keras.config.set_floatx(floatx)


@pytest.mark.skipif(keras.backend.backend() != "torch", reason="the fast path is the torch backend's")
@pytest.mark.parametrize("name,train_tol", [("resnet20", 1e-5), ("resnext50_32x4d", 2e-2)])
def test_torch_fast_path_matches_keras_generic_ops(name, train_tol):
    """The torch fast path (channels-first, one conv2d with the padding folded in, fused
    batch norm) against Keras' generic ops (channels-last) on the same weights, in float64:
    inference outputs agree to 1e-6 and training outputs, every weight's gradient and the
    moving statistics to ``train_tol``. (Keras' generic BatchNormalization is off by ~4e-7
    even in float64, where the fused one matches NumPy to 1e-15 -- see the next test -- and
    50 layers of batch statistics over 8 images amplify that; a wrong padding, layout or
    kernel orientation is off by O(1).)"""
    import torch

    from keras_lt.utils.seed import set_seed

    shape = (32, 32, 3) if name == "resnet20" else (64, 64, 3)
    set_seed(0)          # the same weights every run: the amplification depends on them
    with float64():
        fast = get_backbone(name, input_shape=shape, data_format="channels_first")
        generic = get_backbone(name, input_shape=shape, data_format="channels_last")
    generic.set_weights(fast.get_weights())
    x = np.random.default_rng(0).normal(size=(8, *shape))
    outs, grads = {}, {}
    for tag, model in (("fast", fast), ("generic", generic)):
        inference = ops.convert_to_numpy(model(x, training=False))
        out = model(x, training=True)
        assert out.dtype == torch.float64
        grads[tag] = torch.autograd.grad(out.square().sum(),
                                         [v.value for v in model.trainable_weights])
        outs[tag] = (inference, ops.convert_to_numpy(out))
    np.testing.assert_allclose(outs["fast"][0], outs["generic"][0], rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(outs["fast"][1], outs["generic"][1], rtol=train_tol, atol=train_tol)
    for ga, gb, v in zip(grads["fast"], grads["generic"], fast.trainable_weights):
        assert float((ga - gb).norm() / (gb.norm() + 1e-30)) < train_tol, v.path
    for va, vb in zip(fast.non_trainable_weights, generic.non_trainable_weights):
        np.testing.assert_allclose(ops.convert_to_numpy(va), ops.convert_to_numpy(vb),
                                   rtol=train_tol, atol=train_tol, err_msg=va.path)


def test_fused_batch_norm_statistics_are_exact():
    """The BatchNormalization layer in training mode normalises with the exact batch mean and
    biased variance and updates the moving statistics Keras' way (on every backend; on
    torch this is the fused path)."""
    from keras_lt.layers.conv import BatchNormalization

    with float64():
        bn = BatchNormalization(axis=-1)
        x = np.random.default_rng(1).normal(2.0, 3.0, size=(4, 8, 8, 3))
        y = ops.convert_to_numpy(bn(x, training=True))
    mean, var = x.mean(axis=(0, 1, 2)), x.var(axis=(0, 1, 2))
    np.testing.assert_allclose(y, (x - mean) / np.sqrt(var + 1e-5), atol=2e-6)
    np.testing.assert_allclose(ops.convert_to_numpy(bn.moving_mean), 0.1 * mean, rtol=1e-6)
    np.testing.assert_allclose(ops.convert_to_numpy(bn.moving_variance), 0.9 + 0.1 * var, rtol=1e-6)
