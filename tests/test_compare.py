"""Several models side by side, a baseline report, the plots, and `simtext eval` with a suite."""

from __future__ import annotations

import json
import logging
import sys

import pytest

import simtext
from simtext.cli import main
from simtext.evaluation import evaluate, evaluate_models, read_report, write_outputs
from test_evaluation import STS_ROWS, write_beir, write_sts_csv


@pytest.fixture
def layout(tmp_path):
    """A data directory with stsb/test.csv, scifact/ and a suite over both."""
    data = tmp_path / "data"
    write_sts_csv(data / "stsb" / "test.csv", STS_ROWS)
    write_beir(data / "scifact")
    suite = tmp_path / "suite.yaml"
    suite.write_text("tasks: [stsb-test, scifact-test]\n", encoding="utf-8")
    return data, suite


@pytest.fixture
def two_models(make_tiny_model, tmp_path):
    first = simtext.save(make_tiny_model(seed=0), tmp_path / "model-a")
    second = simtext.save(make_tiny_model(seed=1), tmp_path / "model-b")
    return str(first), str(second)


def test_two_models_side_by_side(two_models, layout, tmp_path):
    data, suite = layout
    report = evaluate_models(list(two_models), suite=suite, data_dir=data, batch_size=8)
    paths = write_outputs(report, tmp_path / "out")

    assert report["models"] == list(two_models)
    first, second = report["reports"]
    # Each column is that model's own evaluation.
    assert first["tasks"] == evaluate(two_models[0], ["stsb-test", "scifact-test"], data, batch_size=8)["tasks"]
    assert second["tasks"]["stsb-test"] != first["tasks"]["stsb-test"]

    markdown = (tmp_path / "out" / "report.md").read_text(encoding="utf-8")
    assert "| task | metric | A | B | Δ B |" in markdown
    spearman_a, spearman_b = first["tasks"]["stsb-test"]["spearman"], second["tasks"]["stsb-test"]["spearman"]
    difference = 100 * spearman_b - 100 * spearman_a
    assert f"| stsb-test | spearman | {100 * spearman_a:.2f} | {100 * spearman_b:.2f} | {difference:+.2f} |" in markdown
    assert f"- A: `{two_models[0]}`" in markdown

    saved = read_report(tmp_path / "out" / "report.json")
    assert saved["reports"][1]["tasks"]["scifact-test"] == pytest.approx(second["tasks"]["scifact-test"])
    assert {path.name for path in paths} == {"report.json", "report.md", "sts-stsb-test.png", "recall-scifact-test.png"}


def test_baseline_is_not_encoded_again(two_models, layout, tmp_path, monkeypatch):
    data, suite = layout
    earlier = evaluate_models([two_models[0]], suite=suite, data_dir=data, batch_size=8)
    write_outputs(earlier, tmp_path / "earlier", plots=False)

    loaded: list[str] = []
    original_load = simtext.models.load

    def recording_load(name, *args, **kwargs):
        loaded.append(name)
        return original_load(name, *args, **kwargs)

    monkeypatch.setattr(simtext.models, "load", recording_load)
    report = evaluate_models([two_models[1]], data_dir=data, batch_size=8, baseline=tmp_path / "earlier" / "report.json")

    assert loaded == [two_models[1]]
    assert report["models"] == list(two_models)
    # Without --suite or --task the baseline's tasks are evaluated.
    assert set(report["reports"][1]["tasks"]) == {"stsb-test", "scifact-test"}
    assert report["reports"][0]["tasks"]["stsb-test"] == pytest.approx(earlier["tasks"]["stsb-test"])


def test_plots_skipped_without_matplotlib(tiny_model, layout, tmp_path, monkeypatch, caplog):
    data, _ = layout
    report = evaluate(tiny_model, ["stsb-test"], data, batch_size=8)
    monkeypatch.setitem(sys.modules, "matplotlib", None)

    with caplog.at_level(logging.WARNING):
        paths = write_outputs(report, tmp_path / "out")

    assert [path.name for path in paths] == ["report.json", "report.md"]
    assert "pip install 'simtext[plots]'" in caplog.text


def test_report_keeps_plot_data(tiny_model, layout):
    data, _ = layout
    report = evaluate(tiny_model, ["stsb-test", "scifact-test"], data, batch_size=8)

    assert report["curves"]["stsb-test"]["gold"] == [row[2] for row in STS_ROWS]
    assert len(report["curves"]["stsb-test"]["cosine"]) == len(STS_ROWS)
    recalls = report["curves"]["scifact-test"]["recall_at_k"]
    assert recalls[0] == pytest.approx(report["tasks"]["scifact-test"]["recall@1"], abs=1e-6)
    assert recalls == sorted(recalls)


def test_cli_eval_two_models_with_suite(two_models, layout, tmp_path):
    data, suite = layout

    code = main(["eval", *two_models, "--suite", str(suite), "--data-dir", str(data), "--output-dir", str(tmp_path / "out"), "--no-plots"])

    assert code == 0
    saved = json.loads((tmp_path / "out" / "report.json").read_text())
    assert saved["models"] == list(two_models)
    assert not list((tmp_path / "out").glob("*.png"))


def test_cli_eval_bad_suite_fails(two_models, tmp_path, caplog):
    suite = tmp_path / "suite.yaml"
    suite.write_text("tasks: [stsb-tset]\n", encoding="utf-8")

    with caplog.at_level(logging.ERROR):
        code = main(["eval", two_models[0], "--suite", str(suite), "--output-dir", str(tmp_path / "out")])

    assert code == 2
    assert f"{suite}: tasks[0]: unknown built-in task 'stsb-tset'" in caplog.text


def test_baseline_not_a_report(two_models, tmp_path):
    path = tmp_path / "report.json"
    path.write_text('{"something": 1}', encoding="utf-8")

    with pytest.raises(ValueError, match="Not an evaluation report"):
        evaluate_models([two_models[0]], baseline=path)


def test_baseline_with_custom_tasks_needs_suite(two_models, tmp_path):
    path = tmp_path / "report.json"
    path.write_text('{"model": "m", "tasks": {"my-task": {"spearman": 0.5}}}', encoding="utf-8")

    with pytest.raises(ValueError, match=r"not built in \(my-task\); pass the suite"):
        evaluate_models([two_models[0]], baseline=path)
