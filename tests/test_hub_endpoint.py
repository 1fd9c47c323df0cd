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
repo, revision, cache = sys.argv[1], sys.argv[2] or None, sys.argv[3]
path, source = resolve_pretrained(repo, revision=revision, cache_dir=cache)
model = keras_lt.from_pretrained(repo, revision=revision, cache_dir=cache)
print(json.dumps({"source": source, "path": str(path), "name": model.pretrained.name}))
"""


def _load(repo, cache, endpoint=None, offline=False, revision=None):
    """Resolve and load ``repo`` in a fresh interpreter; returns the CompletedProcess."""
    env = dict(os.environ, KERAS_BACKEND=keras.backend.backend())
    for key in ("HF_HUB_OFFLINE", "HF_ENDPOINT"):
        env.pop(key, None)
    if endpoint:
        env["HF_ENDPOINT"] = endpoint
    if offline:
        env["HF_HUB_OFFLINE"] = "1"
    return subprocess.run([sys.executable, "-c", LOAD, repo, revision or "", str(cache)],
                          capture_output=True, text=True, env=env, timeout=300)


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
    assert sorted(p.name for p in snapshot.iterdir()) == sorted(p.name for p in FOLDER.iterdir())
    n_requests = len(hub.log)
    proc = _load(REPO, cache, offline=True, revision="v1.0")       # no endpoint, no network
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert json.loads(proc.stdout.strip().splitlines()[-1])["source"] == "hf-cache"
    assert len(hub.log) == n_requests


def test_missing_repo_names_the_endpoint(hub, tmp_path):
    proc = _load("acme/no-such-model", tmp_path / "hf-cache", endpoint=hub.endpoint)
    assert proc.returncode != 0
    assert f"cannot download acme/no-such-model from {hub.endpoint}" in proc.stderr
