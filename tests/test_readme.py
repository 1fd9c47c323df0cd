"""The README's quick-start snippets run as written (inference in three lines with a
bundled zoo checkpoint, fine-tuning in one command), offline, on every backend."""

import re
import shlex
import sys

import numpy as np
import pytest
from PIL import Image

from conftest import ROOT
from keras_lt.data.prepare import prepare_dataset


def snippet(name):
    text = (ROOT / "README.md").read_text()
    m = re.search(rf"<!-- readme-snippet:{name} -->\n```\w+\n(.*?)```", text, re.S)
    assert m, f"README.md has no readme-snippet:{name} block"
    return m.group(1)


@pytest.fixture
def offline(monkeypatch, tmp_path):
    from huggingface_hub import constants

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "empty-hf-cache"))
    monkeypatch.chdir(tmp_path)


def test_inference_snippet(offline, tmp_path, capsys):
    code = snippet("inference")
    assert len([line for line in code.splitlines() if line.strip()]) == 3
    img = np.zeros((32, 32, 3), np.uint8)
    img[8:24, 8:24] = (200, 120, 60)
    Image.fromarray(img).save(tmp_path / "cat.png")
    exec(compile(code, "README.md", "exec"), {})
    out = capsys.readouterr().out
    assert "'labels': [" in out and "'probs': [" in out


def test_finetune_snippet(offline, tmp_path):
    cmd = shlex.split(snippet("finetune").strip())
    assert cmd[:2] == [".venv/bin/python", "tools/train.py"]
    rng = np.random.default_rng(0)
    for split, counts in (("train", (10, 5, 3)), ("test", (2, 2, 2))):
        for c, n in enumerate(counts):
            d = tmp_path / "src" / split / f"kind_{c}"
            d.mkdir(parents=True)
            for i in range(n):
                Image.fromarray(rng.integers(0, 255, (32, 32, 3), dtype=np.uint8)).save(d / f"{i}.png")
    prepare_dataset("imagefolder", tmp_path / "data_cache" / "my-lt", input=tmp_path / "src",
                    val_per_class=1, progress=False)
    sys.path.insert(0, str(ROOT / "tools"))
    import train as train_tool

    # the README's command, on a tiny dataset, shortened to fit a unit test
    args = cmd[2:] + ["--set", "optim.epochs=3", "--set", "optim.batch_size=8",
                      "--set", "data.workers=0", "--verbose", "0"]
    assert train_tool.main(args) == 0
    assert (tmp_path / "runs" / "my-ft" / "test_report.json").is_file()


def slug(heading):
    """GitHub's anchor for a Markdown heading."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def test_links_between_the_guide_and_the_reports_resolve():
    """Every relative link of README.md and reports/README.md names a file that exists and,
    with ``#anchor``, a heading of that file."""
    for doc in (ROOT / "README.md", ROOT / "reports" / "README.md"):
        text = doc.read_text()
        for target, anchor in re.findall(r"\]\(([^)#\s]*)(?:#([^)\s]*))?\)", text):
            if target.startswith(("http://", "https://")):
                continue
            path = (doc.parent / target) if target else doc
            assert path.exists(), f"{doc.name}: link to missing {target}"
            if anchor and path.suffix == ".md":
                headings = re.findall(r"^#+ (.+)$", path.read_text(), re.M)
                assert anchor in {slug(h) for h in headings}, f"{doc}: no heading #{anchor} in {path}"
