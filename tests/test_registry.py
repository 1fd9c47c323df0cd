"""The method registry: a method registered from outside the package trains through the
unchanged loop; view counts, batch fitting and card descriptions come from the records."""

import pytest

from keras_lt.config import apply_override, load_config
from keras_lt.data.prepare import prepare_dataset
from keras_lt.hub.card import method_of
from keras_lt.models import LTClassifier
from keras_lt.models import registry
from keras_lt.models.classifier import arch_kwargs
from keras_lt.models.registry import Method, get_method, method_names, register_method
from keras_lt.train.loop import TrainingError, fit_batch_size, train

from conftest import ROOT


@pytest.fixture(scope="module")
def digits(tmp_path_factory):
    out = tmp_path_factory.mktemp("data") / "digits-lt"
    prepare_dataset("digits", out, progress=False)
    return out


def test_builtin_methods_are_registered():
    assert method_names() == ("baseline", "bccl", "rebsupcon")
    assert get_method("bccl").own_loss and get_method("bccl").training_state
    assert not get_method("baseline").own_loss and not get_method("baseline").pairs
    with pytest.raises(ValueError, match=r"unknown method 'nope'; choose one of \('baseline'"):
        get_method("nope")


def test_a_second_method_of_the_same_name_is_refused():
    with pytest.raises(ValueError, match="already registered"):
        register_method(Method(name="bccl", title="x", citation="y", build=lambda *a: None))


def test_view_counts_come_from_the_record():
    get_method("bccl").check_views(["a", "b", "c"])
    with pytest.raises(ValueError, match=r"bccl needs at least two views \(classifier view"):
        get_method("bccl").check_views(["a"])
    with pytest.raises(ValueError, match="rebsupcon needs exactly two views"):
        get_method("rebsupcon").check_views(["a", "b", "c"])
    toy = Method(name="toy", title="t", citation="c", build=None, min_views=1, max_views=3)
    with pytest.raises(ValueError, match=r"toy needs one to three views, got data.views=\[\]"):
        toy.check_views([])


def test_cards_describe_a_recipe_by_its_settings_not_its_name():
    """The ablation note and the baseline's title follow the recipe's switches and loss, so a
    recipe of any name gets the right description."""
    cfg = load_config(ROOT / "zoo_configs" / "bccl-resnet32-cifar10lt-if100.yaml",
                      ["name=my-run", "bccl.use_lc=false"])
    assert method_of(cfg)[2] == "BCCL Table 4 ablation: SCL + centroid loss"
    cfg = load_config(ROOT / "zoo_configs" / "ce-resnet32-cifar10lt-if100.yaml",
                      ["name=my-run", "loss.name=balanced_softmax"])
    assert method_of(cfg)[0] == "Balanced Softmax"


def test_a_registered_method_trains_through_the_loop(digits, tmp_path, monkeypatch):
    """A method added from outside keras_lt (one record, one build function) trains with
    tools/train.py's loop, batch fitting and view checks included."""
    built = []

    def build(cfg, num_classes, class_counts, input_shape, steps_per_epoch):
        built.append((num_classes, len(class_counts), steps_per_epoch))
        model = LTClassifier(**arch_kwargs(cfg["model"], num_classes, input_shape,
                                           cfg["optim"]["weight_decay"]))
        model.build((None, *input_shape))
        return model

    toy = Method(name="toy", title="Toy", citation="a test", build=build, min_views=1,
                 max_views=1, views_doc="the only view", pairs=True)
    monkeypatch.setitem(registry._METHODS, "toy", toy)
    cfg = load_config(ROOT / "zoo_configs" / "demo-digits-resnet32.yaml",
                      [f"data.prepared={digits}", "method=toy", "model.backbone=resnet20",
                       "data.workers=1", "optim.batch_size=64", "optim.epochs=1",
                       "optim.warmup_epochs=0", "eval.batch_size=128", "runtime.verbose=0"])
    with pytest.raises(TrainingError, match="needs at least 2"):
        fit_batch_size(cfg, 1)
    metrics = train(cfg, tmp_path / "run", verbose=0)
    assert built and built[0][0] == built[0][1] == 10
    assert 0.0 <= metrics["top1"] <= 1.0 and (tmp_path / "run" / "test_report.json").is_file()
    with pytest.raises(TrainingError, match="toy needs exactly one view"):
        train(apply_override(cfg, "data.views=[cifar_basic, cifar_basic]"), tmp_path / "run2",
              verbose=0)
