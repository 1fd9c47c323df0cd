"""The model zoo: registry, save/from_pretrained (local folder, the real Hugging Face
cache layout offline, the bundled model_cards copy), cross-backend weights, cards,
publishing, predict and fine-tuning. A tiny ResNet-20 trained for one epoch on the
long-tailed digits stands in for a zoo checkpoint."""

import json
import os
import shutil
import subprocess
import sys

import keras
import numpy as np
import pytest
import yaml
from PIL import Image

from conftest import ROOT, TESTS
from helpers import run_on_backend
from keras_lt.config import load_config
from keras_lt.data.prepare import prepare_dataset
from keras_lt.hub import registry
from keras_lt.hub.export import export_run
from keras_lt.hub.pretrained import (PretrainedError, UnknownModelError, from_pretrained,
                                     inference_weights, read_pretrained_config)
from keras_lt.hub.publish import check_folder, parse_card
from keras_lt.train.loop import TrainingError, train

import keras_lt

NAME = "la-resnet20-cifar10lt-if20"          # a zoo-style name for the tiny digits model
UNPUBLISHED = "bccl-resnet20-cifar10lt-if20"
BACKENDS = ("torch", "tensorflow", "jax")


def tiny_recipe(data, name=NAME, **extra):
    overrides = [f"name={name}", f"data.prepared={data}", "model.backbone=resnet20",
                 "data.dataset=cifar10lt", "data.imbalance_factor=20", "data.workers=1", "optim.batch_size=64", "optim.epochs=1",
                 "optim.warmup_epochs=0", "eval.batch_size=128", "runtime.verbose=0"]
    overrides += [f"{k}={v}" for k, v in extra.items()]
    return load_config(ROOT / "zoo_configs" / "demo-digits-resnet32.yaml", overrides)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """(digits dataset, run dir, pretrained folder) of a one-epoch tiny run."""
    base = tmp_path_factory.mktemp("zoo")
    data = base / "digits-lt"
    prepare_dataset("digits", data, progress=False)
    run = base / "runs" / NAME
    train(tiny_recipe(data), run, verbose=0)
    cards = base / "model_cards"
    export_run(run, cards / NAME)
    configs = base / "zoo_configs"
    configs.mkdir()
    for name in (NAME, UNPUBLISHED):
        (configs / f"{name}.yaml").write_text(yaml.safe_dump(tiny_recipe(data, name=name)))
    return data, run, cards


@pytest.fixture
def zoo(trained, monkeypatch, tmp_path):
    """The registry pointed at the tiny zoo; an empty HF cache; offline."""
    data, run, cards = trained
    monkeypatch.setenv("KERAS_LT_ZOO_CONFIGS", str(cards.parent / "zoo_configs"))
    monkeypatch.setenv("KERAS_LT_ZOO_DIR", str(cards))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    return {"data": data, "run": run, "cards": cards, "folder": cards / NAME,
            "cache": tmp_path / "hf-cache"}


def digits_batch(data, n=6):
    from keras_lt.data.dataset import PreparedDataset

    split = PreparedDataset(data).split("test")
    return np.asarray(split.get_batch(np.arange(n)))


def logits_of(model, images):
    """Logits of uint8 images through the model's own preprocessing."""
    return np.asarray(model.predict_on_batch(np.asarray(images)))


def normalised_logits(model, images, info):
    """Logits of a normalised-input model (a training model) on uint8 images of its input
    size, normalised with ``info.preprocessing``'s mean and std."""
    pre = info.preprocessing
    x = (np.asarray(images) / 255.0 - np.asarray(pre["mean"])) / np.asarray(pre["std"])
    return np.asarray(model.predict_on_batch(x.astype("float32")))


# ---------------------------------------------------------------------------- registry


def test_registry_lists_every_zoo_recipe_with_status_and_repo_ids(monkeypatch):
    entries = {e.name: e for e in registry.list_models()}
    for path in (ROOT / "zoo_configs").glob("*.yaml"):
        name = yaml.safe_load(path.read_text())["name"]
        assert (name in entries) == (not name.startswith("demo-")), name
    e = entries["bccl-resnet50-imagenetlt"]
    assert (e.method, e.backbone, e.dataset, e.imbalance_factor) == ("bccl", "resnet50",
                                                                      "imagenetlt", None)
    assert e.repo_id == f"{registry.DEFAULT_ORG}/bccl-resnet50-imagenetlt" and not e.published
    assert entries["la-resnet32-cifar10lt-if100"].imbalance_factor == 100
    monkeypatch.setenv("KERAS_LT_HUB_ORG", "my-lab")
    assert registry.get_entry("bccl-resnet50-imagenetlt").repo_id == "my-lab/bccl-resnet50-imagenetlt"
    assert registry.get_entry("my-lab/bccl-resnet50-imagenetlt").name == "bccl-resnet50-imagenetlt"


def test_published_entry_reports_card_metrics(zoo):
    (entry,) = registry.list_models(published_only=True)
    assert entry.name == NAME and entry.status == "published"
    report = json.loads((zoo["run"] / "test_report.json").read_text())
    assert entry.metrics["test"]["top1"] == round(100 * report["top1"], 2)
    assert keras_lt.list_models()[0].name in (NAME, UNPUBLISHED)


def test_unknown_name_lists_close_names(zoo):
    with pytest.raises(UnknownModelError, match=f"did you mean {NAME}"):
        from_pretrained("la-resnet20-cifar10lt-if2O")


def test_unpublished_entry_names_its_training_command(zoo):
    with pytest.raises(PretrainedError, match=f"keras-lt train --config .*{UNPUBLISHED}.yaml"):
        from_pretrained(UNPUBLISHED)


def test_real_zoo_unpublished_entries_say_how_to_train():
    with pytest.raises(PretrainedError, match="keras-lt train --config rebsupcon-resnext50-imagenetlt "):
        from_pretrained("rebsupcon-resnext50-imagenetlt")
    with pytest.raises(PretrainedError, match=r"(?s)bccl-resnet50-imagenetlt has no published "
                                              r"checkpoint.*keras-lt train --config .*"
                                              r"keras-lt convert <release .pth> --recipe "
                                              r"bccl-resnet50-imagenetlt"):
        from_pretrained("bccl-resnet50-imagenetlt")


# ---------------------------------------------------------------------------- loading


def test_local_folder_round_trip_and_metadata(zoo, trained):
    from keras_lt.config import load_config as load
    from keras_lt.models.builder import build_method_model

    model = from_pretrained(zoo["folder"])
    info = model.pretrained
    assert info.class_counts == tuple(int(c) for c in json.loads(
        (zoo["folder"] / "config.json").read_text())["config"]["class_counts"])
    assert list(model.class_names) == list(info.class_names)
    assert len(info.class_names) == model.num_classes == 10
    assert info.preprocessing["image_size"] == [16, 16]
    meta = json.loads((zoo["folder"] / "metadata.json").read_text())
    assert meta["backend"] == keras.backend.backend() and meta["parameters"] > 0
    assert meta["recipe"]["name"] == NAME and meta["name"] == NAME
    assert meta["data_provenance"]["tool"] == "keras_lt.prepare"
    # same logits as the run's best checkpoint
    cfg = load(zoo["run"] / "config.yaml")
    ref = build_method_model(cfg, 10, list(info.class_counts), (16, 16, 3), 1)
    ref.load_weights(zoo["run"] / "best.weights.h5")
    x = digits_batch(zoo["data"])
    np.testing.assert_allclose(logits_of(model, x), normalised_logits(ref, x, info), atol=1e-5)


def test_not_a_pretrained_folder_and_missing_path(zoo, tmp_path):
    with pytest.raises(PretrainedError, match="no config.json"):
        from_pretrained(tmp_path)
    with pytest.raises(PretrainedError, match="no such directory"):
        from_pretrained(str(tmp_path / "nope" / "x" / "y"))


def _hub_cache(cache, repo_id, folder, revision="main", commit="a" * 40):
    """Populate ``cache`` in the Hugging Face hub-cache layout (refs, snapshots, blobs)."""
    repo = cache / f"models--{repo_id.replace('/', '--')}"
    (repo / "refs").mkdir(parents=True, exist_ok=True)
    (repo / "refs" / revision).write_text(commit)
    snap = repo / "snapshots" / commit
    snap.mkdir(parents=True)
    (repo / "blobs").mkdir(exist_ok=True)
    for f in folder.iterdir():
        blob = repo / "blobs" / f"{commit[:8]}-{f.name}"
        shutil.copy2(f, blob)
        (snap / f.name).symlink_to(blob)
    return snap


def test_zoo_name_resolves_through_the_hf_cache_offline(zoo, monkeypatch):
    from keras_lt.hub.pretrained import resolve_pretrained

    repo_id = registry.get_entry(NAME).repo_id
    snap = _hub_cache(zoo["cache"], repo_id, zoo["folder"])
    monkeypatch.setenv("HF_HUB_CACHE", str(zoo["cache"]))
    path, source = resolve_pretrained(NAME, cache_dir=zoo["cache"])
    assert (path, source) == (snap, "hf-cache")
    # the Hub id works too, and a pinned revision resolves to its own snapshot
    v1 = _hub_cache(zoo["cache"], repo_id, zoo["folder"], revision="v1", commit="b" * 40)
    assert resolve_pretrained(repo_id, revision="v1", cache_dir=zoo["cache"]) == (v1, "hf-cache")
    model = from_pretrained(NAME, revision="v1", cache_dir=zoo["cache"])
    assert model.pretrained.directory == str(v1)
    # a revision that is not cached: offline error saying what to download
    with pytest.raises(PretrainedError, match=f"hf download {repo_id} --revision v2"):
        resolve_pretrained(NAME, revision="v2", cache_dir=zoo["cache"])


def test_without_cache_the_bundled_model_cards_copy_loads(zoo):
    from keras_lt.hub.pretrained import resolve_pretrained

    assert resolve_pretrained(NAME, cache_dir=zoo["cache"]) == (zoo["folder"], "bundled")


def test_unknown_hub_repo_offline_says_what_to_do(zoo):
    with pytest.raises(PretrainedError, match="HF_HUB_OFFLINE is set.*hf download someone/else"):
        from_pretrained("someone/else", cache_dir=zoo["cache"])


def test_truncated_weights_are_a_clear_error(zoo, tmp_path):
    bad = tmp_path / "bad"
    shutil.copytree(zoo["folder"], bad)
    data = (bad / "model.weights.h5").read_bytes()
    (bad / "model.weights.h5").write_bytes(data[: len(data) // 2])
    with pytest.raises(PretrainedError, match="model.weights.h5 is corrupt or was replaced"):
        from_pretrained(bad)
    # a folder without a checksum record: the reader's own error, still one clear line
    meta = json.loads((bad / "metadata.json").read_text())
    del meta["files"]
    (bad / "metadata.json").write_text(json.dumps(meta))
    with pytest.raises(PretrainedError, match="cannot load .*bad"):
        from_pretrained(bad)


# ---------------------------------------------------------------------------- cross-backend


@pytest.mark.parametrize("target", BACKENDS)
def test_saved_here_loads_on_every_other_backend(zoo, target, tmp_path):
    """With the suite run once per backend, this covers all six directions."""
    if target == keras.backend.backend():
        pytest.skip("same backend")
    x = digits_batch(zoo["data"])
    np.savez(tmp_path / "x.npz", x=x)
    model = from_pretrained(zoo["folder"])
    run_on_backend(target, TESTS / "load_pretrained_child.py", zoo["folder"], tmp_path / "x.npz",
                   tmp_path / "out.npz")
    out = np.load(tmp_path / "out.npz")
    assert str(out["backend"]) == target
    np.testing.assert_allclose(out["logits"], logits_of(model, x), atol=1e-5)
    for key, value in inference_weights(model).items():
        np.testing.assert_array_equal(out[key.replace("/", "__")], value)


# ---------------------------------------------------------------------------- predict


def test_predict_top_k_from_arrays_and_files(zoo, tmp_path):
    model = from_pretrained(zoo["folder"])
    x = digits_batch(zoo["data"], 3)
    res = keras_lt.predict(model, x, top_k=3)
    logits = logits_of(model, x)
    for r, row in zip(res, logits):
        assert r["indices"] == list(np.argsort(-row)[:3])
        assert r["labels"] == [model.pretrained.class_names[i] for i in r["indices"]]
        assert r["probs"] == sorted(r["probs"], reverse=True) and 0 < sum(r["probs"]) <= 1
    path = tmp_path / "img.png"
    Image.fromarray(x[0]).save(path)
    assert keras_lt.predict(model, str(path), top_k=3)[0]["indices"] == res[0]["indices"]
    # another size is resized to the model's input
    big = np.asarray(Image.fromarray(x[0]).resize((32, 32)))
    assert len(keras_lt.predict(model, big, top_k=2)[0]["labels"]) == 2


def test_predict_rejects_bad_images(zoo, tmp_path):
    model = from_pretrained(zoo["folder"])
    with pytest.raises(ValueError, match="uint8"):
        keras_lt.predict(model, np.zeros((16, 16, 3), "float32"))
    with pytest.raises(ValueError, match=r"RGB image of shape \(H, W, 3\)"):
        keras_lt.predict(model, np.zeros((16, 16, 4), "uint8"))
    with pytest.raises(FileNotFoundError, match="missing.png"):
        keras_lt.predict(model, [str(tmp_path / "missing.png")])
    (tmp_path / "junk.png").write_bytes(b"not an image")
    with pytest.raises(ValueError, match="cannot decode image .*junk.png"):
        keras_lt.predict(model, [tmp_path / "junk.png"])


# ---------------------------------------------------------------------------- cards, publish


def test_card_metadata_parses_and_matches_the_evaluation(zoo):
    data, results = parse_card(zoo["folder"] / "README.md")
    report = json.loads((zoo["folder"] / "eval_results.json").read_text())["results"]["test"]
    assert data["library_name"] == "keras" and data["license"] == "apache-2.0"
    got = {r.metric_name: r.metric_value for r in results}
    assert got["top-1"] == round(100 * report["top1"], 2)
    assert got["class-average"] == round(100 * report["class_avg"], 2)
    assert {r.dataset_split for r in results} == {"test"}
    text = (zoo["folder"] / "README.md").read_text()
    assert f'from_pretrained("{NAME}")' in text and "keras-lt train --init" in text
    assert f'keras.saving.load_model("hf://keras-lt/{NAME}")' in text


def test_committed_cards_are_generated_and_consistent():
    """Every model_cards/<name>/ card parses, matches its eval_results.json, and is exactly
    what the generator writes from the folder's own files (no hand edits)."""
    from keras_lt.hub.card import render_card
    from keras_lt.hub.pretrained import read_pretrained_config

    folders = sorted(p for p in (ROOT / "model_cards").glob("*") if p.is_dir())
    for folder in folders:
        config, meta = read_pretrained_config(folder)
        evals = json.loads((folder / "eval_results.json").read_text())["results"]
        images = sorted(p.name for p in folder.glob("*.png"))
        assert (folder / "README.md").read_text() == render_card(config, meta, evals, images), folder
        _, results = parse_card(folder / "README.md")
        top1 = {r.dataset_split: r.metric_value for r in results if r.metric_name == "top-1"}
        assert top1 == {s: round(100 * r["top1"], 2) for s, r in evals.items()}


def test_card_states_the_paper_figure_and_the_gap(zoo, tmp_path, monkeypatch, capsys):
    """A recipe with a published figure gets it on its card, with the gap to the card's own
    test top-1; refresh_card / tools/export.py --refresh-card rewrite only README.md."""
    from keras_lt.hub import paper_results
    from keras_lt.hub.pretrained import refresh_card

    folder = tmp_path / NAME
    shutil.copytree(zoo["folder"], folder)
    refresh_card(folder)            # the fixture wrote its zoo recipes after exporting
    assert refresh_card(folder) is False                       # nothing changed: no rewrite
    before = {p.name: p.read_bytes() for p in folder.iterdir()}
    assert "Published figure" not in before["README.md"].decode()
    monkeypatch.setitem(paper_results.PAPER_RESULTS, NAME,
                        paper_results.PaperResult(97.5, "Some et al., Table 9", "200 epochs"))
    sys.path.insert(0, str(ROOT / "tools"))
    import export

    assert export.main(["--refresh-card", str(folder)]) == 0
    assert "rewritten" in capsys.readouterr().out
    card = (folder / "README.md").read_text()
    top1 = 100 * json.loads((folder / "eval_results.json").read_text())["results"]["test"]["top1"]
    assert (f"**97.50** top-1 (Some et al., Table 9; 200 epochs). This checkpoint: {top1:.2f}, "
            f"a gap of {top1 - 97.5:+.2f} points.") in card
    assert {p.name: p.read_bytes() for p in folder.iterdir() if p.name != "README.md"} == \
        {k: v for k, v in before.items() if k != "README.md"}
    assert not list(folder.glob(".*"))                          # no temporary file left
    assert export.main(["--refresh-card", str(folder), "--note", "lr scaled to 30 epochs"]) == 0
    assert "- Why it departs from the recipe: lr scaled to 30 epochs" in \
        (folder / "README.md").read_text()
    meta = json.loads((folder / "metadata.json").read_text())
    assert meta["training"]["note"] == "lr scaled to 30 epochs"
    assert (folder / "model.safetensors").read_bytes() == before["model.safetensors"]
    assert export.main(["--refresh-card", str(tmp_path)]) == 2  # not a pretrained folder
    assert "no config.json" in capsys.readouterr().err


def test_paper_figures_are_for_existing_recipes():
    from keras_lt.hub.paper_results import PAPER_RESULTS

    for name, ref in PAPER_RESULTS.items():
        assert (ROOT / "zoo_configs" / f"{name}.yaml").is_file(), name
        # a printed table, or the authors' own README at a pinned commit
        assert 0 < ref.top1 < 100
        assert "Table" in ref.source or ("README" in ref.source and "@" in ref.source), name


def test_publish_dry_run_lists_files_and_refuses_pickles(zoo, tmp_path, capsys):
    sys.path.insert(0, str(ROOT / "tools"))
    import publish

    assert publish.main([str(zoo["folder"]), "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert f"would upload" in out and f"{registry.DEFAULT_ORG}/{NAME}" in out
    assert "model.safetensors" in out and "README.md" in out
    bad = tmp_path / "bad"
    shutil.copytree(zoo["folder"], bad)
    (bad / "extra.pth").write_bytes(b"x")
    with pytest.raises(PretrainedError, match="pickles"):
        check_folder(bad)
    (bad / "extra.pth").unlink()
    (bad / "README.md").write_text("---\nmodel-index: [\n---\nbroken\n")
    with pytest.raises(PretrainedError, match="invalid model card"):
        check_folder(bad)


def test_save_pretrained_leaves_nothing_half_written(zoo, tmp_path, monkeypatch):
    from keras_lt.hub import pretrained as P

    model = from_pretrained(zoo["folder"], for_training=True)
    recipe = json.loads((zoo["folder"] / "metadata.json").read_text())["recipe"]
    names, counts = model.pretrained.class_names, model.pretrained.class_counts

    def boom(*a, **k):
        raise RuntimeError("disk full")

    monkeypatch.setattr(P, "render_card", boom)
    with pytest.raises(RuntimeError, match="disk full"):
        P.save_pretrained(model, tmp_path / "out", recipe, names, counts)
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(FileExistsError):
        P.save_pretrained(model, zoo["folder"], recipe, names, counts)


# ---------------------------------------------------------------------------- fine-tuning


def _lt_imagefolder(root, counts=(12, 6, 3), size=16, test=2):
    rng = np.random.default_rng(0)
    for split, per in (("train", counts), ("test", (test,) * len(counts))):
        for c, n in enumerate(per):
            d = root / split / f"class_{c}"
            d.mkdir(parents=True)
            for i in range(n):
                img = np.clip(rng.normal(60 * (c + 1), 30, (size, size, 3)), 0, 255).astype("uint8")
                Image.fromarray(img).save(d / f"{i:03d}.png")
    return root


def test_finetune_on_a_new_longtailed_imagefolder(zoo, tmp_path):
    """Three new classes: new classifier and priors, backbone from the checkpoint,
    frozen for the first epoch (resumed across the unfreeze), then trained."""
    from keras_lt.train.finetune import finetune_config

    src = _lt_imagefolder(tmp_path / "src")
    data = tmp_path / "prepared"
    prepare_dataset("imagefolder", data, input=src, val_per_class=1, progress=False)
    run = tmp_path / "ft"
    sys.path.insert(0, str(ROOT / "tools"))
    import train as train_tool

    args = ["--init", NAME, "--data", str(data), "--freeze-backbone-epochs", "1",
            "--set", "optim.epochs=2", "--set", "optim.batch_size=8", "--set", "runtime.verbose=0",
            "--stop-after", "1", "--run-dir", str(run)]
    assert train_tool.main(args) == 0
    cfg = load_config(run / "config.yaml")
    assert cfg["finetune"]["init"] == NAME and cfg["data"]["prepared"] == str(data)
    pre = from_pretrained(NAME)
    from keras_lt.models.builder import build_method_model

    after1 = build_method_model(cfg, 3, [11, 5, 2], (16, 16, 3), 1)
    after1.load_weights(run / "last.weights.h5", skip_mismatch=True)
    for a, b in zip(after1.backbone.weights, pre.classifier.backbone.weights):      # frozen epoch
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(a), keras.ops.convert_to_numpy(b))
    assert after1.classifier.weights[0].shape[-1] == 3
    assert train_tool.main(["--run-dir", str(run), "--resume", "--verbose", "0"]) == 0
    assert json.loads((run / "state.json").read_text())["epoch"] == 2
    done = build_method_model(cfg, 3, [11, 5, 2], (16, 16, 3), 1)
    done.load_weights(run / "last.weights.h5", skip_mismatch=True)
    moved = [not np.array_equal(keras.ops.convert_to_numpy(a), keras.ops.convert_to_numpy(b))
             for a, b in zip(done.backbone.trainable_weights, pre.classifier.backbone.trainable_weights)]
    assert any(moved)                                                      # then trained
    assert (run / "test_report.json").is_file()
    # the fine-tuned run exports with its base model named on the card
    out = export_run(run, tmp_path / "card", base_model=NAME)
    data_, _ = parse_card(out / "README.md")
    assert data_["base_model"] == NAME
    # library call builds the same recipe
    assert finetune_config(NAME, data, overrides=["optim.epochs=2"])["name"] == f"{NAME}-finetuned"


def test_finetune_errors_name_the_mismatch(zoo, tmp_path, capsys):
    src = _lt_imagefolder(tmp_path / "src", size=8)
    data = tmp_path / "prepared8"
    prepare_dataset("imagefolder", data, input=src, val_per_class=1, progress=False)
    from keras_lt.train.finetune import finetune_config

    # another input size is not an error: the run fine-tunes at the data's size and says so
    cfg = finetune_config(NAME, data, overrides=["optim.epochs=1", "runtime.verbose=0", "optim.batch_size=8"])
    train(cfg, tmp_path / "r1", verbose=0)
    assert "trained on 16x16 inputs, fine-tuned on the data's 8x8" in capsys.readouterr().out
    cfg = finetune_config(NAME, zoo["data"], overrides=["optim.epochs=1", "runtime.verbose=0", "optim.batch_size=8",
                                                        "finetune.keep_classifier=true",
                                                        "model.backbone=resnet32"])
    with pytest.raises(TrainingError, match="backbone resnet32 .*differs from .*resnet20"):
        train(cfg, tmp_path / "r2", verbose=0)
    src3 = _lt_imagefolder(tmp_path / "src3")
    data3 = tmp_path / "prepared3"
    prepare_dataset("imagefolder", data3, input=src3, val_per_class=1, progress=False)
    cfg = finetune_config(NAME, data3, overrides=["optim.epochs=1", "runtime.verbose=0", "optim.batch_size=8",
                                                  "finetune.keep_classifier=true"])
    with pytest.raises(TrainingError, match="keep_classifier is true but .* 10 classes and the data 3"):
        train(cfg, tmp_path / "r3", verbose=0)


def test_evaluate_tool_checks_a_pretrained_model_against_its_card(zoo, tmp_path, capsys):
    sys.path.insert(0, str(ROOT / "tools"))
    import evaluate as evaluate_tool

    assert evaluate_tool.main([NAME, "--data", str(zoo["data"]), "--check-card",
                               "--out", str(tmp_path / "rep")]) == 0
    assert "reproduced" in capsys.readouterr().out
    assert (tmp_path / "rep" / "test_report.json").is_file()
    # a card whose number is off fails the check
    bad = tmp_path / "bad"
    shutil.copytree(zoo["folder"], bad)
    evals = json.loads((bad / "eval_results.json").read_text())
    evals["results"]["test"]["top1"] += 0.01
    (bad / "eval_results.json").write_text(json.dumps(evals))
    assert evaluate_tool.main([str(bad), "--data", str(zoo["data"]), "--check-card"]) == 1
    assert "NOT reproduced" in capsys.readouterr().out
    assert evaluate_tool.main([NAME]) == 2
    assert "needs --data" in capsys.readouterr().err
    # run-directory diagnostics are refused by name, not silently skipped
    assert evaluate_tool.main([NAME, "--data", str(zoo["data"]), "--linear-probe", "--tsne"]) == 2
    assert "--tsne, --linear-probe need a run directory" in capsys.readouterr().err


def test_bundled_bccl_checkpoint_for_training_restores_its_state(monkeypatch, tmp_path):
    """The published BCCL folder: for_training=True gives the BCCL model with its trained
    step counter and centroids; its predictions equal the inference model's."""
    from huggingface_hub import constants

    from keras_lt.models.bccl import BCCL

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    name = "bccl-resnet32-cifar10lt-if100"
    full = from_pretrained(name, for_training=True, cache_dir=tmp_path)
    plain = from_pretrained(name, cache_dir=tmp_path)
    assert isinstance(full, BCCL) and not isinstance(plain, BCCL)
    assert int(keras.ops.convert_to_numpy(full.steps)) > 0
    assert np.abs(keras.ops.convert_to_numpy(full.centroids)).sum() > 0
    x = np.random.default_rng(0).integers(0, 255, (4, 32, 32, 3), dtype=np.uint8)
    np.testing.assert_allclose(normalised_logits(full, x, plain.pretrained), logits_of(plain, x),
                               atol=1e-5)


# ---------------------------------------------------------------------------- integrity


def _flip_payload_byte(path, offset=-64):
    data = bytearray(path.read_bytes())
    data[offset] ^= 0xFF
    path.write_bytes(bytes(data))


def test_folders_record_and_check_their_weights(zoo, tmp_path):
    """Export records each weights file's sha256; a flipped payload byte (which safetensors
    would load silently) is refused with the file named."""
    from keras_lt.hub.pretrained import weight_checksums

    meta = json.loads((zoo["folder"] / "metadata.json").read_text())
    assert meta["files"] == weight_checksums(zoo["folder"])
    assert {"model.weights.h5", "model.safetensors"} <= set(meta["files"])
    for name in ("model.weights.h5", "model.safetensors"):
        bad = tmp_path / name
        shutil.copytree(zoo["folder"], bad)
        _flip_payload_byte(bad / name)
        with pytest.raises(PretrainedError, match=rf"{name}/{name} is corrupt or was replaced"):
            from_pretrained(str(bad))


def test_bundled_training_weights_are_checked_too(tmp_path):
    src = ROOT / "model_cards" / "bccl-resnet32-cifar10lt-if100"
    bad = tmp_path / "bccl"
    shutil.copytree(src, bad)
    assert from_pretrained(str(bad)).num_classes == 10      # the inference part is intact
    _flip_payload_byte(bad / "training.weights.h5", offset=len((bad / "training.weights.h5")
                                                                .read_bytes()) // 2)
    with pytest.raises(PretrainedError, match="training.weights.h5 is corrupt"):
        from_pretrained(str(bad), for_training=True)


def test_a_config_whose_classes_disagree_is_refused(zoo, tmp_path):
    bad = tmp_path / "bad"
    shutil.copytree(zoo["folder"], bad)
    config = json.loads((bad / "config.json").read_text())
    config["config"]["class_names"] = config["config"]["class_names"][:-1]
    (bad / "config.json").write_text(json.dumps(config))
    with pytest.raises(PretrainedError, match=r"config.json: the architecture has 10 classes but "
                                              r"the config lists 9 class names"):
        from_pretrained(str(bad))


def test_a_run_records_what_it_trained_on_and_export_reads_it(zoo, tmp_path):
    """Class names, counts, normalisation and input shape are resolved once, when training
    starts, into state.json; export reads them from there (it needs neither the prepared
    dataset nor the test report's class list)."""
    from keras_lt.data.dataset import PreparedDataset

    state = json.loads((zoo["run"] / "state.json").read_text())
    ds = PreparedDataset(zoo["data"])
    assert state["data"] == {"class_names": list(ds.class_names),
                             "class_counts": [int(c) for c in ds.train_counts],
                             "mean": [float(m) for m in ds.mean], "std": [float(s) for s in ds.std],
                             "image_shape": [16, 16, 3]}
    run = tmp_path / "run"
    shutil.copytree(zoo["run"], run)
    state["data"]["class_names"] = [f"digit {n}" for n in ds.class_names]
    (run / "state.json").write_text(json.dumps(state))
    cfg = yaml.safe_load((run / "config.yaml").read_text())
    cfg["data"]["prepared"] = str(tmp_path / "gone")
    (run / "config.yaml").write_text(yaml.safe_dump(cfg))
    folder = export_run(run, tmp_path / "folder")
    config, _ = read_pretrained_config(folder)
    assert config["class_names"] == state["data"]["class_names"]
    assert config["preprocessing"]["mean"] == state["data"]["mean"]


def test_list_models_filters_and_prints_a_table():
    bccl = keras_lt.list_models(published=True, method="bccl")
    assert bccl and all(e.published and e.method == "bccl" for e in bccl)
    assert {e.name for e in keras_lt.list_models(dataset="imagenetlt")} == {
        "bccl-resnet50-imagenetlt", "bccl-resnext50-imagenetlt", "rebsupcon-resnet50-imagenetlt",
        "rebsupcon-resnext50-imagenetlt"}
    waiting = keras_lt.list_models(published=False)
    assert waiting and not any(e.published for e in waiting)
    table = repr(bccl).splitlines()
    assert table[0].split() == ["name", "dataset", "method", "status", "test", "top-1"]
    row = next(line for line in table if line.startswith("bccl-resnet32-cifar10lt-if100 "))
    assert row.split()[-1] == "80.45" and "/" not in row          # no file paths
    assert "from_pretrained" in dir(keras_lt) and "list_models" in dir(keras_lt)


def test_card_metrics_have_distinct_types():
    """The Hub's model-index tells top-1 from class-average and the shot groups by type."""
    text = (ROOT / "model_cards" / "bccl-resnet32-cifar10lt-if100" / "README.md").read_text()
    front = yaml.safe_load(text.split("---")[1])
    (result,) = front["model-index"][0]["results"]
    types = {m["name"]: m["type"] for m in result["metrics"]}
    assert types == {"top-1": "accuracy", "class-average": "class_average_accuracy",
                     "many-shot": "many_shot_accuracy", "medium-shot": "medium_shot_accuracy"}
    assert result["dataset"]["name"] == "CIFAR-10-LT (imbalance factor 100)"


def test_the_inference_model_carries_its_preprocessing(zoo, tmp_path):
    """Raw pixels of any size in: the same logits as the normalised input at the model's own
    size, a resize for other sizes; survives a .keras file; on TensorFlow also a SavedModel
    with a (None, None, None, 3) uint8 signature."""
    model = from_pretrained(zoo["folder"])
    x = digits_batch(zoo["data"], 4)
    np.testing.assert_allclose(logits_of(model, x),
                               normalised_logits(model.classifier, x, model.pretrained),
                               atol=1e-5)
    big = np.repeat(np.repeat(x, 2, axis=1), 2, axis=2)          # 32x32: resized to 16x16
    assert logits_of(model, big).shape == (4, 10)
    assert tuple(model.preprocessor(big).shape) == (4, 16, 16, 3)
    model.save(tmp_path / "m.keras")
    again = keras.saving.load_model(tmp_path / "m.keras")
    assert again.class_names == model.class_names
    np.testing.assert_allclose(logits_of(again, big), logits_of(model, big), atol=1e-5)
    if keras.backend.backend() != "tensorflow":
        return
    import tensorflow as tf

    model.export(str(tmp_path / "sm"), format="tf_saved_model", verbose=False,
                 input_signature=[tf.TensorSpec((None, None, None, 3), tf.uint8)])
    served = tf.saved_model.load(str(tmp_path / "sm"))      # kept: it owns the variables
    for images in (x, big):
        np.testing.assert_allclose(served.serve(tf.constant(images)).numpy(), logits_of(model, images),
                                   atol=1e-4)


def test_the_packaged_zoo_index_is_current(monkeypatch):
    """keras_lt/zoo_index.json (what an installed keras-lt knows of its zoo) is exactly what
    zoo_configs/ and model_cards/ give: regenerate it with tools/zoo_index.py."""
    from keras_lt.config import ZOO_INDEX
    from keras_lt.hub.registry import build_index, index_text

    assert index_text(build_index(ROOT / "zoo_configs", ROOT / "model_cards")) == \
        ZOO_INDEX.read_text(), "stale: run python tools/zoo_index.py"
    monkeypatch.delenv("KERAS_LT_ZOO_CONFIGS", raising=False)
    # a packaged recipe by name resolves like its file
    assert load_config("bccl-resnet32-cifar10lt-if50") == load_config(
        ROOT / "zoo_configs" / "bccl-resnet32-cifar10lt-if50.yaml")


def test_import_keras_lt_registers_every_serializable_class():
    """No lazy gaps: every Keras class keras-lt registers (layers, models, schedules,
    initializers) is known to Keras' deserialization right after ``import keras_lt``."""
    walk = ("import importlib, inspect, pkgutil, keras, keras_lt\n"
            "for m in pkgutil.walk_packages(keras_lt.__path__, 'keras_lt.'):\n"
            "    mod = importlib.import_module(m.name)\n"
            "    for obj in vars(mod).values():\n"
            "        if inspect.isclass(obj) and obj.__module__ == mod.__name__:\n"
            "            name = keras.saving.get_registered_name(obj)\n"
            "            if name.startswith('keras_lt>'): print(name)\n")
    check = ("import sys, keras, keras_lt\n"
             "print([n for n in sys.argv[1:] if keras.saving.get_registered_object(n) is None])")
    env = dict(os.environ, KERAS_BACKEND=keras.backend.backend())
    names = subprocess.run([sys.executable, "-c", walk], capture_output=True, text=True, env=env,
                           check=True, timeout=300).stdout.split()
    assert "keras_lt>LTImageClassifier" in names and "keras_lt>ImagePreprocessor" in names
    out = subprocess.run([sys.executable, "-c", check, *names], capture_output=True, text=True,
                         env=env, check=True, timeout=300).stdout
    assert out.strip() == "[]"
