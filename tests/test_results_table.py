"""The README's results tables are generated from the committed evaluation reports."""

import json
import sys

import pytest

from conftest import ROOT

sys.path.insert(0, str(ROOT / "tools"))
import results_table  # noqa: E402


def test_readme_results_tables_are_current():
    assert results_table.main(["--check"]) == 0, "run tools/results_table.py"


def test_table_rows_come_from_the_reports():
    table = results_table.render("cifar10lt-if100-e30")
    for label, rel in results_table.TABLES["cifar10lt-if100-e30"]:
        path = ROOT / rel / "test_report.json"
        if path.exists():
            top1 = json.loads(path.read_text())["top1"]
            assert f"| {label} | {100 * top1:.2f} |" in table


def test_check_fails_on_a_stale_readme(tmp_path):
    stale = tmp_path / "README.md"
    text = (ROOT / "reports" / "README.md").read_text()
    assert "| logit adjustment (tau = 1) | 68.64" in text
    stale.write_text(text.replace("| logit adjustment (tau = 1) | 68.64",
                                  "| logit adjustment (tau = 1) | 99.99"))
    readme = str(ROOT / "README.md")
    assert results_table.main(["--check", "--doc", readme, "--doc", str(stale)]) == 1
    # every block must be in exactly one document
    with pytest.raises(SystemExit, match="must be in exactly one"):
        results_table.main(["--check", "--doc", readme])


def test_vs_paper_rows_come_from_the_cards_and_the_paper_figures():
    from keras_lt.hub.paper_results import paper_result

    table = results_table.render_vs_paper()
    rows = 0
    for card in sorted((ROOT / "model_cards").glob("*-cifar10lt-*/eval_results.json")):
        name = card.parent.name
        top1 = round(100 * json.loads(card.read_text())["results"]["test"]["top1"], 2)
        row = next(line for line in table.splitlines() if line.startswith(f"| `{name}` |"))
        cells = [c.strip() for c in row.strip("|").split("|")]
        assert float(cells[3]) == top1
        last = json.loads((card.parent / "metadata.json").read_text())["training"].get(
            "last_epoch_test")
        assert cells[8] == ("not kept" if last is None else f"{100 * last['top1']:.2f}")
        ref = paper_result(name)
        if ref is None:
            assert cells[9] == "not recorded"
        else:
            assert float(cells[9]) == ref.top1 and float(cells[10]) == round(top1 - ref.top1, 2)
        rows += 1
    assert rows >= 4


def test_by_if_figure_is_drawn_from_the_reports(tmp_path):
    import copy

    points = results_table.by_if_points()
    for label, rel in results_table.TABLES[results_table.BY_IF_TABLE]:
        imb, method = label.split(": ", 1)
        path = ROOT / rel / "test_report.json"
        if path.exists():
            top1 = json.loads(path.read_text())["top1"]
            assert points["ours"][method][imb.removeprefix("IF")] == round(100 * top1, 2)
    assert points["paper"]["BCCL"] == {"100": 85.22, "50": 88.07, "10": 91.92}
    png = tmp_path / "by_if.png"
    results_table.plot_by_if(points, png)
    assert png.stat().st_size > 10_000 and results_table.plot_is_current(points, png)
    changed = copy.deepcopy(points)
    changed["ours"]["BCCL"]["100"] += 1.0
    assert not results_table.plot_is_current(changed, png)
    assert results_table.main(["--check", "--plot", str(tmp_path / "missing.png")]) == 1
