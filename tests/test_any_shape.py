"""Every method's recipe on data that is not CIFAR: 28, 48 and 64 px, RGB and grayscale.

Each zoo recipe trains two steps on a tiny synthetic long-tailed image folder of one of
the six (size, colour) kinds (the recipes are spread over the kinds so that every kind
and every recipe runs once), with its own views, method and losses; only the network is
shrunk (ResNet-20, small heads and queues). The views must make images of the data's
size and the normalisation must say when it is not the data's own. A CIFAR checkpoint
from the zoo is fine-tuned onto one of the sets.
"""

import json
import sys

import numpy as np
import pytest
from PIL import Image

from conftest import ROOT
from keras_lt.config import load_config
from keras_lt.data.prepare import prepare_dataset
from keras_lt.data.dataset import statistics_note
from keras_lt.train.loop import train

KINDS = [(28, "RGB"), (48, "L"), (64, "RGB"), (28, "L"), (48, "RGB"), (64, "L")]
COUNTS = (13, 7, 4, 3)            # train images per class before one per class goes to val

#: recipe -> the (size, colour) kind it trains on
RECIPES = {
    "ce-resnet32-cifar10lt-if100": KINDS[0],
    "la-resnet32-cifar10lt-if100": KINDS[1],
    "balsoftmax-resnet32-cifar10lt-if100": KINDS[2],
    "bccl-resnet32-cifar10lt-if100": KINDS[3],
    "bccl_scl-resnet32-cifar10lt-if100": KINDS[4],
    "bccl_scl_cl-resnet32-cifar10lt-if100": KINDS[5],
    "bccl_scl_lc-resnet32-cifar10lt-if100": KINDS[0],
    "bccl-resnet50-imagenetlt": KINDS[2],
    "rebsupcon-resnet32-cifar10lt-if100": KINDS[1],
    "rebsupcon_supcon-resnet32-cifar10lt-if100": KINDS[3],
    "rebsupcon_reb-resnet32-cifar10lt-if100": KINDS[4],
    "rebsupcon_proto-resnet32-cifar10lt-if100": KINDS[5],
    "rebsupcon-resnet50-imagenetlt": KINDS[0],
}

SHRINK = ["model.backbone=resnet20", "model.width=1", "data.workers=0", "optim.batch_size=8",
          "eval.batch_size=16", "runtime.jit_compile=false", "runtime.verbose=0",
          "data.image_size=null",
          "bccl.feat_dim=16", "bccl.head_hidden=32", "bccl.queue_size=8", "bccl.num_centroids=2",
          "bccl.kmeans_iters=3",
          "rebsupcon.feat_dim=16", "rebsupcon.head_hidden=32", "rebsupcon.queue_size=16",
          "rebsupcon.num_prototypes=12"]


def _image(rng, size, mode, label):
    """A class-dependent colour blob on noise, so the classes differ."""
    x = rng.integers(0, 60, (size, size, 3)).astype(np.uint8)
    x[size // 4: 3 * size // 4, size // 4: 3 * size // 4, label % 3] = 200
    img = Image.fromarray(x)
    return img.convert("L") if mode == "L" else img


@pytest.fixture(scope="module")
def datasets(tmp_path_factory):
    """(size, mode) -> a prepared long-tailed dataset of four classes."""
    out = {}
    root = tmp_path_factory.mktemp("any-shape")
    for size, mode in KINDS:
        rng = np.random.default_rng(size)
        src = root / f"src-{size}-{mode}"
        for split, counts in (("train", COUNTS), ("test", (2, 2, 2, 2))):
            for label, n in enumerate(counts):
                folder = src / split / f"class{label}"
                folder.mkdir(parents=True)
                for i in range(n):
                    _image(rng, size, mode, label).save(folder / f"{i:03d}.png")
        out[size, mode] = prepare_dataset("imagefolder", root / f"prepared-{size}-{mode}",
                                          input=src, val_per_class=1, progress=False).path
    return out


def _recipe(name, data):
    overrides = [o for o in SHRINK if o.split(".")[0] != ("rebsupcon" if "bccl" in name else
                                                           "bccl")]
    return load_config(ROOT / "zoo_configs" / f"{name}.yaml", [f"data.prepared={data}", *overrides])


@pytest.mark.parametrize("name", sorted(RECIPES))
def test_every_recipe_trains_on_data_of_any_size_and_colour(name, datasets, tmp_path, capsys):
    size, mode = RECIPES[name]
    cfg = _recipe(name, datasets[size, mode])
    summary = train(cfg, tmp_path / "run", max_steps=2, verbose=0)
    assert summary["steps"] == 2, summary
    printed = capsys.readouterr().out
    # the recipes normalise with CIFAR / ImageNet statistics: said, not silent
    assert "not this dataset's own mean" in printed


def test_the_views_make_images_of_the_data_size(datasets):
    """Every view of the recipes above turns a 48 px image into a 48 px one."""
    from keras_lt.data.augment import make_view

    rng = np.random.default_rng(0)
    image = np.asarray(_image(rng, 48, "RGB", 0))[None]
    views = {v for n in RECIPES for v in load_config(ROOT / "zoo_configs" / f"{n}.yaml")["data"]
             ["views"]}
    views |= {"cifar_eval", "imagenet_eval"}
    for view in sorted(views):
        out = make_view(view, [0.5] * 3, [0.25] * 3, [48, 48])(image, rng)
        assert out.shape == (1, 48, 48, 3), (view, out.shape)


def test_statistics_note_only_when_the_recipe_overrides():
    assert statistics_note([0.5] * 3, [0.2] * 3, [0.5] * 3, [0.2] * 3) is None
    note = statistics_note([0.49, 0.48, 0.45], [0.2, 0.2, 0.2], [0.3] * 3, [0.2] * 3)
    assert "data.mean=null" in note and "0.3000" in note


def test_finetune_a_cifar_checkpoint_on_grayscale_48px(datasets, tmp_path, capsys):
    """The zoo's 32 px CIFAR-10 logit-adjustment model, fine-tuned on the 48 px grayscale
    set: new classifier for its four classes, the data's own size, a test report."""
    sys.path.insert(0, str(ROOT / "tools"))
    import train as train_tool

    run = tmp_path / "ft"
    args = ["--init", str(ROOT / "model_cards" / "la-resnet32-cifar10lt-if100"),
            "--data", str(datasets[48, "L"]), "--set", "optim.epochs=1",
            "--set", "optim.batch_size=8", "--set", "data.workers=0",
            "--set", "runtime.verbose=0", "--run-dir", str(run)]
    assert train_tool.main(args) == 0
    assert "trained on 32x32 inputs, fine-tuned on the data's 48x48" in capsys.readouterr().out
    report = json.loads((run / "test_report.json").read_text())
    assert report["num_samples"] == 8 and len(report["per_class"]) == 4
