"""Tests of keras_lt.data.pipeline on the current KERAS_BACKEND (tiny, fast)."""

import numpy as np
import pytest

import keras
from keras_lt.data.pipeline import MultiViewLoader, make_loader

MEAN = (0.5, 0.5, 0.5)
STD = (0.25, 0.25, 0.25)


class FakeSplit:
    """Same interface as a prepared split; image i encodes i in pixel (0, 0)."""

    def __init__(self, n=100, size=32, num_classes=10, seed=0):
        rng = np.random.default_rng(seed)
        self.images = rng.integers(0, 256, (n, size, size, 3), dtype=np.uint8)
        self.images[:, 0, 0, 0] = np.arange(n) % 256
        self.images[:, 0, 0, 1] = np.arange(n) // 256
        self.labels = rng.integers(0, num_classes, n).astype(np.int64)

    def __len__(self):
        return len(self.labels)

    def get_batch(self, indices):
        return self.images[np.asarray(indices)]

    def get_image(self, i):
        return self.images[i]


def decode(x):
    """Image index from a cifar_eval-normalised batch."""
    px = np.rint((x[:, 0, 0, :2] * np.float32(0.25) + np.float32(0.5)) * 255).astype(int)
    return px[:, 0] + 256 * px[:, 1]


def loader(split, views=("cifar_eval",), **kw):
    kw.setdefault("workers", 0)
    return make_loader(split, list(views), kw.pop("batch_size", 16), MEAN, STD, **kw)


@pytest.mark.parametrize("views", [["cifar_basic"], ["cifar_basic", "cifar_eval"],
                                   ["cifar_autoaug", "cifar_simaug", "cifar_eval"]])
def test_batch_shapes(views):
    ld = loader(FakeSplit(40), views)
    assert isinstance(ld, MultiViewLoader) and isinstance(ld, keras.utils.PyDataset)
    x, y = ld[1]
    assert y.shape == (16,) and y.dtype == np.int32
    xs = (x,) if len(views) == 1 else x
    if len(views) > 1:
        assert isinstance(x, tuple) and len(x) == len(views)
    for a in xs:
        assert a.shape == (16, 32, 32, 3) and a.dtype == np.float32


def test_labels_match_permutation_and_images():
    split = FakeSplit(50)
    ld = loader(split, ["cifar_eval", "cifar_basic"], seed=3)
    perm = np.random.default_rng([3, 0]).permutation(50)
    np.testing.assert_array_equal(ld.permutation(), perm)
    for i in range(len(ld)):
        (xe, xb), y = ld[i]
        idx = perm[i * 16:(i + 1) * 16]
        np.testing.assert_array_equal(y, split.labels[idx])
        np.testing.assert_array_equal(decode(xe), idx)


def test_drop_last_and_coverage():
    split = FakeSplit(50)
    assert len(loader(split, drop_last=True)) == 3
    ld = loader(split, drop_last=False)
    assert len(ld) == 4
    seen = np.concatenate([decode(ld[i][0]) for i in range(len(ld))])
    assert len(ld[3][1]) == 2
    assert sorted(seen) == list(range(50))  # whole epoch, no repeats
    with pytest.raises(IndexError):
        ld[4]


def test_no_shuffle_is_identity_order():
    ld = loader(FakeSplit(48), shuffle=False)
    np.testing.assert_array_equal(decode(ld[2][0]), np.arange(32, 48))


def test_deterministic_and_resume():
    split = FakeSplit(64)
    views = ["cifar_autoaug", "cifar_basic"]
    a, b = loader(split, views, seed=7), loader(split, views, seed=7)
    for i in (0, 3):
        (a0, a1), ya = a[i]
        (b0, b1), yb = b[i]
        np.testing.assert_array_equal(a0, b0)
        np.testing.assert_array_equal(a1, b1)
        np.testing.assert_array_equal(ya, yb)
    # the two views differ (independent augmentations of the same images)
    assert not np.array_equal(a[0][0][0], a[0][0][1])
    # epoch advance vs resume
    first = a[2]
    for i in range(len(a)):
        a[i]
    a.on_epoch_end()
    assert a.epoch == 1
    resumed = loader(split, views, seed=7, epoch=1)
    other = loader(split, views, seed=7)
    other.set_epoch(1)
    for ld in (resumed, other):
        for va, vb in zip(a[2][0], ld[2][0]):
            np.testing.assert_array_equal(va, vb)
    assert not np.array_equal(first[1], a[2][1]) or not np.array_equal(first[0][0], a[2][0][0])
    # a batch is independent of the order in which batches are requested
    c = loader(split, views, seed=7, epoch=1)
    _ = c[3]
    np.testing.assert_array_equal(c[2][0][0], a[2][0][0])


def test_epochs_and_seeds_change_order():
    ld = loader(FakeSplit(64))
    p0 = ld.permutation(0)
    assert not np.array_equal(p0, ld.permutation(1))
    assert not np.array_equal(p0, loader(FakeSplit(64), seed=1).permutation(0))
    assert sorted(ld.permutation(1)) == list(range(64))


def test_variable_size_split_with_imagenet_eval():
    class Ragged(FakeSplit):
        def get_batch(self, indices):
            return [self.images[i][: 20 + i % 5] for i in indices]

    ld = make_loader(Ragged(8), ["imagenet_eval"], 4, MEAN, STD, workers=0, image_size=24)
    x, y = ld[0]
    assert x.shape == (4, 24, 24, 3)


def test_bad_arguments():
    with pytest.raises(ValueError, match="known views"):
        loader(FakeSplit(8), ["nope"])
    with pytest.raises(ValueError):
        loader(FakeSplit(8), batch_size=16)  # drop_last leaves nothing


def _tiny_model(n_inputs=1):
    inputs = [keras.Input((32, 32, 3)) for _ in range(n_inputs)]
    x = inputs[0] if n_inputs == 1 else keras.layers.Concatenate()(inputs)
    x = keras.layers.Conv2D(4, 3, strides=4)(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    out = keras.layers.Dense(10)(x)
    model = keras.Model(inputs if n_inputs > 1 else inputs[0], out)
    model.compile(optimizer="sgd",
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    return model


@pytest.mark.parametrize("workers", [0, 2])
def test_fit_epochs(workers):
    ld = make_loader(FakeSplit(64), ["cifar_basic"], 8, MEAN, STD, workers=workers)
    hist = _tiny_model().fit(ld, epochs=2, shuffle=False, verbose=0)
    assert len(hist.history["loss"]) == 2 and np.isfinite(hist.history["loss"]).all()
    # keras' model-building peek at batch 0 does not count as an epoch
    assert ld.epoch == 2


def test_on_epoch_end_needs_full_epoch():
    ld = loader(FakeSplit(48))
    ld[0]
    ld.on_epoch_end()  # partial pass (e.g. keras peeking at batch 0)
    assert ld.epoch == 0
    for i in range(len(ld)):
        ld[i]
    ld.on_epoch_end()
    assert ld.epoch == 1


def test_epoch_callback_resume():
    ld = make_loader(FakeSplit(32), ["cifar_basic"], 16, MEAN, STD, workers=0)
    seen = []

    class Spy(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            seen.append(ld.epoch)

    _tiny_model().fit(ld, epochs=3, initial_epoch=1, shuffle=False, verbose=0,
                      callbacks=[ld.epoch_callback(), Spy()])
    assert seen == [1, 2]


def test_fit_two_views():
    ld = make_loader(FakeSplit(32), ["cifar_basic", "cifar_eval"], 16, MEAN, STD, workers=0)
    hist = _tiny_model(2).fit(ld, epochs=1, shuffle=False, verbose=0)
    assert np.isfinite(hist.history["loss"][0])


def test_threaded_prefetch_matches_and_survives_keras_peek():
    """workers>0 gives the same batches as workers=0, and keras' build peek
    (batch 0, then on_epoch_end) does not shift or duplicate batches."""
    from keras.src.trainers.epoch_iterator import EpochIterator

    split = FakeSplit(80)
    ref = loader(split, ["cifar_basic", "cifar_eval"], batch_size=8, workers=0)
    ld = loader(split, ["cifar_basic", "cifar_eval"], batch_size=8, workers=2)
    it = EpochIterator(x=ld, shuffle=False)
    for _ in it:  # what fit's _symbolic_build does
        break
    it.reset()
    for epoch in range(2):
        ref.set_epoch(epoch)
        got = [d[0] for _, _, d in it]
        assert len(got) == len(ref)
        for i, ((x0, x1), y) in enumerate(got):
            (r0, r1), ry = ref[i]
            np.testing.assert_array_equal(np.asarray(x0), r0)
            np.testing.assert_array_equal(np.asarray(x1), r1)
            np.testing.assert_array_equal(np.asarray(y), ry)
    assert ld.epoch == 2
    ld.close()


_NO_TF_SCRIPT = """
import sys
sys.modules["tensorflow"] = None          # any import of tensorflow now raises ImportError
import numpy as np, keras
from keras_lt.data.pipeline import make_loader
from keras_lt.models import build_model

class Split:
    images = np.random.default_rng(0).integers(0, 256, (32, 32, 32, 3), dtype=np.uint8)
    labels = np.arange(32) % 10
    def __len__(self):
        return 32
    def get_batch(self, i):
        return self.images[np.asarray(i)]

loader = make_loader(Split(), ["cifar_autoaug", "cifar_simaug"], 16, (0.5,) * 3, (0.25,) * 3,
                     workers=1)
x, y = loader[0]
assert len(x) == 2 and x[0].shape == (16, 32, 32, 3)
model = build_model({"backbone": "resnet20"}, 10, (32, 32, 3))
model.compile("sgd", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
single = make_loader(Split(), ["cifar_basic"], 16, (0.5,) * 3, (0.25,) * 3, workers=1)
model.fit(single, epochs=1, verbose=0, shuffle=False)
print("trained without tensorflow")
"""


@pytest.mark.skipif(keras.backend.backend() == "tensorflow", reason="checks torch and jax only")
def test_pipeline_and_training_need_no_tensorflow(tmp_path):
    """A GPU machine may have torch or jax and no TensorFlow: the input pipeline and
    a fit() must work with every tensorflow import failing."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    env = {**os.environ, "KERAS_BACKEND": keras.backend.backend(),
           "PYTHONPATH": str(root) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    out = subprocess.run([sys.executable, "-c", _NO_TF_SCRIPT], env=env, cwd=tmp_path,
                         capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    assert "trained without tensorflow" in out.stdout


_NO_TF_TOOLS_SCRIPT = """
import sys
root = sys.argv[1]
sys.path.insert(0, root + "/tools")
import train as train_tool, evaluate as evaluate_tool
from keras_lt.data.prepare import prepare_dataset
from keras_lt.hub.pretrained import from_pretrained

prepare_dataset("digits", "digits", progress=False)
assert train_tool.main(["--config", root + "/zoo_configs/demo-digits-resnet32.yaml",
                        "--set", "data.prepared=digits", "--set", "model.backbone=resnet20",
                        "--set", "optim.epochs=1", "--set", "data.workers=1",
                        "--set", "runtime.verbose=0", "--run-dir", "run"]) in (0, None)
assert evaluate_tool.main(["run"]) in (0, None)
model = from_pretrained(root + "/model_cards/la-resnet32-cifar10lt-if100")
print("tensorflow imported:", "tensorflow" in sys.modules)
"""


@pytest.mark.skipif(keras.backend.backend() == "tensorflow", reason="checks torch and jax only")
def test_train_evaluate_and_load_tools_never_import_tensorflow(tmp_path):
    """With TensorFlow installed, tools/train.py, tools/evaluate.py and from_pretrained on
    torch / JAX leave it unimported (it costs seconds and hundreds of MB)."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    env = {**os.environ, "KERAS_BACKEND": keras.backend.backend(), "HF_HUB_OFFLINE": "1",
           "PYTHONPATH": str(root) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    out = subprocess.run([sys.executable, "-c", _NO_TF_TOOLS_SCRIPT, str(root)], env=env,
                         cwd=tmp_path, capture_output=True, text=True, timeout=900)
    assert out.returncode == 0, out.stderr[-3000:]
    assert "tensorflow imported: False" in out.stdout, out.stdout[-2000:]
