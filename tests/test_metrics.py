"""Long-tailed metrics and report files."""

import csv
import json

import numpy as np
import pytest

from keras_lt.eval import confusion_matrix, format_summary, lt_metrics, shot_groups, write_report


def test_shot_group_thresholds():
    g = shot_groups([101, 100, 20, 19, 5000, 1])
    assert g.tolist() == ["many", "medium", "medium", "few", "many", "few"]


def test_lt_metrics_hand_computed():
    counts = [500, 50, 5]            # one class per group
    y_true = np.array([0, 0, 0, 0, 1, 1, 2, 2, 2, 2])
    y_pred = np.array([0, 0, 0, 1, 1, 0, 2, 0, 0, 0])
    m = lt_metrics(y_true, y_pred, counts, ["a", "b", "c"])
    assert m["top1"] == pytest.approx(5 / 10)
    assert m["many"] == pytest.approx(0.75)
    assert m["medium"] == pytest.approx(0.5)
    assert m["few"] == pytest.approx(0.25)
    assert m["class_avg"] == pytest.approx((0.75 + 0.5 + 0.25) / 3)
    assert m["confusion"][2] == [3, 0, 1]
    assert [r["group"] for r in m["per_class"]] == ["many", "medium", "few"]


def test_empty_group_is_absent_not_zero():
    m = lt_metrics([0, 1], [0, 0], [5000, 200])   # no medium, no few class
    assert m["medium"] is None and m["few"] is None
    assert m["many"] == pytest.approx(0.5)
    assert "absent" in format_summary(m)


def test_confusion_rejects_out_of_range():
    with pytest.raises(ValueError, match="outside"):
        confusion_matrix([0, 3], [0, 1], 3)


def test_write_report_files(tmp_path):
    m = lt_metrics([0, 1, 2, 2], [0, 1, 2, 0], [500, 50, 5], ["x", "y", "z"])
    path = write_report(m, tmp_path, "r", extra={"checkpoint": "c"})
    data = json.loads(path.read_text())
    assert data["info"]["checkpoint"] == "c" and data["few"] == pytest.approx(0.5)
    rows = list(csv.DictReader(open(tmp_path / "r_per_class.csv")))
    assert [r["name"] for r in rows] == ["x", "y", "z"] and rows[2]["accuracy"] == "0.500000"
    assert (tmp_path / "r_confusion.csv").read_text().splitlines()[2] == "1,0,1"
    png = (tmp_path / "r_per_class.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    assert not list(tmp_path.glob("*.tmp-*"))


def test_reports_are_written_without_matplotlib(tmp_path, monkeypatch, capsys):
    """matplotlib is an extra (``keras-lt[train]``): without it a report keeps its JSON and
    CSV files, skips the plot and says so, instead of failing at the end of a run."""
    import sys

    monkeypatch.setitem(sys.modules, "matplotlib", None)     # import matplotlib -> ImportError
    m = lt_metrics([0, 1, 2, 2], [0, 1, 2, 0], [500, 50, 5], ["x", "y", "z"])
    path = write_report(m, tmp_path, "r")
    assert path.is_file() and (tmp_path / "r_per_class.csv").is_file()
    assert not (tmp_path / "r_per_class.png").exists()
    assert "matplotlib is not installed" in capsys.readouterr().err
