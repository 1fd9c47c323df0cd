"""Official releases -> zoo folders (keras_lt.hub.official, tools/convert_torch.py --recipe).

The BCCL ResNet-32 oracle state dict (tests/fixtures/bccl_resnet32.npz, written by the
official BCCL code; see /work/shared/oracles/README.md section 5) stands in for a
release: converted into a pretrained folder, ``from_pretrained`` must reproduce the
reference code's logits and projected features on every backend."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import keras
from keras import ops
from PIL import Image

from conftest import ROOT
from keras_lt.hub.convert import ConversionError, load_state_dict, to_torch_state_dict
from keras_lt.hub.official import (CIFAR10_CLASSES, CIFAR100_CLASSES, class_info, convert_official,
                                   file_sha256, load_recipe)
from keras_lt.hub.pretrained import from_pretrained
from keras_lt.hub.publish import parse_card
from keras_lt.hub.registry import UnknownModelError

FIXTURES = ROOT / "tests" / "fixtures"
FIXTURE = FIXTURES / "bccl_resnet32.npz"
RECIPE = "bccl-resnet32-cifar10lt-if100"
BCCL_CODE = "GGTINE/Balanced-Clustering-Contrastive-Learning-for-Long-Tailed-Data-Recognition"


@pytest.fixture(scope="module")
def oracle():
    with np.load(FIXTURE, allow_pickle=False) as z:
        return {k: z[k] for k in z.files if not k.startswith(("encoder.", "head.", "fc."))}


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    out = tmp_path_factory.mktemp("official") / "bccl-official"
    convert_official(FIXTURE, out, RECIPE, source_url="https://example.org/bccl.pth",
                     command="python tools/convert_torch.py bccl_resnet32.npz --recipe " + RECIPE)
    return out


def close(actual, expected, atol):
    np.testing.assert_allclose(np.asarray(ops.convert_to_numpy(actual), np.float64), expected,
                               rtol=1e-4, atol=atol)


def test_converted_folder_reproduces_the_reference_outputs(folder, oracle):
    model = from_pretrained(folder)
    assert model.pretrained.name == f"{RECIPE}-official"
    assert model.pretrained.class_names == CIFAR10_CLASSES
    # the reference code's CIFAR-10-LT IF100 profile (oracles README: 5000 ... 50, 12,406)
    assert model.pretrained.class_counts[0] == 5000 and model.pretrained.class_counts[-1] == 50
    assert sum(model.pretrained.class_counts) == 12406
    assert model.pretrained.preprocessing["mean"] == [0.4914, 0.4822, 0.4465]
    close(model.classifier(oracle["x_nhwc"], training=False), oracle["eval/logits_f64"], atol=1e-3)


def test_for_training_carries_the_converted_projection_head(folder, oracle):
    model = from_pretrained(folder, for_training=True)
    feats = model.backbone(oracle["x_nhwc"], training=False)
    close(model.head(feats), oracle["eval/feat_mlp_f64"], atol=1e-5)
    close(model.classifier(feats), oracle["eval/logits_f64"], atol=1e-3)


def test_card_credits_the_release(folder):
    card = (folder / "README.md").read_text()
    meta, _ = parse_card(folder / "README.md")
    assert meta["license"] == "other" and BCCL_CODE in meta["license_link"]
    assert "converted-from-pytorch" in meta["tags"]
    assert "model-index" not in meta                      # not evaluated: no numbers invented
    assert file_sha256(FIXTURE) in card and "https://example.org/bccl.pth" in card
    assert f"https://github.com/{BCCL_CODE}" in card and "Kim & Ko" in card
    assert "Not evaluated here" in card
    metadata = json.loads((folder / "metadata.json").read_text())
    conv = metadata["training"]["conversion"]
    assert conv["tensors_assigned"] == 196 - 32 and conv["head_converted"]
    assert conv["tensors_ignored"] == ["*.num_batches_tracked"]
    assert not (folder / "eval_results.json").exists()


def test_state_dict_export_inverts_the_conversion(folder):
    """to_torch_state_dict(converted model) gives back the release's tensors exactly."""
    model = from_pretrained(folder, for_training=True)
    back = to_torch_state_dict(model.backbone, model.head, model.classifier)
    original = load_state_dict(FIXTURE)
    assert set(back) == set(original)
    for key, value in original.items():
        if not key.endswith("num_batches_tracked"):
            np.testing.assert_array_equal(back[key], value, err_msg=key)


def test_pth_release_with_wrappers_converts_the_same(tmp_path, oracle):
    torch = pytest.importorskip("torch")
    sd = load_state_dict(FIXTURE)
    release = tmp_path / "bccl_cifar10_if100.pth.tar"
    torch.save({"epoch": 200, "best_acc1": 0.0,
                "state_dict": {f"module.{k}": torch.from_numpy(np.array(v)) for k, v in sd.items()}},
               str(release))
    out, summary = convert_official(release, tmp_path / "out", RECIPE)
    assert summary["assigned"] == 164
    model = from_pretrained(out)
    close(model.classifier(oracle["x_nhwc"], training=False), oracle["eval/logits_f64"], atol=1e-3)
    assert file_sha256(release) in (out / "README.md").read_text()


class _Payload:
    """Pickles into a call that creates a file: what a hostile checkpoint would run."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_a_pth_holding_code_is_refused_and_nothing_runs(tmp_path):
    torch = pytest.importorskip("torch")
    marker = tmp_path / "pwned"
    evil = tmp_path / "release.pth"
    torch.save({"state_dict": {"fc.weight": torch.zeros(2, 2)}, "extra": _Payload(marker)},
               str(evil))
    with pytest.raises(ConversionError, match="refused to load"):
        load_state_dict(evil)
    with pytest.raises(ConversionError, match="refused to load"):
        convert_official(evil, tmp_path / "out", RECIPE)
    assert not marker.exists() and not (tmp_path / "out").exists()
    torch.load(str(evil), weights_only=False)          # the payload is live: unsafe loading runs it
    assert marker.exists()


def test_recipe_and_checkpoint_must_agree(tmp_path):
    with pytest.raises(ConversionError, match="classifier: checkpoint cosine.*recipe linear"):
        convert_official(FIXTURE, tmp_path / "a", "la-resnet32-cifar10lt-if100")
    with pytest.raises(ConversionError, match="backbone: checkpoint resnet32, recipe resnet50"):
        convert_official(FIXTURE, tmp_path / "b", "bccl-resnet50-imagenetlt",
                         train_list=_split_file(tmp_path, 10))
    with pytest.raises(ConversionError, match="classes: checkpoint 10, training set 100"):
        convert_official(FIXTURE, tmp_path / "c", "bccl-resnet32-cifar100lt-if100")
    with pytest.raises(ConversionError, match="feat_dim: checkpoint 128, recipe 64"):
        convert_official(FIXTURE, tmp_path / "d", RECIPE, overrides=["bccl.feat_dim=64"])
    with pytest.raises(UnknownModelError, match="bccl-resnet32-cifar10lt-if100"):
        convert_official(FIXTURE, tmp_path / "e", "bccl-resnet32-cifar10lt-if1OO")
    with pytest.raises(ConversionError, match="--train-list"):
        class_info(load_recipe("bccl-resnet50-imagenetlt"))
    # nothing written by a failed conversion (only the split file made above is there)
    assert [p.name for p in tmp_path.iterdir()] == ["train_split.txt"]


def _split_file(root, num_classes):
    lines = [f"train/c{c}/img{i}.jpg {c}" for c in range(num_classes) for i in range(num_classes - c)]
    path = root / "train_split.txt"
    path.write_text("\n".join(lines) + "\n")
    return path


def test_classes_from_a_split_file_and_names_file(tmp_path):
    recipe = load_recipe("bccl-resnet50-imagenetlt")
    names_file = tmp_path / "classnames.txt"
    names_file.write_text("".join(f"n0{i:07d} thing {i}\n" for i in range(4)))
    names, counts, source = class_info(recipe, train_list=_split_file(tmp_path, 4),
                                       class_names_file=names_file)
    assert names == [f"thing {i}" for i in range(4)] and counts == [4, 3, 2, 1]
    assert "train_split.txt" in source
    names, counts, _ = class_info(recipe, train_list=_split_file(tmp_path, 3))
    assert names == ["class_0", "class_1", "class_2"] and counts == [3, 2, 1]
    # the real ImageNet-LT files: split-file lines and the 1000 "<wnid> <name>" class names
    names, counts, _ = class_info(recipe, train_list=FIXTURES / "imagenet_lt_val_head.txt",
                                  class_names_file=FIXTURES / "imagenet_lt_classnames.txt")
    assert len(names) == len(counts) == 1000 and names[:2] == ["tench", "goldfish"]
    assert counts[:3] == [20, 10, 0] and sum(counts) == 30


def test_cifar_class_tables():
    assert len(CIFAR100_CLASSES) == 100 == len(set(CIFAR100_CLASSES))
    assert list(CIFAR100_CLASSES) == sorted(CIFAR100_CLASSES)     # the release's order
    names, counts, _ = class_info(load_recipe("bccl-resnet32-cifar100lt-if50"))
    assert names == list(CIFAR100_CLASSES) and counts[0] == 500 and counts[-1] == 10


def _tiny_cifar_like(root):
    """A prepared 10-class 32x32 dataset (train counts 10..1 after one validation image
    a class; 3 test images a class)."""
    from keras_lt.data.prepare import prepare_dataset

    rng = np.random.default_rng(0)
    src = root / "imagefolder"
    for split, per in (("train", range(11, 1, -1)), ("test", [3] * 10)):
        for c, n in enumerate(per):
            d = src / split / f"class_{c}"
            d.mkdir(parents=True)
            for i in range(n):
                img = np.clip(rng.normal(25 * c, 40, (32, 32, 3)), 0, 255).astype("uint8")
                Image.fromarray(img).save(d / f"{i:03d}.png")
    out = root / "prepared"
    prepare_dataset("imagefolder", out, input=src, val_per_class=1, progress=False)
    return out


def test_cli_writes_an_evaluated_card_whose_numbers_reevaluate(tmp_path):
    """tools/convert_torch.py --recipe --data in a subprocess (torch backend); the card's
    numbers are re-measured here, on the backend under test, with tools/evaluate.py's
    code path."""
    from keras_lt.hub.evaluate import evaluate_pretrained

    data = _tiny_cifar_like(tmp_path)
    out = tmp_path / "zoo" / "bccl-official"
    env = dict(os.environ, KERAS_BACKEND="torch")
    proc = subprocess.run([sys.executable, str(ROOT / "tools" / "convert_torch.py"), str(FIXTURE),
                           "--recipe", RECIPE, "--data", str(data), "--out", str(out)],
                          capture_output=True, text=True, env=env, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "test: top-1" in proc.stdout
    assert sorted(p.name for p in out.iterdir()) == [
        "README.md", "config.json", "eval_results.json", "metadata.json", "model.safetensors",
        "model.weights.h5", "test_report_per_class.png", "training.weights.h5"]
    meta, _ = parse_card(out / "README.md")
    metrics = {m["name"]: m["value"] for m in meta["model-index"][0]["results"][0]["metrics"]}
    again, card = evaluate_pretrained(out, data)
    assert card["top1"] == pytest.approx(again["top1"], abs=1e-9)
    assert metrics["top-1"] == pytest.approx(round(100 * again["top1"], 2))
    config = json.loads((out / "config.json").read_text())["config"]
    assert config["class_names"] == [f"class_{c}" for c in range(10)]
    assert config["class_counts"] == list(range(10, 0, -1))
    # errors are one line on stderr, exit code 2, and leave nothing behind
    bad = subprocess.run([sys.executable, str(ROOT / "tools" / "convert_torch.py"), str(FIXTURE),
                          "--recipe", "la-resnet32-cifar10lt-if100", "--out", str(tmp_path / "x")],
                         capture_output=True, text=True, env=env, timeout=600)
    assert bad.returncode == 2 and "classifier: checkpoint cosine" in bad.stderr
    assert not (tmp_path / "x").exists()
