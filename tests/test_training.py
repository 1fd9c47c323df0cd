"""The training loop, resume and the train/evaluate tools, end to end on a tiny
long-tailed digits dataset (ResNet-20 at 16x16, a few seconds per run)."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pytest

from conftest import ROOT
from keras_lt.config import load_config
from keras_lt.data.prepare import prepare_dataset
from keras_lt.train.loop import TrainingError, train

sys.path.insert(0, str(ROOT / "tools"))


@pytest.fixture(scope="module")
def digits(tmp_path_factory):
    out = tmp_path_factory.mktemp("data") / "digits-lt"
    prepare_dataset("digits", out, progress=False)
    return out


def tiny_cfg(data, **optim):
    overrides = [f"data.prepared={data}", "model.backbone=resnet20", "data.workers=1",
                 "optim.batch_size=64", "optim.warmup_epochs=1", "eval.batch_size=128",
                 "runtime.verbose=0"]
    overrides += [f"optim.{k}={v}" for k, v in optim.items()]
    return load_config(ROOT / "zoo_configs" / "demo-digits-resnet32.yaml", overrides)


def weights_of(path, cfg, ds_classes=10):
    from keras_lt.models import build_model

    model = build_model(cfg["model"], ds_classes, (16, 16, 3))
    model.load_weights(path)
    return [np.asarray(keras.ops.convert_to_numpy(v)) for v in model.weights]


@pytest.fixture(scope="module")
def straight_run(digits, tmp_path_factory):
    """A finished 2-epoch run (shared: building and training cost seconds per backend)."""
    run = tmp_path_factory.mktemp("runs") / "straight"
    metrics = train(tiny_cfg(digits, epochs=2), run, verbose=0)
    return run, metrics


def test_train_writes_run_directory_and_report(digits, straight_run):
    cfg = tiny_cfg(digits, epochs=2)
    run, metrics = straight_run
    for name in ("config.yaml", "last.weights.h5", "best.weights.h5", "state.json", "log.csv",
                 "test_report.json", "test_report_per_class.csv", "test_report_confusion.csv",
                 "test_report_per_class.png"):
        assert (run / name).is_file(), name
    state = json.loads((run / "state.json").read_text())
    assert state["epoch"] == 2 and len(state["history"]) == 2
    assert state["best_epoch"] in (1, 2)
    # model selection used the val split: the best epoch has the best val class-average
    val = [row["val_class_avg"] for row in state["history"]]
    assert state["best_score"] == pytest.approx(max(val))
    report = json.loads((run / "test_report.json").read_text())
    assert report["info"]["selected_on"] == "val class_avg"
    assert report["info"]["checkpoint"].endswith("best.weights.h5")
    assert report["num_samples"] == metrics["num_samples"] > 0
    assert {"many", "medium", "few", "class_avg", "top1"} <= set(report)
    assert len((run / "log.csv").read_text().strip().splitlines()) == 3   # header + 2 epochs
    # the last epoch is reported too when it is not the selected one
    if state["best_epoch"] == 2:
        assert not (run / "last").exists()
    else:
        last = json.loads((run / "last" / "test_report.json").read_text())
        assert last["info"]["weights"] == "last" and last["info"]["weights_epoch"] == 2
        assert last["info"]["checkpoint"].endswith("last.weights.h5")
    # a second run into the same directory is refused (would mix two runs)
    with pytest.raises(TrainingError, match="--resume"):
        train(cfg, run, verbose=0)


def test_final_report_adds_the_last_epoch_and_export_keeps_it(digits, straight_run, tmp_path):
    """With the selected epoch before the last, the last checkpoint gets its own test report
    (``last/``), and the exported card records it beside the selected one."""
    import shutil

    from keras_lt.hub.export import last_epoch_test
    from keras_lt.models.builder import build_method_model
    from keras_lt.data.dataset import load_data
    from keras_lt.eval.runner import final_report

    run = tmp_path / "run"
    shutil.copytree(straight_run[0], run)
    shutil.rmtree(run / "last", ignore_errors=True)
    state = json.loads((run / "state.json").read_text())
    state["best_epoch"] = 1                       # pretend epoch 1 won on val
    cfg = tiny_cfg(digits, epochs=2)
    ds, mean, std, shape = load_data(cfg)
    model = build_method_model(cfg, ds.num_classes, list(ds.train_counts), shape, 1)
    final_report(model, ds, cfg, run, state, mean, std)
    last = json.loads((run / "last" / "test_report.json").read_text())
    best = json.loads((run / "test_report.json").read_text())
    assert last["info"]["checkpoint"].endswith("last.weights.h5")
    assert best["info"]["checkpoint"].endswith("best.weights.h5")
    kept = last_epoch_test(run, state, best)
    assert kept["epoch"] == 2 and kept["top1"] == last["top1"]
    state["best_epoch"] = 2                       # the selected epoch is the last: same report
    shutil.rmtree(run / "last")
    assert last_epoch_test(run, state, best)["top1"] == best["top1"]
    state["best_epoch"] = 1                       # neither: nothing is invented
    assert last_epoch_test(run, state, best) is None


def test_resume_continues_exactly(digits, straight_run, tmp_path):
    """2 epochs in one go == 1 epoch, stop, resume for the 2nd (weights, optimizer step, log)."""
    cfg = tiny_cfg(digits, epochs=2)
    straight, chunked = straight_run[0], tmp_path / "chunked"
    assert train(cfg, chunked, verbose=0, stop_after=1) is None
    state = json.loads((chunked / "state.json").read_text())
    assert state["epoch"] == 1 and not (chunked / "test_report.json").exists()
    with pytest.raises(TrainingError, match="differs"):
        train(tiny_cfg(digits, epochs=3, lr=0.01), chunked, resume=True, verbose=0)
    with pytest.raises(TrainingError, match="cannot resume"):
        train(cfg, tmp_path / "nothing-here", resume=True, verbose=0)
    train(cfg, chunked, resume=True, verbose=0)
    a = weights_of(straight / "last.weights.h5", cfg)
    b = weights_of(chunked / "last.weights.h5", cfg)
    assert len(a) == len(b)
    worst = max(float(np.max(np.abs(x - y)) / (np.max(np.abs(x)) + 1e-12)) for x, y in zip(a, b))
    assert worst < 1e-4, worst
    sa = json.loads((straight / "state.json").read_text())
    sb = json.loads((chunked / "state.json").read_text())
    assert sb["epoch"] == 2
    assert [r["loss"] for r in sb["history"]] == pytest.approx([r["loss"] for r in sa["history"]],
                                                               rel=1e-4)
    assert (chunked / "test_report.json").is_file()


def assert_same_weights(path_a, path_b, cfg):
    a, b = weights_of(path_a, cfg), weights_of(path_b, cfg)
    assert len(a) == len(b)
    worst = max(float(np.max(np.abs(x - y)) / (np.max(np.abs(x)) + 1e-12)) for x, y in zip(a, b))
    assert worst < 1e-4, worst


class Killed(BaseException):
    """Stands for the process being killed (not an Exception: nothing may catch it)."""


@pytest.mark.parametrize("moment", ["before_commit", "after_commit"])
def test_a_kill_while_saving_resumes_from_a_consistent_checkpoint(digits, straight_run, tmp_path,
                                                                  monkeypatch, moment):
    """Kill the run while epoch 2's checkpoint is written: after its weights file is saved but
    before the record is committed, or after the commit but before the run directory's plain
    files are refreshed. ``--resume`` then continues from epoch 1 or finishes from epoch 2,
    and ends with the uninterrupted run's weights and losses (never an epoch off)."""
    import keras_lt.train.checkpoint as ckpt_mod
    import keras_lt.train.loop as training_mod

    cfg = tiny_cfg(digits, epochs=2)
    run = tmp_path / "run"
    assert train(cfg, run, verbose=0, stop_after=1) is None
    if moment == "before_commit":
        real = ckpt_mod.atomic_write_json

        def write_json(path, data):
            if Path(path).parent.name == "checkpoint" and data.get("epoch") == 2:
                assert (Path(path).parent / "e0002.weights.h5").is_file()   # weights are saved
                raise Killed()
            real(path, data)
        monkeypatch.setattr(ckpt_mod, "atomic_write_json", write_json)
    else:
        real = training_mod.publish_view

        def publish(folder, run_dir, state):
            if state["epoch"] == 2:
                raise Killed()
            real(folder, run_dir, state)
        monkeypatch.setattr(training_mod, "publish_view", publish)
    with pytest.raises(Killed):
        train(cfg, run, resume=True, verbose=0)
    monkeypatch.undo()
    committed = json.loads((run / "checkpoint" / "state.json").read_text())
    assert committed["epoch"] == (1 if moment == "before_commit" else 2)
    assert train(cfg, run, resume=True, verbose=0) is not None
    assert_same_weights(straight_run[0] / "last.weights.h5", run / "last.weights.h5", cfg)
    state = json.loads((run / "state.json").read_text())
    straight = json.loads((straight_run[0] / "state.json").read_text())
    assert [r["epoch"] for r in state["history"]] == [1, 2]
    assert [r["loss"] for r in state["history"]] == pytest.approx(
        [r["loss"] for r in straight["history"]], rel=1e-4)
    assert len((run / "log.csv").read_text().strip().splitlines()) == 3
    # replaced, not accumulated: the last epoch's file and at most one best-epoch file
    kept = sorted(p.name for p in (run / "checkpoint").iterdir())
    assert {"config.yaml", "state.json", "e0002.weights.h5"} <= set(kept) and len(kept) <= 4, kept
    assert not [name for name in kept if ".tmp-" in name], kept


def test_resume_refuses_an_inconsistent_checkpoint(digits, straight_run, tmp_path):
    """Weights of another epoch, a changed file or a broken record are refused with the file
    and the reason; a consistent run directory of the older layout (no record) is resumed."""
    import shutil

    cfg = tiny_cfg(digits, epochs=2)
    one = tmp_path / "one"
    train(cfg, one, verbose=0, stop_after=1)
    epoch2 = straight_run[0] / "last.weights.h5"          # optimizer step 2 x steps

    swapped = tmp_path / "swapped"
    shutil.copytree(one, swapped)
    shutil.copyfile(epoch2, swapped / "checkpoint" / "e0001.weights.h5")
    with pytest.raises(TrainingError, match="e0001.weights.h5 does not match its record"):
        train(cfg, swapped, resume=True, verbose=0)

    broken = tmp_path / "broken"
    shutil.copytree(one, broken)
    (broken / "checkpoint" / "state.json").write_text('{"epoch": 1, "hist')
    with pytest.raises(TrainingError, match="not valid JSON"):
        train(cfg, broken, resume=True, verbose=0)

    # the older layout: state.json at epoch 1 but last.weights.h5 of epoch 2 (a kill
    # between the two writes) is refused on the optimizer step ...
    legacy = tmp_path / "legacy"
    shutil.copytree(one, legacy)
    shutil.rmtree(legacy / "checkpoint")
    state = json.loads((legacy / "state.json").read_text())
    state.pop("checkpoint")
    (legacy / "state.json").write_text(json.dumps(state))
    good = legacy / "last.weights.h5"
    shutil.copyfile(good, tmp_path / "epoch1.weights.h5")
    shutil.copyfile(epoch2, good)
    with pytest.raises(TrainingError, match="optimizer step"):
        train(cfg, legacy, resume=True, verbose=0)
    assert not (legacy / "checkpoint").exists()
    # ... and resumed when consistent, continuing in the checkpoint layout
    shutil.copyfile(tmp_path / "epoch1.weights.h5", good)
    train(cfg, legacy, resume=True, verbose=0)
    assert json.loads((legacy / "checkpoint" / "state.json").read_text())["epoch"] == 2
    assert_same_weights(epoch2, legacy / "last.weights.h5", cfg)
    # an older-layout run stopped at epoch 1 gets a mirrored checkpoint without training on
    legacy1 = tmp_path / "legacy1"
    shutil.copytree(legacy, legacy1, ignore=shutil.ignore_patterns("checkpoint", "test_report*"))
    (legacy1 / "state.json").write_text(json.dumps(state))
    shutil.copyfile(tmp_path / "epoch1.weights.h5", legacy1 / "last.weights.h5")
    assert train(cfg, legacy1, resume=True, verbose=0, stop_after=0, mirror=tmp_path / "m") is None
    assert json.loads((tmp_path / "m" / "state.json").read_text())["epoch"] == 1
    assert (tmp_path / "m" / "e0001.weights.h5").is_file()


def test_resume_from_a_mirrored_checkpoint_on_another_machine(digits, straight_run, tmp_path):
    """``--mirror`` keeps a complete copy of the checkpoint (config included, at most two
    weights files); ``--resume-from`` that copy into a fresh run directory, without the
    original run directory or ``--config``, ends where the uninterrupted run ends."""
    import shutil

    import train as train_tool

    cfg = tiny_cfg(digits, epochs=2)
    first = tmp_path / "machine-a" / "run"
    mirror = tmp_path / "repo" / "resume"
    train(cfg, first, verbose=0, stop_after=1, mirror=mirror)
    names = sorted(p.name for p in mirror.iterdir())
    assert names == ["config.yaml", "e0001.weights.h5", "state.json"], names
    shutil.rmtree(tmp_path / "machine-a")
    second = tmp_path / "machine-b" / "run"
    assert train_tool.main(["--resume-from", str(mirror), "--run-dir", str(second),
                            "--mirror", str(mirror), "--verbose", "0"]) == 0
    assert_same_weights(straight_run[0] / "last.weights.h5", second / "last.weights.h5", cfg)
    assert json.loads((mirror / "state.json").read_text())["epoch"] == 2
    assert len([p for p in mirror.iterdir() if p.name.endswith(".weights.h5")]) <= 2
    assert (second / "test_report.json").is_file()
    # the copy is not resumed over a run directory that already holds a run
    assert train_tool.main(["--resume-from", str(mirror), "--run-dir", str(second)]) == 2


def test_missing_dataset_is_a_clear_error(tmp_path):
    cfg = tiny_cfg(tmp_path / "no-such-dataset", epochs=1)
    with pytest.raises(TrainingError, match="prepare_data.py"):
        train(cfg, tmp_path / "run", verbose=0)


def test_train_and_evaluate_tools(digits, tmp_path, capsys):
    import evaluate as evaluate_tool
    import train as train_tool

    run = tmp_path / "run"
    args = ["--config", str(ROOT / "zoo_configs" / "demo-digits-resnet32.yaml"), "--run-dir",
            str(run), "--set", f"data.prepared={digits}", "--set", "model.backbone=resnet20",
            "--set", "optim.epochs=1", "--set", "data.workers=0", "--verbose", "0"]
    assert train_tool.main(args) == 0
    assert train_tool.main(args) == 2          # refuses to overwrite; says --resume
    assert "--resume" in capsys.readouterr().err
    out = tmp_path / "val-report"
    assert evaluate_tool.main([str(run), "--weights", "last", "--split", "val",
                               "--out", str(out)]) == 0
    report = json.loads((out / "val_report.json").read_text())
    assert report["info"]["split"] == "val" and report["num_samples"] > 0
    assert report["info"]["weights"] == "last" and report["info"]["weights_epoch"] == 1
    assert (out / "val_report_per_class.png").stat().st_size > 1000
    printed = capsys.readouterr().out
    assert "class-avg" in printed and "few" in printed
    assert evaluate_tool.main([str(tmp_path)]) == 2
    assert "not a run directory" in capsys.readouterr().err
    assert train_tool.main(["--run-dir", str(tmp_path / "x"), "--resume"]) == 2


def bccl_cfg(data, **optim):
    overrides = ["method=bccl", "data.views=[cifar_basic, cifar_basic]", "model.classifier=cosine",
                 "bccl.feat_dim=16", "bccl.head_hidden=32", "bccl.queue_size=8",
                 "bccl.num_centroids=2", "bccl.kmeans_iters=3", "bccl.refresh_every=1"]
    cfg = tiny_cfg(data, **optim)
    from keras_lt.config import apply_override

    for o in overrides:
        cfg = apply_override(cfg, o)
    return cfg


def bccl_state(run, cfg):
    from keras_lt.data.dataset import PreparedDataset
    from keras_lt.models.builder import build_method_model

    ds = PreparedDataset(cfg["data"]["prepared"])
    model = build_method_model(cfg, ds.num_classes, list(ds.train_counts), (16, 16, 3), 1)
    model.load_weights(run / "last.weights.h5")
    return {name: keras.ops.convert_to_numpy(v) for name, v in (
        ("queue", model.queue.features), ("count", model.queue.count), ("head", model.queue.head),
        ("centroids", model.centroids), ("steps", model.steps))}


def test_bccl_recipe_trains_and_resumes_with_the_same_queues(digits, tmp_path):
    """tools/train.py's loop with method: bccl -- 3 epochs straight == 1 epoch,
    stop, resume for 2: same queue contents, centroids and step count, so the
    k-means refreshes after the resume see the same features."""
    cfg = bccl_cfg(digits, epochs=3)
    straight, chunked = tmp_path / "straight", tmp_path / "chunked"
    metrics = train(cfg, straight, verbose=0)
    assert {"top1", "class_avg", "many", "medium", "few"} <= set(metrics)
    assert train(cfg, chunked, verbose=0, stop_after=1) is None
    after_one = bccl_state(chunked, cfg)
    assert after_one["count"].min() > 0 and np.abs(after_one["queue"]).sum() > 0
    train(cfg, chunked, resume=True, verbose=0)
    a, b = bccl_state(straight, cfg), bccl_state(chunked, cfg)
    assert int(a["steps"]) == int(b["steps"]) > 0
    np.testing.assert_array_equal(a["count"], b["count"])
    np.testing.assert_array_equal(a["head"], b["head"])
    np.testing.assert_allclose(a["queue"], b["queue"], atol=2e-4)
    np.testing.assert_allclose(a["centroids"], b["centroids"], atol=2e-4)
    assert np.linalg.norm(a["centroids"], axis=-1).min() > 0.1     # refreshed after warm-up
    import loss_breakdown

    terms = loss_breakdown.breakdown(straight)
    assert terms["step"] == int(a["steps"])
    for key in ("scl_warmup", "scl_after_warmup", "centroid_after_warmup", "lc_after_warmup",
                "l2_penalty"):
        assert np.isfinite(terms[key]) and terms[key] > 0, key
    assert terms["centroid_warmup"] == 0.0


def test_bccl_recipe_needs_two_views(digits, tmp_path):
    from keras_lt.config import apply_override

    cfg = apply_override(bccl_cfg(digits, epochs=1), "data.views=[cifar_basic]")
    with pytest.raises(TrainingError, match="two views"):
        train(cfg, tmp_path / "run", verbose=0)


def test_every_zoo_recipe_loads_and_names_known_settings():
    """Each recipe in zoo_configs/ parses (unknown keys are errors), names known
    views and backbone, and its name matches its file name."""
    from keras_lt.backbones import BACKBONES
    from keras_lt.data.pipeline import KNOWN_VIEWS
    from keras_lt.models.registry import method_names

    recipes = sorted((ROOT / "zoo_configs").glob("*.yaml"))
    assert len(recipes) >= 14
    for path in recipes:
        cfg = load_config(path)
        assert cfg["name"] == path.stem, path
        assert cfg["method"] in method_names(), path
        assert cfg["model"]["backbone"] in BACKBONES, path
        assert set(cfg["data"]["views"]) | {cfg["data"]["eval_view"]} <= set(KNOWN_VIEWS), path
        if cfg["method"] == "bccl":
            assert len(cfg["data"]["views"]) >= 2, path


def rebsupcon_cfg(data, **optim):
    from keras_lt.config import apply_override

    cfg = tiny_cfg(data, **optim)
    for o in ("method=rebsupcon", "data.views=[cifar_basic, cifar_basic]",
              "rebsupcon.feat_dim=16", "rebsupcon.head_hidden=32", "rebsupcon.queue_size=96",
              "rebsupcon.num_prototypes=12", "rebsupcon.momentum=0.9"):
        cfg = apply_override(cfg, o)
    return cfg


def test_rebsupcon_recipe_trains_and_resumes_exactly(digits, tmp_path):
    """2 epochs straight == 1 epoch, stop, resume: same key encoder, queue (keys,
    labels, pointer), gradient statistics and prototypes."""
    from keras_lt.data.dataset import PreparedDataset
    from keras_lt.models.builder import build_method_model

    cfg = rebsupcon_cfg(digits, epochs=2)
    straight, chunked = tmp_path / "straight", tmp_path / "chunked"
    metrics = train(cfg, straight, verbose=0)
    assert {"top1", "class_avg"} <= set(metrics)
    train(cfg, chunked, verbose=0, stop_after=1)
    train(cfg, chunked, resume=True, verbose=0)
    ds = PreparedDataset(cfg["data"]["prepared"])

    def state(run):
        model = build_method_model(cfg, ds.num_classes, list(ds.train_counts), (16, 16, 3), 1)
        model.load_weights(run / "last.weights.h5")
        return model

    a, b = state(straight), state(chunked)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(a.queue_labels),
                                  keras.ops.convert_to_numpy(b.queue_labels))
    assert int(keras.ops.convert_to_numpy(a.queue_ptr)) == int(keras.ops.convert_to_numpy(b.queue_ptr))
    for name in ("queue_keys", "grad_norm", "prototypes"):
        np.testing.assert_allclose(keras.ops.convert_to_numpy(getattr(a, name)),
                                   keras.ops.convert_to_numpy(getattr(b, name)), atol=2e-4,
                                   err_msg=name)
    for va, vb in zip(a.key_backbone.weights, b.key_backbone.weights):
        np.testing.assert_allclose(keras.ops.convert_to_numpy(va), keras.ops.convert_to_numpy(vb),
                                   atol=2e-4, rtol=1e-3)
    assert (keras.ops.convert_to_numpy(a.queue_labels) >= 0).all()
    import loss_breakdown

    terms = loss_breakdown.breakdown(straight)
    assert len(terms["omega"]) == ds.num_classes and all(0 < w <= 1 for w in terms["omega"])
    for key in ("reb_weighted", "reb_unweighted", "swap", "aggregation", "batch_accuracy"):
        assert np.isfinite(terms[key]), key
    # tools/evaluate.py rebuilds the run's own model class and writes the diagnostics
    import evaluate as evaluate_tool

    assert evaluate_tool.main([str(straight), "--weights", "last", "--split", "val",
                               "--out", str(tmp_path / "eval"), "--grad-norms", "--tsne",
                               "--linear-probe"]) == 0
    for name in ("val_report.json", "grad_norms.png", "val_tsne.png", "val_probe_report.json"):
        assert (tmp_path / "eval" / name).is_file(), name
    probe = json.loads((tmp_path / "eval" / "val_probe_report.json").read_text())
    assert probe["info"]["probe"]["l2"] in [s["l2"] for s in probe["info"]["probe"]["l2_search"]]
    assert 0.0 <= probe["top1"] <= 1.0 and probe["num_samples"] == len(ds.split("val").labels)


@pytest.mark.parametrize("method", ["baseline", "bccl", "rebsupcon"])
def test_mixed_float16_unscales_the_update_and_keeps_method_state_float32(digits, method):
    """runtime.precision=mixed_float16: the optimizer scales the loss (LossScaleOptimizer)
    and unscales the gradients, so one step from the same weights on the same batch moves
    the weights as the float32 step does (a missing unscale would make it ~32768x larger);
    the global policy is restored, and queues, centroids, prototypes and the models'
    outputs stay float32."""
    from keras_lt.config import apply_override
    from keras_lt.data.dataset import PreparedDataset
    from keras_lt.data.pipeline import make_loader
    from keras_lt.train.loop import build_training_model

    make_cfg = {"baseline": tiny_cfg, "bccl": bccl_cfg, "rebsupcon": rebsupcon_cfg}[method]
    cfg = apply_override(make_cfg(digits, epochs=1, warmup_epochs=0, momentum=0.0),
                         "runtime.jit_compile=false")     # one step: compiling costs more
    ds = PreparedDataset(digits)
    counts = [int(c) for c in ds.train_counts]
    loader = make_loader(ds.split("train"), views=cfg["data"]["views"], batch_size=64,
                         mean=ds.mean, std=ds.std, shuffle=False, drop_last=True, workers=1)
    x, y = loader[0]
    loader.close()
    models = {p: build_training_model(apply_override(cfg, f"runtime.precision={p}"),
                                      ds.num_classes, counts, (16, 16, 3), 2)
              for p in ("float32", "mixed_float16")}
    assert keras.mixed_precision.dtype_policy().name == "float32"
    mixed = models["mixed_float16"]
    start = models["float32"].get_weights()      # every variable: weights, queues, counters
    assert isinstance(mixed.optimizer, keras.optimizers.LossScaleOptimizer)
    assert mixed.backbone.dtype_policy.compute_dtype == "float16"
    deltas, skipped = {}, 0
    for p, model in models.items():
        for _ in range(8):
            # a step whose scaled float16 gradients overflow is skipped and the scale
            # halved (dynamic loss scaling); retry it from the same state
            model.set_weights(start)
            before = [keras.ops.convert_to_numpy(v) for v in model.trainable_weights]
            model.train_on_batch(x, y)
            if int(keras.ops.convert_to_numpy(model.optimizer.iterations)) == 1:
                break
            skipped += 1
        assert int(keras.ops.convert_to_numpy(model.optimizer.iterations)) == 1, p
        deltas[p] = np.concatenate([(keras.ops.convert_to_numpy(v) - b).ravel() for v, b in
                                    zip(model.trainable_weights, before)])
    scale = float(keras.ops.convert_to_numpy(mixed.optimizer.dynamic_scale))
    assert scale == 2.0 ** (15 - skipped) and scale > 1.0
    assert np.linalg.norm(deltas["float32"]) > 0
    rel = np.linalg.norm(deltas["mixed_float16"] - deltas["float32"]) / np.linalg.norm(
        deltas["float32"])
    assert rel < 0.2, rel            # float16 rounding; an unscaled update is off by ~1e4
    for v in mixed.weights:
        if "float" in str(v.dtype):
            assert keras.backend.standardize_dtype(v.dtype) == "float32", v.path
    out = mixed(x if isinstance(x, (tuple, list)) else (x,) * 2, training=False) \
        if method != "baseline" else {"logits": mixed(x)}
    for name, value in out.items():
        assert keras.backend.standardize_dtype(value.dtype) == "float32", name


@pytest.mark.parametrize("method", ["baseline", "bccl"])
def test_training_model_has_its_optimizer_slots_before_the_first_step(digits, method):
    """The optimizer is built with the model: its slots exist before ``fit`` (on TensorFlow a
    first step that creates them is traced twice). ``fit`` then uses those slots, and on
    TensorFlow the training step is traced once."""
    from keras_lt.config import apply_override
    from keras_lt.data.dataset import PreparedDataset
    from keras_lt.data.pipeline import make_loader
    from keras_lt.train.loop import build_training_model

    cfg = (tiny_cfg if method == "baseline" else bccl_cfg)(digits, epochs=1)
    cfg = apply_override(cfg, "runtime.jit_compile=false")
    ds = PreparedDataset(digits)
    counts = [int(c) for c in ds.train_counts]
    model = build_training_model(cfg, ds.num_classes, counts, (16, 16, 3), 2)
    assert model.optimizer.built
    slots = [v.path for v in model.optimizer.variables]
    assert len(slots) > len(model.trainable_variables)      # a momentum per weight, and more
    traced = []
    step = model.train_step
    model.train_step = lambda *args: (traced.append(1), step(*args))[1]
    loader = make_loader(ds.split("train"), views=cfg["data"]["views"], batch_size=64,
                         mean=ds.mean, std=ds.std, shuffle=False, drop_last=True, workers=0)
    model.fit(loader, epochs=1, steps_per_epoch=3, verbose=0, shuffle=False)
    loader.close()
    assert [v.path for v in model.optimizer.variables] == slots
    assert int(keras.ops.convert_to_numpy(model.optimizer.iterations)) == 3
    if keras.backend.backend() == "tensorflow":
        assert len(traced) == 1, f"the training step was traced {len(traced)} times"


def test_tools_skip_keras_integrations_they_never_use(tmp_path):
    """A tool's start imports keras without JAX (on torch and TensorFlow) and scikit-learn
    (Keras' optional Orbax shim and wrappers; about a second of every start), and both still
    import afterwards for code that wants them."""
    code = ("import sys; sys.path.insert(0, 'tools')\n"
            "from keras_lt_cli.bootstrap import UNUSED_BY_KERAS, select_backend\n"
            "backend = select_backend(None, announce=False)\n"
            "skipped = UNUSED_BY_KERAS[backend]\n"
            "assert 'keras' in sys.modules\n"
            "assert not [m for m in skipped if m in sys.modules], sys.modules.keys()\n"
            "import importlib\n"
            "for m in skipped:\n"
            "    importlib.import_module(m)\n"
            "import keras_lt\n"
            "print('ok', backend, *skipped)\n")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                         env={**os.environ, "KERAS_BACKEND": keras.backend.backend()}, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split()[:2] == ["ok", keras.backend.backend()]
    assert "sklearn" in out.stdout.split()


def test_a_mixed_float16_run_resumes(digits, tmp_path):
    """A mixed_float16 run (LossScaleOptimizer) resumes with its whole optimizer state: the
    optimizer's variables are built once, so the checkpoint loads back into the same variables
    (building them twice added a second loss-scale counter, and Keras then skipped loading the
    optimizer, loss scale included, with a warning)."""
    import warnings

    from keras_lt.config import apply_override

    cfg = apply_override(tiny_cfg(digits, epochs=2), "runtime.precision=mixed_float16")
    cfg = apply_override(cfg, "runtime.jit_compile=false")
    run = tmp_path / "mixed"
    assert train(cfg, run, verbose=0, stop_after=1) is None
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        metrics = train(cfg, run, resume=True, verbose=0)
    assert not [w for w in caught if "Skipping variable loading" in str(w.message)]
    assert json.loads((run / "state.json").read_text())["epoch"] == 2
    assert 0.0 <= metrics["top1"] <= 1.0


def test_tools_default_to_the_fastest_installed_backend(tmp_path):
    """Without --backend or KERAS_BACKEND the tools pick torch (the fastest measured end to
    end on a CPU), whatever Keras' config file names; each says which and why."""
    code = ("import os, sys; sys.path.insert(0, 'tools'); from keras_lt_cli import bootstrap; "
            "bootstrap.select_backend(None, load=False); print(os.environ.get('KERAS_BACKEND'))")
    env = {k: v for k, v in os.environ.items() if k != "KERAS_BACKEND"}
    env["KERAS_HOME"] = str(tmp_path)

    def chosen():
        done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, text=True,
                              capture_output=True, check=True)
        # (TensorFlow's own start-up lines on standard error are not the tool's)
        said = [ln for ln in done.stderr.splitlines() if ln.startswith("backend:")]
        return said + done.stdout.strip().splitlines()

    default = ["backend: torch (default: first installed of torch, tensorflow, jax)", "torch"]
    assert chosen() == default
    (tmp_path / "keras.json").write_text(json.dumps({"backend": "jax"}))
    assert chosen() == default          # keras.json does not decide
    env["KERAS_BACKEND"] = "tensorflow"
    assert chosen() == ["backend: tensorflow ($KERAS_BACKEND)", "tensorflow"]


def test_unknown_backend_is_one_line_before_keras_is_imported(tmp_path):
    """``KERAS_BACKEND=<unknown>``: tools/train.py exits 2 with one line, without importing
    Keras (so it is fast and shows no Keras traceback)."""
    env = {**os.environ, "KERAS_BACKEND": "pytorch"}
    done = subprocess.run([sys.executable, "-X", "importtime", str(ROOT / "tools" / "train.py"),
                           "--run-dir", str(tmp_path / "run"), "--config", "x.yaml"],
                          env=env, text=True, capture_output=True, timeout=120)
    assert done.returncode == 2
    errors = [line for line in done.stderr.splitlines() if not line.startswith("import time:")]
    assert errors == ["error: $KERAS_BACKEND names 'pytorch', not a Keras backend; choose one "
                      "of torch, tensorflow, jax"]
    # -X importtime lists every module imported (keras_lt_cli is the command, not Keras)
    assert not re.search(r"\| +keras(\.|$)", done.stderr, re.M)
    assert not (tmp_path / "run").exists()


def test_tools_say_which_backend_they_use(tmp_path, capsys):
    import evaluate as evaluate_tool
    import export as export_tool

    backend = keras.backend.backend()
    assert evaluate_tool.main([str(tmp_path)]) == 2
    assert capsys.readouterr().err.splitlines()[0] == f"backend: {backend} ($KERAS_BACKEND)"
    assert export_tool.main([str(tmp_path / "no-run"), "--out", str(tmp_path / "out"),
                             "--backend", backend]) == 2
    assert capsys.readouterr().err.splitlines()[0] == f"backend: {backend} (--backend)"


@pytest.fixture(scope="module")
def tiny_split(tmp_path_factory):
    """Digits with 33 training images (fewer than the recipes' batch sizes)."""
    out = tmp_path_factory.mktemp("data") / "digits-tiny"
    prepare_dataset("digits", out, n_max=6, imbalance_factor=3, val_per_class=2, progress=False)
    return out


def test_a_split_smaller_than_the_batch_trains_with_a_fitting_batch(tiny_split, tmp_path, capsys):
    """optim.batch_size 128 on 33 training images: batch 32 with one note, recorded in the
    run's config; a fine-tune's frozen and unfrozen phases count epochs of the whole run,
    a one-epoch phase says "epoch 1", and output that is not a terminal gets one line per
    epoch (no progress-bar redraws or ANSI codes)."""
    import train as train_tool

    import yaml

    run = tmp_path / "run"
    assert train_tool.main([
        "--config", str(ROOT / "zoo_configs" / "demo-digits-resnet32.yaml"), "--run-dir", str(run),
        "--set", f"data.prepared={tiny_split}", "--set", "model.backbone=resnet20",
        "--set", "optim.batch_size=128", "--set", "optim.epochs=2", "--set", "data.workers=0",
        "--set", "optim.warmup_epochs=0", "--freeze-backbone-epochs", "1"]) == 0
    captured = capsys.readouterr()
    out = captured.out
    lines = out.splitlines()
    assert captured.err.splitlines()[0] == f"backend: {keras.backend.backend()} ($KERAS_BACKEND)"
    notes = [line for line in lines if line.startswith("note:")]
    assert notes == ["note: the training split has 33 images, fewer than optim.batch_size 128; "
                     "training with batch size 32 (choose another with "
                     "--set optim.batch_size=N)"]
    for path in (run / "config.yaml", run / "checkpoint" / "config.yaml"):
        assert yaml.safe_load(path.read_text())["optim"]["batch_size"] == 32
    assert "epoch 1 of 2: backbone frozen" in lines
    assert "epoch 2 of 2: backbone trained" in lines
    assert [line for line in lines if line.startswith("Epoch ")] == ["Epoch 1/2", "Epoch 2/2"]
    assert "\x1b[" not in out and "\r" not in out and "\b" not in out
    state = json.loads((run / "state.json").read_text())
    assert state["epoch"] == 2 and (run / "test_report.json").is_file()
    # the same recipe resumes: the batch is lowered the same way, so the hash matches
    assert train_tool.main(["--run-dir", str(run), "--resume", "--verbose", "0"]) == 0


def test_fit_batch_size_rules():
    from keras_lt.train.loop import fit_batch_size

    cfg = load_config(None, ["optim.batch_size=128"])
    assert fit_batch_size(cfg, 128) == (cfg, None)
    fitted, note = fit_batch_size(cfg, 85)
    assert fitted["optim"]["batch_size"] == 64 and cfg["optim"]["batch_size"] == 128
    assert "--set optim.batch_size=" in note
    assert fit_batch_size(cfg, 1)[0]["optim"]["batch_size"] == 1
    bccl = load_config(None, ["method=bccl", "optim.batch_size=128"])
    assert fit_batch_size(bccl, 3)[0]["optim"]["batch_size"] == 2
    with pytest.raises(TrainingError, match="needs at least 2"):
        fit_batch_size(bccl, 1)


def test_console_formatting():
    import io

    from keras_lt.train.loop import epochs_label, resolve_verbose

    assert epochs_label(1, 1) == "epoch 1" and epochs_label(3, 5) == "epochs 3-5"

    class Tty(io.StringIO):
        def isatty(self):
            return True

    assert resolve_verbose("auto", io.StringIO()) == 2
    assert resolve_verbose("auto", Tty()) == 1
    assert resolve_verbose(0, Tty()) == 0 and resolve_verbose("1", io.StringIO()) == 1


def test_a_failed_start_leaves_no_run_directory(digits, tmp_path, capsys):
    """Errors found while checking the data, recipe and model leave nothing on disk, so the
    next run starts clean; an unwritable --run-dir is one line from tools/train.py."""
    import train as train_tool
    from keras_lt.config import apply_override

    cfg = apply_override(bccl_cfg(digits, epochs=1), "data.views=[cifar_basic]")
    with pytest.raises(TrainingError, match="two views"):
        train(cfg, tmp_path / "a" / "run", verbose=0)
    cfg = apply_override(tiny_cfg(digits, epochs=1), "model.backbone=no-such-net")
    with pytest.raises(Exception):
        train(cfg, tmp_path / "a" / "run", verbose=0)
    with pytest.raises(TrainingError, match="more than one epoch"):
        train(tiny_cfg(digits, epochs=1), tmp_path / "a" / "run", verbose=0, max_steps=10**6)
    assert not (tmp_path / "a").exists()
    blocker = tmp_path / "file"
    blocker.write_text("")
    args = ["--config", str(ROOT / "zoo_configs" / "demo-digits-resnet32.yaml"),
            "--set", f"data.prepared={digits}", "--run-dir", str(blocker / "run")]
    assert train_tool.main(args) == 2
    err = [line for line in capsys.readouterr().err.splitlines() if not line.startswith("backend: ")]
    assert err == [f"error: cannot create run directory {blocker / 'run'}: {blocker} is not a "
                   f"directory"]


def test_a_failed_write_removes_what_it_created(tmp_path, monkeypatch):
    import keras_lt.train.loop as training_mod

    real = training_mod.atomic_write_text

    def write(path, text):
        if Path(path).parent.name == "checkpoint":
            raise PermissionError(13, "Permission denied")
        real(path, text)
    monkeypatch.setattr(training_mod, "atomic_write_text", write)
    cfg = load_config(None)
    with pytest.raises(TrainingError, match=r"cannot write run directory .*: Permission denied"):
        training_mod.create_run_dir(tmp_path / "new" / "run", cfg)
    assert not (tmp_path / "new").exists()
    (tmp_path / "old").mkdir()
    with pytest.raises(TrainingError, match="Permission denied"):
        training_mod.create_run_dir(tmp_path / "old", cfg)
    assert list((tmp_path / "old").iterdir()) == []
