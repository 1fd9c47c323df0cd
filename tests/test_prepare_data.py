"""Data preparation (all sources) and the PreparedDataset reader; tiny, offline."""

import hashlib
import io
import json
import os
import pickle
import subprocess
import sys
import tarfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from keras_lt.data import (DataPreparationError, DatasetError, PreparedDataset,
                           longtail_counts, prepare_dataset)
from keras_lt.data.prepare import CIFAR_FILES, parse_split_file, read_class_names

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = Path(__file__).resolve().parent / "fixtures"
SHARED = Path(os.environ.get("KERAS_LT_SHARED", ROOT.parent / "shared"))
CIFAR10_JPEG = SHARED / "data" / "cifar10-jpeg" / "cifar-10-images-jpg.tar.gz"


def _leftovers(output):
    return sorted(p.name for p in Path(output).parent.iterdir()
                  if p.name.startswith(Path(output).name + ".tmp-"))


def _png(arr, fmt="PNG"):
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format=fmt)
    return buf.getvalue()


def _img(seed, size=(8, 8)):
    return np.random.RandomState(seed).randint(0, 256, size + (3,), dtype=np.uint8)


# ------------------------------------------------------------------ fake CIFAR tarballs

def _fake_cifar10(path, per_class_per_batch=2, test_per_class=1, extra_member=None):
    """Official structure (cifar-10-batches-py/data_batch_1..5, test_batch, batches.meta)
    with tiny data. Pixel value at (channel ch, row 0, col 0) encodes (index, channel)."""
    rng = np.random.RandomState(0)
    names = [f"class{i}" for i in range(10)]

    def batch(n_per_class, start):
        labels = rng.permutation(np.repeat(np.arange(10), n_per_class)).tolist()
        data = rng.randint(0, 256, (len(labels), 3072)).astype(np.uint8)
        for r in range(len(labels)):
            data[r, 0] = (start + r) % 256          # R channel of pixel (0, 0)
            data[r, 1024] = 7                        # G channel of pixel (0, 0)
            data[r, 2048] = 9                        # B channel of pixel (0, 0)
            data[r, 1] = labels[r]                   # R channel of pixel (0, 1)
        return {b"batch_label": b"x", b"labels": labels, b"data": data, b"filenames": []}

    members = {"cifar-10-batches-py/batches.meta":
               {b"label_names": [n.encode() for n in names], b"num_vis": 3072}}
    start = 0
    for i in range(1, 6):
        b = batch(per_class_per_batch, start)
        start += len(b[b"labels"])
        members[f"cifar-10-batches-py/data_batch_{i}"] = b
    members["cifar-10-batches-py/test_batch"] = batch(test_per_class, 0)
    if extra_member:
        members[extra_member] = {}
    with tarfile.open(path, "w:gz") as tf:
        for name, obj in members.items():
            data = pickle.dumps(obj)
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return hashlib.md5(Path(path).read_bytes()).hexdigest(), members


def test_cifar10_md5_mismatch_names_both(tmp_path):
    tar = tmp_path / "cifar-10-python.tar.gz"
    md5, _ = _fake_cifar10(tar)
    out = tmp_path / "out"
    with pytest.raises(DataPreparationError) as e:
        prepare_dataset("cifar10", out, input=tar, progress=False)
    assert CIFAR_FILES["cifar10"]["md5"] in str(e.value) and md5 in str(e.value)
    assert not out.exists() and not _leftovers(out)


def test_cifar10_tarball(tmp_path):
    tar = tmp_path / "cifar-10-python.tar.gz"
    md5, members = _fake_cifar10(tar, per_class_per_batch=2)   # 10 train images per class
    out = tmp_path / "c10"
    ds = prepare_dataset("cifar10", out, input=tar, expected_md5=md5, imbalance_factor=5,
                         val_per_class=3, progress=False)
    assert ds.class_names == [f"class{i}" for i in range(10)]
    assert ds.train_counts.tolist() == longtail_counts(10, 10, 5)
    assert ds.image_size == (32, 32) and ds.meta["storage"] == "raw"
    assert ds.meta["provenance"]["source_checksum"] == {"algo": "md5", "value": md5}
    train = ds.split("train")
    x = train.get_batch(np.arange(len(train)))
    assert x.dtype == np.uint8 and x.shape == (len(train), 32, 32, 3)
    # CHW rows -> HWC, and source_index points into the concatenated batches
    assert np.all(x[:, 0, 0, 1] == 7) and np.all(x[:, 0, 0, 2] == 9)
    assert np.array_equal(x[:, 0, 0, 0], np.asarray(train.source_index) % 256)
    assert np.array_equal(x[:, 0, 1, 0], np.asarray(train.labels))
    # val: up to 3 per class from the images NOT in the LT train set
    val = ds.split("val")
    assert not set(np.asarray(val.source_index)) & set(np.asarray(train.source_index))
    per = ds.meta["splits"]["val"]["per_class"]
    assert per[0] == 0 and per[-1] == 3     # the head class keeps all 10 images
    assert ds.meta["val"]["shortfall"]["class0"] == 0
    assert len(ds.split("test")) == 10
    # same tarball with val topped up from train
    ds2 = prepare_dataset("cifar10", tmp_path / "c10b", input=tar, expected_md5=md5,
                          imbalance_factor=5, val_per_class=3, val_fill_from_train=True,
                          progress=False)
    assert ds2.meta["splits"]["val"]["per_class"] == [3] * 10
    assert ds2.train_counts.tolist() == ds.train_counts.tolist()


def test_cifar_unsafe_member_rejected(tmp_path):
    tar = tmp_path / "cifar-10-python.tar.gz"
    md5, _ = _fake_cifar10(tar, per_class_per_batch=1, extra_member="../evil")
    with pytest.raises(DataPreparationError, match="unsafe member"):
        prepare_dataset("cifar10", tmp_path / "o", input=tar, expected_md5=md5, progress=False)


def test_cifar100_tarball(tmp_path):
    tar = tmp_path / "cifar-100-python.tar.gz"
    rng = np.random.RandomState(1)
    train = {b"fine_labels": list(range(5)) * 4, b"coarse_labels": [0] * 20,
             b"data": rng.randint(0, 256, (20, 3072)).astype(np.uint8)}
    test = {b"fine_labels": list(range(5)), b"coarse_labels": [0] * 5,
            b"data": rng.randint(0, 256, (5, 3072)).astype(np.uint8)}
    meta = {b"fine_label_names": [f"f{i}".encode() for i in range(5)],
            b"coarse_label_names": [b"c"]}
    with tarfile.open(tar, "w:gz") as tf:
        for name, obj in (("train", train), ("test", test), ("meta", meta)):
            data = pickle.dumps(obj)
            info = tarfile.TarInfo(f"cifar-100-python/{name}")
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    md5 = hashlib.md5(tar.read_bytes()).hexdigest()
    ds = prepare_dataset("cifar100", tmp_path / "c100", input=tar, expected_md5=md5,
                         val_per_class=1, progress=False)
    assert ds.class_names == [f"f{i}" for i in range(5)]
    assert ds.train_counts.tolist() == [3] * 5        # no LT: 1 per class held out for val
    img = ds.split("test").get_image(2)
    np.testing.assert_array_equal(img, test[b"data"][2].reshape(3, 32, 32).transpose(1, 2, 0))


def test_cifar_offline_without_input(tmp_path):
    with pytest.raises(DataPreparationError, match="--input"):
        prepare_dataset("cifar10", tmp_path / "o", progress=False)


# ------------------------------------------------------------------ imagefolder

def _tree(root, classes=("b_cls", "a_cls"), n_train=4, n_test=2, fmt="PNG", ext=".png", size=(8, 8)):
    seed = 0
    for split, n in (("train", n_train), ("test", n_test)):
        for c in classes:
            d = root / split / c
            d.mkdir(parents=True)
            for i in range(n):
                seed += 1
                (d / f"{i:04d}{ext}").write_bytes(_png(_img(seed, size), fmt))
    return root


def test_imagefolder_directory(tmp_path):
    root = _tree(tmp_path / "src")
    (root / "train" / "a_cls" / "notes.txt").write_text("ignored")
    ds = prepare_dataset("imagefolder", tmp_path / "out", input=root, val_per_class=1,
                         progress=False)
    assert ds.class_names == ["a_cls", "b_cls"]           # sorted folder names
    assert ds.train_counts.tolist() == [3, 3] and ds.meta["splits"]["val"]["count"] == 2
    tr = ds.split("train")
    # images within a class sorted by name; source_index is the (class, name) order
    for pos, src in enumerate(np.asarray(tr.source_index)):
        cls, k = ds.class_names[src // 4], src % 4
        expected = np.asarray(Image.open(root / "train" / cls / f"{k:04d}.png").convert("RGB"))
        np.testing.assert_array_equal(tr.get_image(pos), expected)
        assert tr.labels[pos] == src // 4
    assert ds.meta["storage"] == "raw" and ds.image_size == (8, 8)
    # mean/std over the train split
    x = tr.get_batch(np.arange(len(tr))).reshape(-1, 3) / 255.0
    np.testing.assert_allclose(ds.mean, x.mean(0), atol=1e-5)
    np.testing.assert_allclose(ds.std, x.std(0), atol=1e-5)


def test_imagefolder_targz_with_top_dir_and_lt(tmp_path):
    root = _tree(tmp_path / "src" / "top", classes=("c0", "c1", "c2"), n_train=6, fmt="JPEG",
                 ext=".jpg")
    tar = tmp_path / "imgs.tar.gz"
    with tarfile.open(tar, "w:gz") as tf:
        tf.add(root, arcname="top")
    ds = prepare_dataset("imagefolder", tmp_path / "out", input=tar, imbalance_factor=3,
                         val_per_class=2, progress=False)
    assert ds.train_counts.tolist() == longtail_counts(6, 3, 3) == [6, 3, 2]
    assert ds.meta["splits"]["val"]["per_class"] == [0, 2, 2]
    assert ds.meta["provenance"]["source_checksum"]["algo"] == "sha256"
    assert len(ds.split("test")) == 6
    img = ds.split("test").get_image(0)
    assert img.shape == (8, 8, 3) and img.dtype == np.uint8


def test_imagefolder_official_val_and_variable_size(tmp_path):
    root = _tree(tmp_path / "src", n_train=2, n_test=1)
    for c in ("a_cls", "b_cls"):
        (root / "val" / c).mkdir(parents=True)
        (root / "val" / c / "x.png").write_bytes(_png(_img(99, (5, 7))))
    ds = prepare_dataset("imagefolder", tmp_path / "out", input=root, progress=False)
    assert "official" in ds.meta["val"]["method"]
    assert ds.meta["storage"] == "encoded" and ds.image_size is None
    val = ds.split("val")
    batch = val.get_batch([0, 1])
    assert isinstance(batch, list) and batch[0].shape == (5, 7, 3)
    assert ds.split("train").get_image(0).shape == (8, 8, 3)


def test_corrupt_image_error_and_skip_bad(tmp_path):
    root = _tree(tmp_path / "src")
    bad = root / "train" / "a_cls" / "0001.png"
    bad.write_bytes(b"not an image at all")
    out = tmp_path / "out"
    with pytest.raises(DataPreparationError, match="0001.png"):
        prepare_dataset("imagefolder", out, input=root, val_per_class=0, progress=False)
    assert not out.exists() and not _leftovers(out)         # nothing half-written
    ds = prepare_dataset("imagefolder", out, input=root, val_per_class=0, skip_bad=True,
                         progress=False)
    report = json.loads((out / "skipped.json").read_text())
    assert report["count"] == 1 and "0001.png" in report["items"][0]["item"]
    assert ds.train_counts.tolist() == [3, 4] and len(ds.split("train")) == 7


def test_empty_class_and_existing_output(tmp_path):
    root = _tree(tmp_path / "src")
    (root / "train" / "c_empty").mkdir()
    out = tmp_path / "out"
    with pytest.raises(DataPreparationError, match="c_empty"):
        prepare_dataset("imagefolder", out, input=root, progress=False)
    assert not out.exists() and not _leftovers(out)
    out.mkdir()
    with pytest.raises(DataPreparationError, match="--overwrite"):
        prepare_dataset("imagefolder", out, input=tmp_path / "src", progress=False)


# ------------------------------------------------------------------ split files

def _splitfile_tree(tmp_path):
    root = tmp_path / "images"
    lines = {"train": [], "val": [], "test": []}
    seed = 0
    for split, n in (("train", 3), ("val", 1), ("test", 1)):
        for c in range(3):
            for i in range(n if split != "train" else n + c):
                seed += 1
                rel = f"{split}/n0000000{c}/img_{i}.jpg"
                (root / rel).parent.mkdir(parents=True, exist_ok=True)
                (root / rel).write_bytes(_png(_img(seed, (6 + c, 9)), "JPEG"))
                lines[split].append(f"{rel} {c}")
    files = {}
    for split, ls in lines.items():
        files[split] = tmp_path / f"LT_{split}.txt"
        files[split].write_text("\n".join(ls) + "\n")
    names = tmp_path / "classnames.txt"
    names.write_text("n00000000 tench fish\nn00000001 goldfish\nn00000002 great white shark\n")
    return root, files, names


def test_splitfile_source(tmp_path):
    root, files, names = _splitfile_tree(tmp_path)
    ds = prepare_dataset("splitfile", tmp_path / "out", image_root=root, train_list=files["train"],
                         val_list=files["val"], test_list=files["test"], class_names=names,
                         progress=False)
    assert ds.class_names == ["tench fish", "goldfish", "great white shark"]
    assert ds.train_counts.tolist() == [3, 4, 5]
    assert ds.meta["storage"] == "encoded" and ds.image_size is None
    assert ds.meta["provenance"]["notes"]["class_ids"][0] == "n00000000"
    tr = ds.split("train")
    assert tr.get_image(3).shape == (7, 9, 3)             # class 1 images are 7x9
    raw = (root / "train/n00000001/img_0.jpg").read_bytes()
    assert tr.get_bytes(3) == raw                          # stored as in the source
    assert int(tr.source_index[3]) == 3                    # 0-based line number
    assert len(ds.split("val")) == 3 and "official" in ds.meta["val"]["method"]


def test_splitfile_errors(tmp_path):
    root, files, names = _splitfile_tree(tmp_path)
    bad = tmp_path / "bad.txt"
    text = files["train"].read_text().splitlines()
    text[4] = "train/n00000001/img_0.jpg one"
    bad.write_text("\n".join(text) + "\n")
    out = tmp_path / "out"
    with pytest.raises(DataPreparationError, match=r"bad\.txt:5: malformed line"):
        prepare_dataset("splitfile", out, image_root=root, train_list=bad, progress=False)
    ds = prepare_dataset("splitfile", out, image_root=root, train_list=bad, skip_bad=True,
                         progress=False)
    assert json.loads((out / "skipped.json").read_text())["items"][0]["line"] == 5
    text[4] = "train/n00000001/img_0.jpg 7"
    bad.write_text("\n".join(text) + "\n")
    with pytest.raises(DataPreparationError, match=r"bad\.txt:5: label 7 out of range"):
        prepare_dataset("splitfile", tmp_path / "o2", image_root=root, train_list=bad,
                        class_names=names, progress=False)
    with pytest.raises(DataPreparationError, match="--image-root"):
        prepare_dataset("splitfile", tmp_path / "o3", train_list=files["train"], progress=False)
    (root / "train/n00000002/img_1.jpg").unlink()
    with pytest.raises(DataPreparationError, match="img_1.jpg"):
        prepare_dataset("splitfile", tmp_path / "o4", image_root=root,
                        train_list=files["train"], progress=False)
    assert not (tmp_path / "o4").exists() and not _leftovers(tmp_path / "o4")
    assert ds.num_classes == 3


def test_real_imagenet_lt_val_format():
    paths, labels, lines = parse_split_file(FIXTURES / "imagenet_lt_val_head.txt", num_classes=1000)
    assert len(paths) == 30 and lines[0] == 1
    assert paths[0] == "train/n01440764/n01440764_762.JPEG" and labels[0] == 0
    assert set(labels.tolist()) <= {0, 1} and labels[-1] == 1
    assert all(p.startswith("train/n0") and p.endswith(".JPEG") for p in paths)


def test_read_class_names_plain(tmp_path):
    f = tmp_path / "names.txt"
    f.write_text("apple pie\nbanana\n")
    assert read_class_names(f) == (["apple pie", "banana"], None)


# ------------------------------------------------------------------ hf and digits

def test_hf_saved_dataset(tmp_path):
    datasets = pytest.importorskip("datasets")
    feats = datasets.Features({"img": datasets.Image(),
                               "label": datasets.ClassLabel(names=["cat", "dog", "emu"])})

    def make(n, seed):
        return datasets.Dataset.from_dict(
            {"img": [Image.fromarray(_img(seed + i)) for i in range(n)],
             "label": [i % 3 for i in range(n)]}, features=feats)

    dd = datasets.DatasetDict({"train": make(12, 0), "test": make(3, 100)})
    dd.save_to_disk(str(tmp_path / "hfds"))
    ds = prepare_dataset("hf", tmp_path / "out", input=tmp_path / "hfds", imbalance_factor=2,
                         val_per_class=1, progress=False)
    assert ds.class_names == ["cat", "dog", "emu"]
    assert ds.train_counts.tolist() == longtail_counts(4, 3, 2)
    assert ds.meta["storage"] == "raw" and ds.image_size == (8, 8)
    np.testing.assert_array_equal(ds.split("test").get_image(1), _img(101))


def test_digits_cli_end_to_end(tmp_path):
    out = tmp_path / "digits-lt"
    r = subprocess.run([sys.executable, str(ROOT / "tools" / "prepare_data.py"), "--source",
                        "digits", "--output", str(out), "--no-progress"],
                       capture_output=True, text=True, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    ds = PreparedDataset(out)
    counts = ds.train_counts
    assert counts[0] > 100 and counts[-1] < 20 and ((counts >= 20) & (counts <= 100)).any()
    assert ds.image_size == (16, 16) and ds.splits == ["train", "val", "test"]
    assert ds.meta["splits"]["val"]["per_class"] == [10] * 10
    tr = ds.split("train")
    assert isinstance(tr.images, np.memmap)
    b = tr.get_batch([0, 5, 2])
    assert b.shape == (3, 16, 16, 3) and b.dtype == np.uint8
    assert tr.labels.dtype == np.int64 and len(tr) == counts.sum()
    assert len(ds.mean) == 3 and all(0 < s < 1 for s in ds.std)
    assert ds.meta["provenance"]["command"].startswith("tools/prepare_data.py")
    # a second run without --overwrite fails cleanly with exit 2 and no traceback
    r = subprocess.run([sys.executable, str(ROOT / "tools" / "prepare_data.py"), "--source",
                        "digits", "--output", str(out), "--no-progress"],
                       capture_output=True, text=True)
    assert r.returncode == 2 and "already exists" in r.stderr and "Traceback" not in r.stderr


# ------------------------------------------------------------------ reader errors

def test_prepared_dataset_errors(tmp_path):
    with pytest.raises(DatasetError, match="does not exist"):
        PreparedDataset(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetError, match="meta.json"):
        PreparedDataset(tmp_path / "empty")
    root = _tree(tmp_path / "src", n_train=1, n_test=1)
    ds = prepare_dataset("imagefolder", tmp_path / "out", input=root, val_per_class=0,
                         progress=False)
    assert ds.splits == ["train", "test"]
    with pytest.raises(DatasetError, match=r"no split 'val'.*train, test"):
        ds.split("val")
    with pytest.raises(IndexError):
        ds.split("train").get_image(5)


@pytest.mark.slow
@pytest.mark.skipif(not CIFAR10_JPEG.is_file(), reason="shared CIFAR-10 JPEG archive absent")
def test_real_cifar10_jpeg_lt(tmp_path):
    ds = prepare_dataset("imagefolder", tmp_path / "c10", input=CIFAR10_JPEG,
                         imbalance_factor=100, val_per_class=20, progress=False)
    assert ds.class_names[:3] == ["airplane", "automobile", "bird"]
    assert ds.train_counts.tolist() == [5000, 2997, 1796, 1077, 645, 387, 232, 139, 83, 50]
    assert ds.meta["splits"]["test"]["per_class"] == [1000] * 10
    assert ds.meta["splits"]["val"]["per_class"] == [0] + [20] * 9


# ------------------------------------------------------------------ bad input

def _cli():
    import importlib.util

    if str(ROOT / "tools") not in sys.path:      # the tool imports its neighbour _bootstrap
        sys.path.insert(0, str(ROOT / "tools"))
    spec = importlib.util.spec_from_file_location("prepare_data_cli",
                                                  ROOT / "tools" / "prepare_data.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _run_cli(capsys, *args):
    """The CLI in-process: (exit code, stderr lines)."""
    capsys.readouterr()
    rc = _cli().main([*map(str, args), "--no-progress"])
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return rc, [ln for ln in err.splitlines() if ln.strip()]


def _one_error_line(lines):
    errors = [ln for ln in lines if ln.startswith("error: ")]
    assert len(errors) == 1, lines
    return errors[0]


class _Evil:
    def __init__(self, target):
        self.target = target

    def __reduce__(self):
        return (os.system, (f"touch {self.target}",))


def test_cifar_pickle_code_refused(tmp_path, capsys):
    tar = tmp_path / "cifar-10-python.tar.gz"
    _fake_cifar10(tar, per_class_per_batch=1)
    marker = tmp_path / "pwned"
    evil = pickle.dumps({b"data": _Evil(marker)}, protocol=2)
    with tarfile.open(tar, "r:gz") as tf:
        members = [(m, tf.extractfile(m).read()) for m in tf.getmembers()]
    with tarfile.open(tar, "w:gz") as tf:
        for m, data in members:
            if m.name.endswith("data_batch_1"):
                data = evil
                m.size = len(data)
            tf.addfile(m, io.BytesIO(data))
    md5 = hashlib.md5(tar.read_bytes()).hexdigest()
    out = tmp_path / "out"
    rc, lines = _run_cli(capsys, "--source", "cifar10", "--input", tar, "--md5", md5,
                         "--output", out)
    assert rc == 2
    msg = _one_error_line(lines)
    assert "cifar-10-batches-py/data_batch_1" in msg and "system" in msg and "refusing" in msg
    assert not marker.exists() and not out.exists() and not _leftovers(out)


def test_cifar_malformed_pickle_named(tmp_path):
    tar = tmp_path / "cifar-10-python.tar.gz"
    with tarfile.open(tar, "w:gz") as tf:
        for name, data in (("batches.meta", pickle.dumps([1, 2])),
                           ("data_batch_1", b"\x80\x02}q")):
            info = tarfile.TarInfo(f"cifar-10-batches-py/{name}")
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    md5 = hashlib.md5(tar.read_bytes()).hexdigest()
    with pytest.raises(DataPreparationError, match=r"batches\.meta: expected a dict, .* list"):
        prepare_dataset("cifar10", tmp_path / "o", input=tar, expected_md5=md5, progress=False)


def test_16bit_png_is_scaled_not_clipped(tmp_path, capsys):
    from keras_lt.data.decode import decode_image

    ramp = (np.arange(64, dtype=np.uint32)[None, :] * 1040).repeat(16, axis=0).astype(np.uint16)
    buf = io.BytesIO()
    Image.fromarray(ramp).save(buf, format="PNG")
    data = buf.getvalue()
    assert Image.open(io.BytesIO(data)).mode.startswith("I")
    details = {}
    rgb = decode_image(data, details=details)
    expected = np.rint(ramp / 257.0).astype(np.uint8)
    assert rgb.shape == (16, 64, 3) and details["scaled_16bit"] and details["grayscale"]
    np.testing.assert_array_equal(rgb[..., 0], expected)
    assert (rgb == 255).mean() < 0.05
    root = _tree(tmp_path / "src", n_train=2, n_test=1)
    (root / "train" / "a_cls" / "0000.png").write_bytes(data)
    (root / "train" / "a_cls" / "0001.png").write_bytes(_png(_img(5, (16, 64))))
    ds = prepare_dataset("imagefolder", tmp_path / "out", input=root, val_per_class=0,
                         progress=False)
    err = capsys.readouterr().err
    assert "1 image(s) had 16-bit samples" in err and "grayscale" in err
    assert ds.meta["storage"] == "encoded"          # sizes differ: bytes are kept
    np.testing.assert_array_equal(ds.split("train").get_image(0), rgb)


def test_non_utf8_names(tmp_path, capsys):
    root = _tree(tmp_path / "src", n_train=2, n_test=1)
    bad_file = os.fsencode(root / "train" / "a_cls") + b"/caf\xe9.png"
    fd = os.open(bad_file, os.O_WRONLY | os.O_CREAT)
    os.write(fd, _png(_img(3)))
    os.close(fd)
    out = tmp_path / "out"
    rc, lines = _run_cli(capsys, "--source", "imagefolder", "--input", root, "--output", out,
                         "--val-per-class", "0")
    assert rc == 0, lines
    ds = PreparedDataset(out)
    assert ds.train_counts.tolist() == [3, 2]
    bad_dir = os.fsencode(root / "train") + b"/cl\xffass"
    os.mkdir(bad_dir)
    fd = os.open(bad_dir + b"/x.png", os.O_WRONLY | os.O_CREAT)
    os.write(fd, _png(_img(4)))
    os.close(fd)
    out2 = tmp_path / "out2"
    rc, lines = _run_cli(capsys, "--source", "imagefolder", "--input", root, "--output", out2)
    assert rc == 2
    msg = _one_error_line(lines)
    assert "train/cl\\xffass" in msg and "not valid UTF-8" in msg
    assert not out2.exists() and not _leftovers(out2)


def test_non_utf8_split_file_names_line(tmp_path):
    root, files, _ = _splitfile_tree(tmp_path)
    bad = tmp_path / "bad.txt"
    bad.write_bytes(files["train"].read_bytes().replace(b"img_0.jpg 1", b"img_\xff.jpg 1", 1))
    with pytest.raises(DataPreparationError, match=r"bad\.txt:4: split file is not UTF-8"):
        prepare_dataset("splitfile", tmp_path / "o", image_root=root, train_list=bad,
                        progress=False)


def test_huge_image_neither_dominates_mean_nor_passes_max_pixels(tmp_path):
    root = tmp_path / "src"
    for c in ("a", "b"):
        (root / "train" / c).mkdir(parents=True)
        for i in range(4):
            blue = np.zeros((8, 8, 3), np.uint8)
            blue[..., 2] = 255
            (root / "train" / c / f"{i}.png").write_bytes(_png(blue))
    red = np.zeros((2000, 2000, 3), np.uint8)
    red[..., 0] = 255
    (root / "train" / "a" / "big.png").write_bytes(_png(red))
    ds = prepare_dataset("imagefolder", tmp_path / "out", input=root, val_per_class=0,
                         progress=False)
    np.testing.assert_allclose(ds.mean, [1 / 9, 0, 8 / 9], atol=1e-5)   # 1 of 9 images is red
    np.testing.assert_allclose(ds.std, [np.sqrt(8) / 9] * 1 + [0] + [np.sqrt(8) / 9], atol=1e-5)
    out = tmp_path / "out2"
    with pytest.raises(DataPreparationError,
                       match=r"big\.png: image of 2000x2000 = 4000000 pixels is larger than the "
                             r"limit of 1000000 pixels \(--max-pixels\)"):
        prepare_dataset("imagefolder", out, input=root, val_per_class=0, max_pixels=10 ** 6,
                        progress=False)
    assert not out.exists() and not _leftovers(out)
    ds = prepare_dataset("imagefolder", out, input=root, val_per_class=0, max_pixels=10 ** 6,
                         skip_bad=True, progress=False)
    assert ds.train_counts.tolist() == [4, 4] and ds.meta["storage"] == "raw"


def test_symlinks_outside_tree(tmp_path, capsys):
    root = _tree(tmp_path / "src", n_train=2, n_test=1)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "secret.png").write_bytes(_png(_img(7)))
    (root / "train" / "a_cls" / "link.png").symlink_to(elsewhere / "secret.png")
    out = tmp_path / "out"
    rc, lines = _run_cli(capsys, "--source", "imagefolder", "--input", root, "--output", out)
    assert rc == 2
    msg = _one_error_line(lines)
    assert "train/a_cls/link.png" in msg and str(elsewhere / "secret.png") in msg
    assert "--follow-symlinks" in msg and not out.exists() and not _leftovers(out)
    ds = prepare_dataset("imagefolder", out, input=root, val_per_class=0, follow_symlinks=True,
                         progress=False)
    assert ds.train_counts.tolist() == [3, 2]
    # links the layout does not use are left alone
    (root / "train" / "a_cls" / "link.png").unlink()
    (root / "LICENSE").symlink_to(elsewhere / "secret.png")
    (root / "train" / "a_cls" / "notes.txt").symlink_to(elsewhere / "secret.png")
    ds = prepare_dataset("imagefolder", tmp_path / "o1", input=root, val_per_class=0,
                         progress=False)
    assert ds.train_counts.tolist() == [2, 2]
    # a class folder that is a link outside the tree: named as such, not "has no images"
    (elsewhere / "more").mkdir()
    (elsewhere / "more" / "0.png").write_bytes(_png(_img(8)))
    (root / "train" / "c_cls").symlink_to(elsewhere / "more")
    with pytest.raises(DataPreparationError, match=r"folder 'train/c_cls' is a symbolic link to "
                                                   r".*more, outside .*--follow-symlinks"):
        prepare_dataset("imagefolder", tmp_path / "o2", input=root, progress=False)
    ds = prepare_dataset("imagefolder", tmp_path / "o3", input=root, val_per_class=0,
                         follow_symlinks=True, progress=False)
    assert ds.class_names == ["a_cls", "b_cls", "c_cls"]
    assert ds.train_counts.tolist() == [2, 2, 1]


def test_empty_class_folder_message(tmp_path):
    root = _tree(tmp_path / "src", n_train=2, n_test=1)
    (root / "train" / "c_cls" / "sub").mkdir(parents=True)
    (root / "train" / "c_cls" / "sub" / "0.png").write_bytes(_png(_img(1)))
    with pytest.raises(DataPreparationError, match=r"class folder 'train/c_cls' has no images "
                                                   r"\(it holds 0 other file\(s\) / 1 subfolder"):
        prepare_dataset("imagefolder", tmp_path / "o", input=root, progress=False)


def test_stale_temporary_folders_removed(tmp_path, capsys):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True).stdout.strip()
    out = tmp_path / "out"
    stale = tmp_path / f"out.tmp-{dead}"
    (stale / "train").mkdir(parents=True)
    (stale / "train" / "images.bin").write_bytes(b"half")
    alive = tmp_path / f"out.tmp-{os.getppid()}"          # a running process: kept
    alive.mkdir()
    other = tmp_path / f"other.tmp-{dead}"                 # another output: kept
    other.mkdir()
    root = _tree(tmp_path / "src", n_train=1, n_test=1)
    rc, lines = _run_cli(capsys, "--source", "imagefolder", "--input", root, "--output", out,
                         "--val-per-class", "0")
    assert rc == 0
    assert not stale.exists() and alive.exists() and other.exists() and out.is_dir()
    assert any(ln.startswith(f"note: removed {stale}") and f"process {dead} no longer runs" in ln
               for ln in lines), lines


def test_split_list_conflicting_labels_and_class_missing_from_test(tmp_path, capsys):
    root, files, names = _splitfile_tree(tmp_path)
    train = files["train"].read_text().splitlines()
    train.append(train[0].rsplit(" ", 1)[0] + " 2")       # img_0 of class 0 again, label 2
    files["train"].write_text("\n".join(train) + "\n")
    test = [ln for ln in files["test"].read_text().splitlines() if not ln.endswith(" 1")]
    files["test"].write_text("\n".join(test) + "\n")
    ds = prepare_dataset("splitfile", tmp_path / "out", image_root=root,
                         train_list=files["train"], test_list=files["test"], class_names=names,
                         progress=False)
    err = [ln for ln in capsys.readouterr().err.splitlines() if ln.startswith("warning:")]
    assert len(err) == 2, err
    assert ("LT_train.txt: 1 image(s) listed with different labels" in err[0]
            and "train/n00000000/img_0.jpg at line 1 label 0, line 13 label 2" in err[0])
    assert "split 'test'" in err[1] and "1 class(es) that train has: goldfish" in err[1]
    assert ds.meta["provenance"]["warnings"] == [e[len("warning: "):] for e in err]


def test_class_names_doubled_and_name_id_formats(tmp_path, capsys):
    f = tmp_path / "names.txt"
    f.write_text("apple apple\nbanana banana\n")
    assert read_class_names(f) == (["apple", "banana"], None)
    assert "'<name> <name>' lines" in capsys.readouterr().err
    f.write_text("/a/abbey 1\n/a/airfield 0\n")
    assert read_class_names(f) == (["/a/airfield", "/a/abbey"], ["0", "1"])
    assert "'<name> <class id>' lines" in capsys.readouterr().err
    f.write_bytes(b"apple\nban\xffana\n")
    with pytest.raises(DataPreparationError,
                       match=r"names\.txt:2: class-names file is not UTF-8"):
        read_class_names(f)


def test_grayscale_note(tmp_path, capsys):
    root = _tree(tmp_path / "src", n_train=2, n_test=1)
    grey = np.random.RandomState(0).randint(0, 256, (8, 8), dtype=np.uint8)
    (root / "train" / "a_cls" / "0000.png").write_bytes(_png(grey))
    (root / "test" / "b_cls" / "0000.png").write_bytes(_png(grey))
    ds = prepare_dataset("imagefolder", tmp_path / "out", input=root, val_per_class=0,
                         progress=False)
    notes = [ln for ln in capsys.readouterr().err.splitlines() if "grayscale" in ln]
    assert notes == ["note: 2 of 6 image(s) were grayscale and were converted to RGB "
                     "(the channel repeated)"]
    assert ds.meta["provenance"]["grayscale_to_rgb"] == 2
    np.testing.assert_array_equal(ds.split("train").get_image(0), np.stack([grey] * 3, -1))


def test_fuzz_bad_inputs_give_one_line_errors(tmp_path, capsys):
    rng = np.random.RandomState(1234)
    valid = [_png(_img(1)), _png(_img(2), "JPEG")]
    for case in range(30):
        work = tmp_path / f"case{case}"
        kind = case % 3
        if kind < 2:      # imagefolder with random bytes or a truncated image
            root = _tree(work / "src", classes=("a", "b"), n_train=2, n_test=1)
            split = "train" if rng.rand() < 0.7 else "test"
            target = root / split / "ab"[rng.randint(2)] / "0000.png"
            if kind == 0:
                target.write_bytes(rng.bytes(rng.randint(0, 200)))
            else:
                data = valid[rng.randint(2)]
                target.write_bytes(data[:rng.randint(0, len(data))])
            args = ["--source", "imagefolder", "--input", root, "--val-per-class", "0"]
        else:             # split lists with random lines
            root, files, names = _splitfile_tree(work)
            lines = files["train"].read_bytes().splitlines()
            alphabet = list(b"abc /.\\-+0123456789 \t#\x00"
                            + (b"\xff\xe9" if case % 4 == 2 else b""))
            for _ in range(rng.randint(1, 4)):
                if rng.rand() < 0.5:      # a listed path with a random label or a cut path
                    path, label = lines[rng.randint(len(lines))].rsplit(b" ", 1)
                    junk = (path + b" " + str(rng.randint(-2, 6)).encode() if rng.rand() < 0.5
                            else path[:rng.randint(len(path))] + b" " + label)
                else:
                    junk = bytes(rng.choice(alphabet, rng.randint(0, 30)).astype(np.uint8))
                lines.insert(rng.randint(len(lines) + 1), junk)
            files["train"].write_bytes(b"\n".join(lines) + b"\n")
            args = ["--source", "splitfile", "--image-root", root,
                    "--train-list", files["train"]]
            if rng.rand() < 0.5:
                args += ["--class-names", names]
        if rng.rand() < 0.3:
            args.append("--skip-bad")
        out = work / "out"
        rc, lines_err = _run_cli(capsys, *args, "--output", out)
        assert rc in (0, 2), (case, lines_err)
        if rc == 2:
            _one_error_line(lines_err)
            assert not out.exists(), case
        else:
            assert PreparedDataset(out).num_classes >= 1
        assert not _leftovers(out), case
