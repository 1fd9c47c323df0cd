"""Prediction and evaluation on bad input: degenerate, truncated, 16-bit and random-byte
image files for ``keras_lt.predict`` (a stand-in model: decoding is under test), a
bounded seeded fuzz run, and tools/predict.py / tools/evaluate.py with the bundled
la-resnet32 checkpoint on prepared datasets of the wrong size, channels or an empty
split: one clear line, exit code 2."""

import io
import json
import struct
import sys
import zlib
from types import SimpleNamespace

import numpy as np
import pytest
from PIL import Image

from conftest import ROOT

from keras_lt.hub.predict import ImageError, predict


def tool_errors(stderr):
    """A tool's standard error without its ``backend: ...`` start-up line."""
    return "".join(line for line in stderr.splitlines(True) if not line.startswith("backend: "))

BUNDLED = ROOT / "model_cards" / "la-resnet32-cifar10lt-if100"
CIFAR10 = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]


class StandIn:
    """What predict uses of a zoo inference model: ``class_names``, a ``preprocessor`` and
    ``predict_on_batch`` on raw pixels (logits from the mean of each image)."""

    def __init__(self, num_classes=10, size=16):
        self.class_names = [f"c{i}" for i in range(num_classes)]
        self.preprocessor = SimpleNamespace(image_size=(size, size))
        self.num_classes = num_classes
        self.seen = []

    def predict_on_batch(self, x):
        self.seen.append(np.asarray(x))
        m = np.asarray(x).mean(axis=(1, 2, 3))
        return np.stack([m * (i + 1) for i in range(self.num_classes)], axis=1)


def png_bytes(width, height, bit_depth=8, colour_type=2, rows=b""):
    """A PNG with the given IHDR, written by hand (PIL does not write 0-pixel images)."""
    def chunk(kind, data):
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))
    ihdr = struct.pack(">IIBBBBB", width, height, bit_depth, colour_type, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(rows))
            + chunk(b"IEND", b""))


def encoded(array, fmt, **kw):
    buf = io.BytesIO()
    Image.fromarray(array).save(buf, format=fmt, **kw)
    return buf.getvalue()


def test_degenerate_images_are_refused_naming_the_file(tmp_path):
    model = StandIn()
    cases = {"zero.png": png_bytes(0, 0), "zero_by_n.png": png_bytes(0, 7),
             "n_by_zero.png": png_bytes(7, 0), "notes.png": b"these are not image bytes",
             "empty.jpg": b""}
    valid = encoded(np.full((20, 20, 3), 100, np.uint8), "JPEG")
    cases["truncated.jpg"] = valid[:len(valid) // 2]
    cases["truncated.png"] = encoded(np.arange(1200, dtype=np.uint8).reshape(20, 20, 3), "PNG")[:90]
    for name, data in cases.items():
        (tmp_path / name).write_bytes(data)
        with pytest.raises(ImageError, match=rf"^cannot decode image .*{name}: ") as err:
            predict(model, [tmp_path / name], top_k=3)
        assert "\n" not in str(err.value)
    assert model.seen == []
    # in-memory images without pixels
    for shape in ((0, 0, 3), (0, 5, 3), (5, 0, 3)):
        with pytest.raises(ImageError, match=r"images\[0\]: the image has no pixels"):
            predict(model, [np.zeros(shape, np.uint8)], top_k=3)
    with pytest.raises(ImageError, match="no images"):
        predict(model, [], top_k=3)


def test_top_k_below_one_is_refused_and_above_the_classes_clamped():
    model = StandIn(num_classes=4)
    x = np.full((16, 16, 3), 7, np.uint8)
    for k in (0, -1):
        with pytest.raises(ValueError, match=f"top_k must be a positive integer, got {k}"):
            predict(model, x, top_k=k)
    with pytest.raises(ValueError, match="top_k must be a positive integer"):
        predict(model, x, top_k=2.5)
    with pytest.warns(UserWarning, match="top_k 9 is more than the model's 4 classes"):
        (res,) = predict(model, x, top_k=9)
    assert len(res["labels"]) == 4 and sorted(res["indices"]) == [0, 1, 2, 3]
    assert len(predict(model, x, top_k=4)[0]["labels"]) == 4


@pytest.mark.parametrize("mode", ["I;16", "I"])
def test_16_bit_greyscale_is_scaled_not_clipped(tmp_path, mode):
    ramp = (np.arange(16 * 16, dtype=np.uint32).reshape(16, 16) * 256).astype(np.uint16)
    # 16-bit PNG (I;16); 32-bit integer greyscale holding 16-bit values (I), as TIFF
    path = tmp_path / ("grey16.png" if mode == "I;16" else "grey32.tif")
    im = Image.fromarray(ramp if mode == "I;16" else ramp.astype(np.int32))
    assert im.mode == mode
    im.save(path)
    with Image.open(path) as back:
        assert back.mode in ("I;16", "I")
    from keras_lt.hub.predict import _load_image

    rgb = _load_image(path)
    assert rgb.dtype == np.uint8 and rgb.shape == (16, 16, 3)
    np.testing.assert_array_equal(rgb[..., 0], rgb[..., 2])
    expected = np.clip(np.rint(ramp / 257.0), 0, 255).astype(np.uint8)
    np.testing.assert_array_equal(rgb[..., 0], expected)
    assert (rgb == 255).mean() < 0.01 and len(np.unique(rgb)) > 200
    model = StandIn()
    assert len(predict(model, path, top_k=2)[0]["labels"]) == 2


def test_fuzz_random_bytes_and_truncations_give_a_prediction_or_one_clear_line(tmp_path):
    """30 seeded cases: random bytes (some behind a PNG/JPEG signature) and random
    truncations or byte flips of valid JPEG/PNG files; never another exception."""
    rng = np.random.default_rng(1234)
    img = rng.integers(0, 256, (24, 24, 3), dtype=np.uint8)
    valid = {"jpg": encoded(img, "JPEG", quality=90), "png": encoded(img, "PNG")}
    model = StandIn()
    outcomes = {"predicted": 0, "refused": 0}
    for case in range(30):
        kind = case % 3
        ext = "png" if case % 2 else "jpg"
        if kind == 0:
            prefix = [b"", b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff\xe0"][int(rng.integers(0, 3))]
            data = prefix + rng.bytes(int(rng.integers(0, 400)))
        elif kind == 1:
            data = valid[ext][:int(rng.integers(0, len(valid[ext])))]
        else:
            data = bytearray(valid[ext])
            for pos in rng.integers(0, len(data), size=int(rng.integers(1, 8))):
                data[pos] = int(rng.integers(0, 256))
            data = bytes(data)
        path = tmp_path / f"fuzz{case:02d}.{ext}"
        path.write_bytes(data)
        try:
            (res,) = predict(model, [path], top_k=3)
        except ImageError as exc:
            msg = str(exc)
            assert msg.startswith(f"cannot decode image {path}: ") and "\n" not in msg, msg
            outcomes["refused"] += 1
        else:
            assert len(res["labels"]) == 3 and res["source"] == str(path)
            outcomes["predicted"] += 1
    assert outcomes["refused"] >= 10, outcomes


# ------------------------------------------------------------------ command-line tools


@pytest.fixture
def offline(monkeypatch):
    from huggingface_hub import constants

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    if str(ROOT / "tools") not in sys.path:
        sys.path.insert(0, str(ROOT / "tools"))


def test_predict_tool_turns_bad_input_into_one_line_and_exit_2(offline, tmp_path, capsys):
    import predict as predict_tool

    good = tmp_path / "good.png"
    Image.fromarray(np.full((40, 40, 3), 90, np.uint8)).save(good)
    assert predict_tool.main([str(BUNDLED), str(good), "--top-k", "3", "--json"]) == 0
    (res,) = json.loads(capsys.readouterr().out)
    assert len(res["labels"]) == 3 and set(res["labels"]) <= set(CIFAR10)
    (tmp_path / "zero.png").write_bytes(png_bytes(0, 0))
    (tmp_path / "junk.jpg").write_bytes(b"junk")
    for argv, message in [([str(tmp_path / "zero.png")], "error: cannot decode image .*zero.png"),
                          ([str(tmp_path / "junk.jpg")], "error: cannot decode image .*junk.jpg"),
                          ([str(tmp_path / "gone.png")], "error: image file not found: .*gone.png"),
                          ([str(good), "--top-k", "0"], "error: --top-k must be a positive "
                                                        "integer, got 0")]:
        assert predict_tool.main([str(BUNDLED), *argv]) == 2
        err = tool_errors(capsys.readouterr().err)
        assert err.count("\n") == 1 and err.startswith("error:"), err
        assert __import__("re").match(message, err), err
    assert predict_tool.main([str(BUNDLED), str(good), "--top-k", "50"]) == 0
    out = capsys.readouterr()
    assert "note: top_k 50 is more than the model's 10 classes" in out.err
    assert out.out.count("(") == 10


def write_prepared(path, splits, class_names=CIFAR10):
    """A raw prepared dataset: ``splits`` maps a name to a uint8 image array."""
    path.mkdir(parents=True)
    meta_splits = {}
    for name, images in splits.items():
        d = path / name
        d.mkdir()
        labels = np.arange(len(images), dtype=np.int64) % len(class_names)
        np.save(d / "labels.npy", labels)
        np.save(d / "source_index.npy", np.arange(len(images), dtype=np.int64))
        np.save(d / "images.npy", images)
        meta_splits[name] = {"count": len(images)}
    shape = next(iter(splits.values())).shape
    meta = {"format_version": 1, "name": path.name, "class_names": class_names,
            "num_classes": len(class_names), "train_counts": [10] * len(class_names),
            "mean": [0.5] * 3, "std": [0.25] * 3, "image_size": [shape[1], shape[2]],
            "storage": "raw", "splits": meta_splits}
    (path / "meta.json").write_text(json.dumps(meta))
    return path


def test_evaluate_tool_on_mismatched_or_empty_data(offline, tmp_path, capsys):
    import evaluate as evaluate_tool

    rng = np.random.default_rng(0)
    big = write_prepared(tmp_path / "big64", {
        "train": rng.integers(0, 256, (20, 64, 64, 3), dtype=np.uint8),
        "test": rng.integers(0, 256, (20, 64, 64, 3), dtype=np.uint8),
        "val": np.zeros((0, 64, 64, 3), np.uint8)})
    # another size: resized to the model's 32x32 input, with one note
    assert evaluate_tool.main([str(BUNDLED), "--data", str(big), "--out", str(tmp_path / "r")]) == 0
    out = capsys.readouterr().out
    assert out.count("note:") == 1
    assert f"note: split 'test' of {big} has images 64x64; resizing them to the model's 32x32" in out
    assert "top1" in json.loads((tmp_path / "r" / "test_report.json").read_text())
    # an empty split
    assert evaluate_tool.main([str(BUNDLED), "--data", str(big), "--split", "val"]) == 2
    err = tool_errors(capsys.readouterr().err)
    assert err == f"error: split 'val' of {big} is empty: nothing to evaluate\n"
    # greyscale images for an RGB model
    grey = write_prepared(tmp_path / "grey", {
        "test": rng.integers(0, 256, (8, 32, 32, 1), dtype=np.uint8)})
    assert evaluate_tool.main([str(BUNDLED), "--data", str(grey)]) == 2
    err = tool_errors(capsys.readouterr().err)
    assert err == (f"error: split 'test' of {grey} stores 32x32x1 images but the model takes "
                   f"32x32x3 (RGB) images; prepare the data as RGB\n")


def test_evaluate_tool_on_a_run_directory_with_other_sized_or_empty_data(offline, tmp_path,
                                                                        capsys):
    """A run trained on 16x16 data, evaluated with --data of 32x32 images: the model
    keeps its input size and the images are resized; an empty split is refused."""
    import evaluate as evaluate_tool
    import yaml

    from keras_lt.config import load_config
    from keras_lt.models.builder import build_method_model

    names = [str(i) for i in range(10)]
    rng = np.random.default_rng(1)
    own = write_prepared(tmp_path / "own16", {
        "train": rng.integers(0, 256, (10, 16, 16, 3), dtype=np.uint8),
        "test": rng.integers(0, 256, (10, 16, 16, 3), dtype=np.uint8)}, names)
    cfg = load_config(ROOT / "zoo_configs" / "demo-digits-resnet32.yaml",
                      [f"data.prepared={own}", "model.backbone=resnet20", "runtime.verbose=0"])
    assert not cfg["data"].get("image_size")
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.yaml").write_text(yaml.safe_dump(cfg))
    build_method_model(cfg, 10, [10] * 10, (16, 16, 3), steps_per_epoch=1).save_weights(
        run / "best.weights.h5")
    big = write_prepared(tmp_path / "big32", {
        "train": rng.integers(0, 256, (10, 32, 32, 3), dtype=np.uint8),
        "test": rng.integers(0, 256, (12, 32, 32, 3), dtype=np.uint8),
        "val": np.zeros((0, 32, 32, 3), np.uint8)}, names)
    assert evaluate_tool.main([str(run), "--data", str(big), "--out", str(tmp_path / "r")]) == 0
    out = capsys.readouterr().out
    assert f"note: split 'test' of {big} has images 32x32; resizing them to the model's 16x16" in out
    assert evaluate_tool.main([str(run), "--data", str(big), "--split", "val"]) == 2
    assert tool_errors(capsys.readouterr().err) == (f"error: split 'val' of {big} is empty: nothing to "
                                       f"evaluate\n")


def test_the_keras_lt_command_names_its_commands_and_refuses_unknown_ones(capsys):
    if str(ROOT / "tools") not in sys.path:
        sys.path.insert(0, str(ROOT / "tools"))
    from keras_lt_cli import COMMANDS, main

    assert main(["trian"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("keras-lt: unknown command 'trian'; did you mean train?")
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    assert all(f"  {name}" in out for name in COMMANDS)
    assert all((ROOT / "tools" / "keras_lt_cli" / f"{name}.py").is_file() for name in COMMANDS)
