"""keras-lt installed from its wheel, used outside the checkout: the zoo (recipes and card
summaries) ships inside the package, zoo names load from a local zoo directory or the Hub
(the local stand-in, tests/fake_hub.py), Keras itself loads the folders, and the
``keras-lt`` command runs. The wheel is built once per session without network
(``--no-build-isolation``) and installed with ``--target`` into a temporary folder."""

import json
import os
import subprocess
import sys

import keras
import pytest

from conftest import ROOT
from fake_hub import FakeHub

NAME = "la-resnet32-cifar10lt-if100"
# packaging does not depend on the backend (loading on each one is tests/test_zoo.py's): the
# wheel is built and tried once per suite, on torch
pytestmark = pytest.mark.skipif(keras.backend.backend() != "torch",
                                reason="the installed-wheel checks run on the torch pass")


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    base = tmp_path_factory.mktemp("wheel")
    build = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps",
                            "--no-build-isolation", "-w", str(base / "dist"), str(ROOT)],
                           capture_output=True, text=True, timeout=600)
    assert build.returncode == 0, build.stderr[-3000:]
    wheel = next((base / "dist").glob("keras_lt-*.whl"))
    target = base / "site"
    inst = subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "--target",
                           str(target), str(wheel)], capture_output=True, text=True, timeout=600)
    assert inst.returncode == 0, inst.stderr[-3000:]
    work = base / "elsewhere"                     # not the checkout, not under it
    work.mkdir()
    return {"site": target, "work": work, "wheel": wheel}


def run_installed(installed, code=None, args=(), env=None, script=None):
    """Run Python code (or the installed ``keras-lt`` script) with only the installed copy
    of keras-lt importable, from a folder outside the checkout."""
    full = {k: v for k, v in os.environ.items()
            if not k.startswith(("KERAS_LT_", "HF_")) and k != "PYTHONPATH"}
    full.update(KERAS_BACKEND=keras.backend.backend(), PYTHONPATH=str(installed["site"]),
                HF_HUB_OFFLINE="1", HF_HUB_CACHE=str(installed["work"] / "hf-cache"))
    full.update(env or {})
    if script:
        cmd = [sys.executable, str(installed["site"] / "bin" / script), *args]
    else:
        cmd = [sys.executable, "-c", code, *args]
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=installed["work"], env=full,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout


def test_the_wheel_carries_the_zoo_and_the_command(installed):
    import zipfile

    names = zipfile.ZipFile(installed["wheel"]).namelist()
    assert "keras_lt/zoo_index.json" in names and "keras_lt_cli/__init__.py" in names
    assert not any(n.startswith(("model_cards/", "zoo_configs/", "tests/")) for n in names)
    out = run_installed(installed, """
import json, keras_lt
from keras_lt.hub.registry import source_checkout, local_zoo_dir
from keras_lt.config import load_config
published = [e.name for e in keras_lt.list_models(published=True)]
print(json.dumps({"file": keras_lt.__file__, "checkout": str(source_checkout()),
                  "zoo_dir": str(local_zoo_dir()), "published": published,
                  "epochs": load_config("bccl-resnet32-cifar10lt-if100")["optim"]["epochs"]}))
""")
    got = json.loads(out.strip().splitlines()[-1])
    assert got["file"].startswith(str(installed["site"]))
    assert got["checkout"] == "None" and got["zoo_dir"] == "None"
    assert "bccl-resnet32-cifar10lt-if100" in got["published"] and len(got["published"]) >= 10
    assert got["epochs"] == 200
    table = run_installed(installed, script="keras-lt", args=["models", "--method", "bccl"])
    assert "bccl-resnet32-cifar10lt-if100" in table and "published" in table


def test_installed_zoo_names_load_from_a_local_zoo_dir_and_the_hub(installed):
    load = """
import sys, keras, numpy as np, keras_lt
m = keras_lt.from_pretrained(sys.argv[1])
print(type(m).__name__, m.class_names[3], m.predict_on_batch(np.zeros((1, 40, 30, 3), "uint8")).shape)
"""
    out = run_installed(installed, load, [NAME],
                        env={"KERAS_LT_ZOO_DIR": str(ROOT / "model_cards")})
    assert out.split()[-4:] == ["LTImageClassifier", "cat", "(1,", "10)"]
    with pytest.raises(AssertionError, match="KERAS_LT_ZOO_DIR"):    # offline, nothing local
        run_installed(installed, load, [NAME])
    hub = FakeHub(ROOT / "model_cards" / NAME, f"keras-lt/{NAME}")
    try:
        out = run_installed(installed, load, [NAME],
                            env={"HF_HUB_OFFLINE": "0", "HF_ENDPOINT": hub.endpoint})
    finally:
        hub.close()
    assert "LTImageClassifier" in out
    assert ("GET", f"/api/models/keras-lt/{NAME}/revision/main") in hub.log


def test_keras_loads_a_zoo_folder_and_a_keras_file_after_import_keras_lt(installed, tmp_path):
    out = run_installed(installed, """
import sys, keras, numpy as np
import keras_lt
a = keras.saving.load_model(sys.argv[1])
a.save(sys.argv[2])
b = keras.saving.load_model(sys.argv[2])
x = np.random.default_rng(0).integers(0, 256, (2, 64, 48, 3)).astype("uint8")
print(b.class_names == a.class_names, float(np.abs(a.predict_on_batch(x) - b.predict_on_batch(x)).max()))
""", [str(ROOT / "model_cards" / NAME), str(tmp_path / "m.keras")])
    assert out.split()[-2:] == ["True", "0.0"]
