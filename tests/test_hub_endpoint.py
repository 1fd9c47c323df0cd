"""``HF_ENDPOINT`` and the online path of ``from_pretrained``, against a local HTTP
stand-in for the Hub (tests/fake_hub.py): real huggingface_hub downloads into a real
cache, then the same cache serves ``HF_HUB_OFFLINE=1``. huggingface_hub reads
``HF_ENDPOINT`` at import, so each load runs in a fresh interpreter."""

import json
import os
import subprocess
import sys

import keras
import pytest

from conftest import ROOT
from fake_hub import FakeHub

FOLDER = ROOT / "model_cards" / "la-resnet32-cifar10lt-if100"
REPO = "acme/la-cifar10lt"
LOAD = """
import json, sys, keras_lt
from keras_lt.hub.pretrained import resolve_pretrained
repo, revision, cache, kw = sys.argv[1], sys.argv[2] or None, sys.argv[3], json.loads(sys.argv[4])
path, source = resolve_pretrained(repo, revision=revision, cache_dir=cache, **kw)
model = keras_lt.from_pretrained(repo, revision=revision, cache_dir=cache, **kw)
print(json.dumps({"source": source, "path": str(path), "name": model.pretrained.name}))
"""


def _load(repo, cache, endpoint=None, offline=False, revision=None, **kw):
    """Resolve and load ``repo`` in a fresh interpreter; returns the CompletedProcess."""
    env = dict(os.environ, KERAS_BACKEND=keras.backend.backend())
    for key in ("HF_HUB_OFFLINE", "HF_ENDPOINT"):
        env.pop(key, None)
    if endpoint:
        env["HF_ENDPOINT"] = endpoint
    if offline:
        env["HF_HUB_OFFLINE"] = "1"
    return subprocess.run([sys.executable, "-c", LOAD, repo, revision or "", str(cache),
                           json.dumps(kw)], capture_output=True, text=True, env=env, timeout=300)


def _result(proc):
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.fixture
def hub():
    server = FakeHub(FOLDER, REPO, revisions=("main", "v1.0"))
    yield server
    server.close()


def test_download_through_hf_endpoint_then_offline_from_the_cache(hub, tmp_path):
    cache = tmp_path / "hf-cache"
    proc = _load(REPO, cache, endpoint=hub.endpoint, revision="v1.0")
    assert proc.returncode == 0, proc.stderr[-3000:]
    got = json.loads(proc.stdout.strip().splitlines()[-1])
    assert got["name"] == "la-resnet32-cifar10lt-if100"
    assert got["source"] == "hub" and "models--acme--la-cifar10lt" in got["path"]
    assert ("GET", f"/api/models/{REPO}/revision/v1.0") in hub.log          # HF_ENDPOINT was used
    snapshot = cache / "models--acme--la-cifar10lt" / "snapshots" / hub.sha
    # the inference files only: no safetensors copy, plots or training state
    assert sorted(p.name for p in snapshot.iterdir()) == sorted(
        ["README.md", "config.json", "eval_results.json", "metadata.json", "model.weights.h5"])
    n_requests = len(hub.log)
    proc = _load(REPO, cache, offline=True, revision="v1.0")       # no endpoint, no network
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert json.loads(proc.stdout.strip().splitlines()[-1])["source"] == "hf-cache"
    assert len(hub.log) == n_requests


def test_missing_repo_names_the_endpoint(hub, tmp_path):
    proc = _load("acme/no-such-model", tmp_path / "hf-cache", endpoint=hub.endpoint)
    assert proc.returncode != 0
    assert f"cannot download acme/no-such-model from {hub.endpoint}" in proc.stderr


def test_online_the_hub_decides_which_commit_a_cached_name_means(tmp_path):
    """A copy in the cache does not hide a newer commit on the Hub; local_files_only keeps
    to the cache and sends nothing; hf://owner/name is a Hub repository."""
    cache = tmp_path / "hf-cache"
    old = FakeHub(FOLDER, REPO, sha="a" * 40)
    try:
        assert "a" * 40 in _result(_load(f"hf://{REPO}", cache, endpoint=old.endpoint))["path"]
    finally:
        old.close()
    new = FakeHub(FOLDER, REPO, sha="b" * 40)
    try:
        got = _result(_load(REPO, cache, endpoint=new.endpoint))
        assert got["source"] == "hub" and "b" * 40 in got["path"]
        n_requests = len(new.log)
        got = _result(_load(REPO, cache, endpoint=new.endpoint, local_files_only=True))
        assert got["source"] == "hf-cache" and len(new.log) == n_requests
    finally:
        new.close()


def test_a_zoo_name_the_hub_cannot_serve_loads_the_bundled_copy(tmp_path):
    """Online with the Hub unreachable (a closed port), a published zoo name loads from
    model_cards/ and says so; a Hub id that is not a zoo name is an error."""
    dead = "http://127.0.0.1:9"
    proc = _load("la-resnet32-cifar10lt-if100", tmp_path / "hf-cache", endpoint=dead)
    assert _result(proc)["source"] == "bundled"
    assert "could not be fetched" in proc.stderr and "using the local zoo copy" in proc.stderr
    proc = _load(REPO, tmp_path / "hf-cache", endpoint=dead)
    assert proc.returncode != 0 and f"cannot download {REPO}" in proc.stderr
    proc = _load(REPO, tmp_path / "hf-cache", endpoint=dead, force_download=True,
                 local_files_only=True)
    assert proc.returncode != 0 and "force_download needs the Hub" in proc.stderr



KERAS_LOAD = """
import sys, keras, numpy as np
import keras_lt
model = keras.saving.load_model(sys.argv[1])
same = keras_lt.from_pretrained(sys.argv[2])
x = np.random.default_rng(0).integers(0, 256, (3, 32, 32, 3)).astype("uint8")
print(type(model).__name__, model.class_names[0],
      float(np.abs(model.predict_on_batch(x) - same.predict_on_batch(x)).max()))
"""


def test_keras_itself_loads_a_hub_repository(hub, tmp_path):
    """``keras.saving.load_model("hf://owner/name")`` (the Hub's snippet for Keras models)
    gives the model ``keras_lt.from_pretrained`` gives."""
    env = dict(os.environ, KERAS_BACKEND=keras.backend.backend(), HF_ENDPOINT=hub.endpoint,
               HF_HUB_CACHE=str(tmp_path / "hf-cache"))
    env.pop("HF_HUB_OFFLINE", None)
    proc = subprocess.run([sys.executable, "-c", KERAS_LOAD, f"hf://{REPO}", REPO],
                          capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    kind, first, diff = proc.stdout.split()[-3:]
    assert (kind, first) == ("LTImageClassifier", "airplane") and float(diff) == 0.0


def test_the_training_state_downloads_only_for_training(tmp_path):
    folder = ROOT / "model_cards" / "bccl-resnet32-cifar10lt-if100"
    server = FakeHub(folder, "acme/bccl")
    try:
        cache = tmp_path / "hf-cache"
        got = _result(_load("acme/bccl", cache, endpoint=server.endpoint))
        assert not (cache / "models--acme--bccl" / "snapshots" / server.sha /
                    "training.weights.h5").exists()
        offline = _load("acme/bccl", cache, offline=True, for_training=True)
        assert offline.returncode != 0 and "lacks training.weights.h5" in offline.stderr
        got = _result(_load("acme/bccl", cache, endpoint=server.endpoint, for_training=True))
        assert (cache / "models--acme--bccl" / "snapshots" / server.sha /
                "training.weights.h5").is_file() and got["source"] == "hub"
    finally:
        server.close()
