"""Recipes, overrides and the learning-rate schedule."""

import numpy as np
import pytest
from keras import ops

from keras_lt.config import ConfigError, apply_override, config_hash, load_config
from keras_lt.utils.schedules import EpochWarmupCosine, WarmupCosine


def test_overrides_parse_yaml(tmp_path):
    p = tmp_path / "r.yaml"
    p.write_text("name: t\noptim:\n  epochs: 7\nloss:\n  name: logit_adjusted\n")
    cfg = load_config(p, ["optim.lr=0.05", "data.views=[cifar_basic, cifar_simaug]"])
    assert cfg["optim"]["epochs"] == 7 and cfg["optim"]["lr"] == 0.05
    assert cfg["data"]["views"] == ["cifar_basic", "cifar_simaug"]
    assert cfg["optim"]["momentum"] == 0.9            # default kept
    assert config_hash(cfg) != config_hash(apply_override(cfg, "seed=1"))


def test_config_errors_name_the_problem(tmp_path):
    with pytest.raises(ConfigError, match="optim.lrr"):
        load_config(None, ["optim.lrr=1"])
    with pytest.raises(ConfigError, match="key.sub=value"):
        load_config(None, ["optim"])
    bad = tmp_path / "bad.yaml"
    bad.write_text("optim: [1, 2\n")
    with pytest.raises(ConfigError, match="bad.yaml"):
        load_config(bad)
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "missing.yaml")


def test_zoo_configs_load():
    from pathlib import Path

    for path in sorted((Path(__file__).parents[1] / "zoo_configs").glob("*.yaml")):
        cfg = load_config(path)
        assert cfg["name"] == path.stem, path


def test_warmup_cosine_values():
    s = WarmupCosine(0.1, total_steps=100, warmup_steps=10, min_lr=0.0)
    lr = [float(ops.convert_to_numpy(s(i))) for i in range(101)]
    assert lr[0] == pytest.approx(0.01) and lr[9] == pytest.approx(0.1)
    assert lr[10] == pytest.approx(0.1)
    assert lr[55] == pytest.approx(0.05, rel=1e-5)
    assert lr[100] == pytest.approx(0.0, abs=1e-7)
    assert np.all(np.diff(lr[10:]) <= 1e-9)


def test_bccl_epoch_schedule_is_the_reference_codes():
    """BCCL's utils.adjust_lr: lr * (e + 1) / W in warm-up epochs, then
    lr * 0.5 * (1 + cos(pi * (e - W + 1) / (E - W + 1))), constant within an epoch."""
    import math

    s = EpochWarmupCosine(0.15, epochs=200, steps_per_epoch=96, warmup_epochs=10)
    at = lambda epoch, i=0: float(ops.convert_to_numpy(s(epoch * 96 + i)))   # noqa: E731
    for epoch in (0, 1, 9, 10, 50, 100, 150, 199):
        want = (0.15 * (epoch + 1) / 10 if epoch < 10 else
                0.15 * 0.5 * (1 + math.cos(math.pi * (epoch - 9) / 191)))
        assert at(epoch) == pytest.approx(want, rel=1e-5, abs=1e-7), epoch
        assert at(epoch, 95) == pytest.approx(want, rel=1e-5, abs=1e-7), epoch   # whole epoch
    assert at(199) == pytest.approx(1.01e-5, rel=1e-2)      # the last epoch's lr is not 0


def test_unknown_schedule_is_refused():
    from keras_lt.train.loop import TrainingError, make_optimizer

    cfg = load_config(None, ["optim.schedule=step"])
    with pytest.raises(TrainingError, match="optim.schedule"):
        make_optimizer(cfg, 10)


@pytest.mark.parametrize("override, message", [
    ("optim.lr=0", "optim.lr must be a number > 0, got 0"),
    ("optim.lr=-0.1", "optim.lr must be a number > 0, got -0.1"),
    ("optim.epochs=0", "optim.epochs must be an integer >= 1, got 0"),
    ("optim.epochs=2.5", "optim.epochs must be an integer >= 1, got 2.5"),
    ("optim.weight_decay=-1e-4", "optim.weight_decay must be a number >= 0, got -0.0001"),
    ("optim.batch_size=0", "optim.batch_size must be an integer >= 1, got 0"),
    ("optim.batch_size=abc", "optim.batch_size must be an integer >= 1, got 'abc'"),
    ("optim.momentum=1", "optim.momentum must be a number >= 0 and < 1, got 1"),
    ("optim.momentum=-0.5", "optim.momentum must be a number >= 0 and < 1, got -0.5"),
    ("bccl.num_centroids=0", "bccl.num_centroids must be an integer >= 1, got 0"),
    ("bccl.queue_size=0", "bccl.queue_size must be an integer >= 1, got 0"),
    ("bccl.temperature=0", "bccl.temperature must be a number > 0, got 0"),
    ("rebsupcon.queue_size=-4", "rebsupcon.queue_size must be an integer >= 1, got -4"),
    ("rebsupcon.temperature=0", "rebsupcon.temperature must be a number > 0, got 0"),
    ("optim.epochs=true", "optim.epochs must be an integer >= 1, got True"),
    ("finetune.freeze_backbone_epochs=-1",
     "finetune.freeze_backbone_epochs must be an integer >= 0, got -1"),
])
def test_invalid_numbers_are_refused_naming_key_and_value(override, message):
    with pytest.raises(ConfigError) as info:
        load_config(None, [override])
    assert str(info.value) == message
    assert "\n" not in str(info.value)


def test_valid_edge_values_are_accepted():
    cfg = load_config(None, ["optim.momentum=0", "optim.weight_decay=0", "optim.lr=1e-3",
                             "rebsupcon.proto_temperature=null", "bccl.warmup_epochs=null"])
    assert cfg["optim"]["lr"] == 0.001        # YAML reads 1e-3 as a string; taken as a number


def test_invalid_recipe_file_is_refused_before_training_writes(tmp_path):
    """The check runs on the recipe file too (not only on overrides), and train() refuses
    a bad recipe before the run directory exists."""
    from keras_lt.train.loop import train

    bad = tmp_path / "bad.yaml"
    bad.write_text("optim:\n  lr: 0\n")
    with pytest.raises(ConfigError, match="optim.lr must be a number > 0, got 0"):
        load_config(bad)
    cfg = load_config(None, ["data.prepared=/nonexistent"])
    cfg["bccl"]["num_centroids"] = 0
    with pytest.raises(ConfigError, match="bccl.num_centroids"):
        train(cfg, tmp_path / "run", verbose=0)
    assert not (tmp_path / "run").exists()


def test_recipe_hashes_are_stable():
    """Every run records its recipe's hash and ``--resume`` refuses another one, so a change
    to the defaults, the option records or the loader (``base:``) must leave the hash of
    every zoo recipe as recorded (update the fixture only when a recipe itself changes)."""
    import json
    from pathlib import Path

    root = Path(__file__).parents[1]
    want = json.loads((root / "tests" / "fixtures" / "recipe_hashes.json").read_text())
    got = {p.name: config_hash(load_config(p))
           for p in sorted((root / "zoo_configs").glob("*.yaml"))}
    assert got == want


def test_a_kept_resume_point_still_resumes():
    """The resume points kept under reports/ carry the hash their run started with."""
    import json
    from pathlib import Path

    kept = sorted((Path(__file__).parents[1] / "reports").glob("*/resume/state.json"))
    for state in kept:
        recorded = json.loads(state.read_text())["config_hash"]
        assert config_hash(load_config(state.parent / "config.yaml")) == recorded, state


def test_a_recipe_extends_its_base(tmp_path):
    (tmp_path / "base.yaml").write_text(
        "name: b\nmethod: bccl\noptim:\n  epochs: 7\n  lr: 0.2\nbccl:\n  num_centroids: 3\n")
    (tmp_path / "child.yaml").write_text(
        "base: base.yaml\nname: c\noptim:\n  lr: 0.05\nbccl:\n  use_lc: false\n")
    cfg = load_config(tmp_path / "child.yaml")
    assert cfg["name"] == "c" and cfg["method"] == "bccl"
    assert cfg["optim"]["epochs"] == 7 and cfg["optim"]["lr"] == 0.05       # kept, replaced
    assert cfg["bccl"]["num_centroids"] == 3 and cfg["bccl"]["use_lc"] is False
    assert "base" not in cfg
    (tmp_path / "loop.yaml").write_text("base: loop2.yaml\n")
    (tmp_path / "loop2.yaml").write_text("base: loop.yaml\n")
    with pytest.raises(ConfigError, match="loop"):
        load_config(tmp_path / "loop.yaml")
    (tmp_path / "orphan.yaml").write_text("base: nowhere.yaml\n")
    with pytest.raises(ConfigError, match=r"nowhere.yaml.*base of .*orphan.yaml"):
        load_config(tmp_path / "orphan.yaml")


def test_method_defaults_live_in_one_place():
    """A recipe that says only ``method: bccl`` builds the model BCCL's constructor builds
    with the same arguments: the options record is the defaults of both."""
    from keras_lt.models import BCCL, RebSupCon
    from keras_lt.models.builder import build_method_model
    from keras_lt.options import BCCLOptions, RebSupConOptions

    counts, shape = [8, 4, 2], (16, 16, 3)
    for method, cls, options, extra in (
            ("bccl", BCCL, BCCLOptions, {"warmup_epochs": 5, "steps_per_epoch": 3}),
            ("rebsupcon", RebSupCon, RebSupConOptions, {})):
        cfg = load_config(None, [f"method={method}", "model.backbone=resnet20"])
        assert cfg[method] == options.defaults()
        built = build_method_model(cfg, 3, counts, shape, steps_per_epoch=3)
        direct = cls("resnet20", num_classes=3, class_counts=counts, input_shape=shape,
                     weight_decay=cfg["optim"]["weight_decay"], **extra)
        unnamed = lambda model: {k: v for k, v in model.get_config().items() if k != "name"}  # noqa: E731
        assert unnamed(built) == unnamed(direct), method
    assert load_config(None, ["method=bccl"])["model"]["classifier"] == "cosine"
    assert load_config(None, ["method=baseline"])["model"]["classifier"] == "linear"


@pytest.mark.parametrize("override, message", [
    ("bccl.refresh=weekly", "bccl.refresh must be one of ('paper', 'reference'), got 'weekly'"),
    ("bccl.use_lc=yes please", "bccl.use_lc must be true or false, got 'yes please'"),
    ("bccl.gamma=-1", "bccl.gamma must be a number >= 0, got -1"),
    ("rebsupcon.proto_weights=equal",
     "rebsupcon.proto_weights must be one of ('role', 'order'), got 'equal'"),
])
def test_method_options_are_checked_by_type_and_choice(override, message):
    with pytest.raises(ConfigError) as info:
        load_config(None, [override])
    assert str(info.value) == message


def test_a_bccl_model_needs_its_warmup():
    from keras_lt.models import BCCL

    with pytest.raises(ValueError, match="warmup_epochs"):
        BCCL("resnet20", num_classes=3, input_shape=(16, 16, 3))
    with pytest.raises(ValueError, match="num_centroids must be an integer >= 1, got 0"):
        BCCL("resnet20", num_classes=3, input_shape=(16, 16, 3), warmup_epochs=1,
             num_centroids=0)
