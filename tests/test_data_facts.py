"""The benchmark and imbalance factor travel as data (recipe data.dataset /
data.imbalance_factor, the prepared data's provenance), never parsed from a name: training
checks them, the zoo and the cards read them."""

import pytest
import yaml

from keras_lt.config import config_hash, load_config
from keras_lt.data.catalog import dataset_title, get_dataset_info
from keras_lt.data.prepare import prepare_dataset
from keras_lt.hub import registry
from keras_lt.hub.card import dataset_of
from keras_lt.train.loop import TrainingError, train

from conftest import ROOT


@pytest.fixture(scope="module")
def digits(tmp_path_factory):
    out = tmp_path_factory.mktemp("data") / "digits-lt"
    prepare_dataset("digits", out, progress=False)
    return out


def _cfg(digits, *overrides):
    return load_config(ROOT / "zoo_configs" / "demo-digits-resnet32.yaml",
                       [f"data.prepared={digits}", "model.backbone=resnet20", "data.workers=1",
                        "optim.epochs=1", "runtime.verbose=0", *overrides])


def test_training_refuses_data_of_another_imbalance_factor(digits, tmp_path):
    with pytest.raises(TrainingError, match=r"is for imbalance factor 100 \(data.imbalance_factor\) "
                                            r"but .* was prepared with imbalance factor 20"):
        train(_cfg(digits, "data.imbalance_factor=100"), tmp_path / "run", verbose=0)
    assert not (tmp_path / "run").exists()
    with pytest.raises(TrainingError, match=r"unknown data.dataset 'cifar7lt'"):
        train(_cfg(digits, "data.dataset=cifar7lt"), tmp_path / "run", verbose=0)


def test_the_facts_are_not_part_of_the_recipe_hash():
    path = ROOT / "zoo_configs" / "bccl-resnet32-cifar10lt-if100.yaml"
    assert config_hash(load_config(path)) == config_hash(
        load_config(path, ["data.dataset=null", "data.imbalance_factor=null"]))


def test_cards_and_zoo_read_the_facts_not_the_name(tmp_path, monkeypatch):
    recipe = load_config(ROOT / "zoo_configs" / "la-resnet32-cifar10lt-if100.yaml",
                         ["name=my-model", "data.dataset=cifar100lt", "data.imbalance_factor=50"])
    assert dataset_of(recipe) == ("cifar100", "CIFAR-100-LT (imbalance factor 50)")
    # no imbalance factor in the recipe: the prepared data's provenance gives it
    recipe["data"]["imbalance_factor"] = None
    assert dataset_of(recipe, {"data_provenance": {"imbalance_factor": 10.0}})[1] == \
        "CIFAR-100-LT (imbalance factor 10)"
    assert dataset_of({"name": "bccl-resnet32-cifar10lt-if100", "data": {}}) == (None, None)
    # a zoo recipe named against the convention is still described by its facts
    zoo = tmp_path / "zoo"
    zoo.mkdir()
    text = (ROOT / "zoo_configs" / "la-resnet32-cifar10lt-if100.yaml").read_text()
    cfg = yaml.safe_load(text)
    cfg.update(name="odd-name")
    cfg["data"].update(dataset="inat2018", imbalance_factor=None)
    (zoo / "odd-name.yaml").write_text(yaml.safe_dump(cfg))
    monkeypatch.setenv("KERAS_LT_ZOO_CONFIGS", str(zoo))
    (entry,) = registry.list_models()
    assert (entry.name, entry.method, entry.dataset, entry.imbalance_factor,
            entry.dataset_title) == ("odd-name", "baseline", "inat2018", None, "iNaturalist 2018")


def test_catalog():
    assert get_dataset_info("cifar10lt").class_names[3] == "cat"
    assert dataset_title("cifar100lt", 10.0) == "CIFAR-100-LT IF10"
    with pytest.raises(ValueError, match="known: \\['cifar100lt', 'cifar10lt'"):
        get_dataset_info("mnist")
