"""Torch -> Keras conversion against the BCCL ResNet-32 oracle (tests/fixtures/bccl_resnet32.npz,
made with the official BCCL code in float64; see /work/shared/oracles/README.md section 5)."""

from pathlib import Path

import numpy as np
import pytest
import keras
from keras import ops

from keras_lt.hub.convert import (
    ConversionError, build_models, convert_state_dict, infer_config,
    load_state_dict)
from keras_lt.layers.conv import backend_data_format

FIXTURE = Path(__file__).resolve().parent / "fixtures" / "bccl_resnet32.npz"
ROOT = Path(__file__).resolve().parents[1]
TOL = 1e-4


def rel_err(a, b):
    a = np.asarray(ops.convert_to_numpy(a), np.float64)
    return float(np.abs(a - b).max() / np.abs(b).max())


def check(actual, expected, atol=1e-4):
    assert rel_err(actual, expected) < TOL
    np.testing.assert_allclose(np.asarray(ops.convert_to_numpy(actual), np.float64), expected,
                               rtol=1e-4, atol=atol)


@pytest.fixture(scope="module")
def oracle():
    with np.load(FIXTURE, allow_pickle=False) as z:
        return {k: z[k] for k in z.files}


@pytest.fixture(scope="module")
def state_dict():
    return load_state_dict(FIXTURE)


@pytest.fixture(scope="module")
def config(state_dict, oracle):
    return infer_config(state_dict, scale=1.0 / float(oracle["classifier_scale_s"]))


@pytest.fixture(scope="module")
def converted(state_dict, config):
    backbone, head, classifier, _ = build_models(config)
    report = convert_state_dict(state_dict, backbone, head, classifier)
    return backbone, head, classifier, report


def test_infer_config(config, oracle):
    assert config["arch"] == "resnet32" and config["width"] == 1
    assert config["num_classes"] == int(oracle["num_classes"]) == 10
    assert config["feat_dim"] == int(oracle["feat_dim"]) == 128
    assert config["head_hidden"] == 512 and config["classifier"] == "cosine"
    assert config["classifier_scale"] == pytest.approx(1 / 0.03)


def test_report(converted, oracle):
    report = converted[3]
    assert len(report.assigned) == 196 - 32          # everything but num_batches_tracked
    assert all(k.endswith("num_batches_tracked") for k in report.ignored)
    assert "(in, out)" in report.classifier_layout


def test_eval_parity(converted, oracle):
    backbone, head, classifier, _ = converted
    x = oracle["x_nhwc"]
    feat = backbone(x, training=False)
    check(feat, oracle["eval/backbone_features_f64"])
    check(head.project(feat), oracle["eval/head_raw_f64"])
    check(head(feat), oracle["eval/feat_mlp_f64"], atol=1e-5)
    check(classifier(feat), oracle["eval/logits_f64"], atol=1e-3)   # |logits| <= 33.3


def test_intermediate_activations(converted, oracle):
    backbone = converted[0]
    names = {"stem": "relu", "layer1": "layer1_4_out", "layer2_0": "layer2_0_out",
             "layer2": "layer2_4_out", "layer3_0": "layer3_0_out", "layer3": "layer3_4_out"}
    sub = keras.Model(backbone.input, [backbone.get_layer(n).output for n in names.values()])
    first = backend_data_format() == "channels_first"        # the backbone's inner layout
    for key, act in zip(names, sub(oracle["x_nhwc"][:1])):
        act = ops.convert_to_numpy(act)[0]
        nchw = act if first else np.transpose(act, (2, 0, 1))
        assert rel_err(nchw, oracle[f"eval/act_sample0/{key}"]) < TOL, key


def test_train_mode_parity(state_dict, config, oracle):
    """BatchNorm in training mode normalises with the biased batch variance, as torch."""
    backbone, head, classifier, _ = build_models(config)
    convert_state_dict(state_dict, backbone, head, classifier)
    feat = backbone(oracle["x_nhwc"], training=True)
    check(feat, oracle["train/backbone_features_f64"])
    check(head(feat, training=True), oracle["train/feat_mlp_f64"], atol=1e-5)
    check(classifier(feat), oracle["train/logits_f64"], atol=1e-3)
    # running mean update matches torch (momentum 0.1); keras updates the running
    # variance with the biased batch variance (torch: unbiased), so only mean is exact
    check(backbone.get_layer("bn1").moving_mean,
          oracle["train/updated_encoder_bn1_running_mean_f64"], atol=1e-6)


def test_missing_key_and_bad_shape_raise(state_dict, config):
    backbone, head, classifier, _ = build_models(config)
    bad = dict(state_dict)
    del bad["encoder.layer2.0.bn1.running_var"]
    bad["head.3.weight"] = np.zeros((128, 500), "float32")
    bad["encoder.extra.weight"] = np.zeros((3,), "float32")
    with pytest.raises(ConversionError) as info:
        convert_state_dict(bad, backbone, head, classifier)
    msg = str(info.value)
    assert "encoder.layer2.0.bn1.running_var" in msg
    assert "head.3.weight" in msg and "(128, 500)" in msg
    assert "encoder.extra.weight" in msg
    # nothing was assigned: conv1 still holds its random init
    assert not np.allclose(ops.convert_to_numpy(backbone.get_layer("conv1").kernel),
                           np.transpose(state_dict["encoder.conv1.weight"], (2, 3, 1, 0)))


def test_linear_classifier_layout(state_dict):
    """BCL without use_norm: fc is an nn.Linear stored (out, in) with a bias."""
    from keras_lt.layers import CosineClassifier, LinearClassifier
    from keras_lt.hub.convert import classifier_targets

    rng = np.random.default_rng(0)
    sd = {"fc.weight": rng.normal(size=(10, 64)).astype("float32"),
          "fc.bias": rng.normal(size=(10,)).astype("float32")}
    lin = LinearClassifier(10, name="classifier")
    lin.build((None, 64))
    targets, _ = classifier_targets(lin, sd)
    for key, var, transform in targets:
        var.assign(transform(sd[key]))
    x = rng.normal(size=(2, 64)).astype("float32")
    np.testing.assert_allclose(ops.convert_to_numpy(lin(x)), x @ sd["fc.weight"].T + sd["fc.bias"],
                               rtol=1e-5, atol=1e-5)
    cos = CosineClassifier(10, name="classifier")
    cos.build((None, 64))
    with pytest.raises(ConversionError, match="fc.bias"):
        classifier_targets(cos, sd)


def test_load_state_dict_formats(tmp_path, state_dict):
    """.safetensors and torch .pth (state_dict wrapper + DataParallel ``module.`` prefix)."""
    from safetensors.numpy import save_file

    small = {k: v for k, v in state_dict.items() if k.startswith("head.")}
    save_file({k: np.ascontiguousarray(v) for k, v in small.items()}, str(tmp_path / "s.safetensors"))
    got = load_state_dict(tmp_path / "s.safetensors")
    # (safetensors' numpy reader returns 0-d tensors such as num_batches_tracked as (1,))
    assert set(got) == set(small)
    assert all(np.array_equal(got[k].reshape(small[k].shape), small[k]) for k in small)

    torch = pytest.importorskip("torch")
    wrapped = {"epoch": 3, "state_dict": {f"module.{k}": torch.from_numpy(np.array(v))
                                          for k, v in small.items()}}
    torch.save(wrapped, str(tmp_path / "ckpt.pth.tar"))
    got = load_state_dict(tmp_path / "ckpt.pth.tar")
    assert set(got) == set(small) and all(np.array_equal(got[k], small[k]) for k in small)
    with pytest.raises(ConversionError, match="unsupported"):
        load_state_dict(tmp_path / "weights.bin")


def _torch_bottleneck_features(sd, x_nhwc, groups, blocks=(3, 4, 6, 3)):
    """Pooled features of a torchvision-layout bottleneck ResNet (the BCCL/BCL ImageNet
    encoder: stride on the 3x3 conv, ``downsample.{0,1}`` projection shortcuts), computed
    with torch's own conv/BN/pool ops straight from a state dict, in eval mode."""
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    t = {k: torch.from_numpy(np.asarray(v)) for k, v in sd.items()}

    def bn(h, p):
        return F.batch_norm(h, t[f"{p}.running_mean"], t[f"{p}.running_var"], t[f"{p}.weight"],
                            t[f"{p}.bias"], training=False, eps=1e-5)

    def conv(h, p, stride=1, padding=0, g=1):
        return F.conv2d(h, t[f"{p}.weight"], stride=stride, padding=padding, groups=g)

    h = torch.from_numpy(np.ascontiguousarray(np.transpose(x_nhwc, (0, 3, 1, 2))))
    h = F.max_pool2d(F.relu(bn(conv(h, "encoder.conv1", 2, 3), "encoder.bn1")), 3, 2, 1)
    for stage, n in enumerate(blocks, start=1):
        for i in range(n):
            p, stride = f"encoder.layer{stage}.{i}", (2 if i == 0 and stage > 1 else 1)
            out = F.relu(bn(conv(h, f"{p}.conv1"), f"{p}.bn1"))
            out = F.relu(bn(conv(out, f"{p}.conv2", stride, 1, groups), f"{p}.bn2"))
            out = bn(conv(out, f"{p}.conv3"), f"{p}.bn3")
            short = h
            if f"{p}.downsample.0.weight" in t:
                short = bn(conv(h, f"{p}.downsample.0", stride), f"{p}.downsample.1")
            h = F.relu(out + short)
    return h.mean(dim=(2, 3)).numpy()


_SLOW_ON_JAX = pytest.mark.slow if keras.backend.backend() == "jax" else ()


@pytest.mark.parametrize("arch,groups", [pytest.param("resnet50", 1, marks=_SLOW_ON_JAX),
                                         pytest.param("resnext50_32x4d", 32, marks=_SLOW_ON_JAX)])
def test_imagenet_encoders_match_torch_ops_both_ways(arch, groups):
    """ResNet-50 / ResNeXt-50 releases: a state dict in the torch layout gives the same
    features in Keras as torch's conv2d/batch_norm/max_pool2d compute from it (padding,
    stride placement, grouped-conv kernel layout, shortcut names), and exporting back
    with to_torch_state_dict is exact."""
    from keras_lt.backbones import get_backbone
    from keras_lt.hub.convert import backbone_targets, to_torch_state_dict

    rng = np.random.default_rng(1)
    source = get_backbone(arch, input_shape=(64, 64, 3))
    for layer in source.layers:                    # non-trivial BN statistics
        if isinstance(layer, keras.layers.BatchNormalization):
            c = layer.gamma.shape[0]
            layer.gamma.assign(rng.uniform(0.5, 1.0, c).astype("float32"))
            layer.beta.assign(rng.normal(0, 0.1, c).astype("float32"))
            layer.moving_mean.assign(rng.normal(0, 0.1, c).astype("float32"))
            layer.moving_variance.assign(rng.uniform(0.5, 2.0, c).astype("float32"))
    sd = to_torch_state_dict(source)
    assert len(sd) == len(backbone_targets(source)) + sum(k.endswith("running_var") for k in sd)
    x = rng.normal(size=(2, 64, 64, 3)).astype("float32")
    expected = _torch_bottleneck_features(sd, x, groups).astype(np.float64)
    target = get_backbone(arch, input_shape=(64, 64, 3))
    convert_state_dict(sd, target)
    for model in (source, target):
        check(model(x, training=False), expected, atol=1e-4 * np.abs(expected).max())
    back = to_torch_state_dict(target)
    assert all(np.array_equal(back[k], sd[k]) for k in sd)
