"""`simtext eval` from the command line: report files, fractions, and errors that name the fix."""

from __future__ import annotations

import json
import logging

import simtext
from simtext.cli import main


def write_sts(data_dir):
    (data_dir / "stsb").mkdir(parents=True)
    rows = [
        ("a man plays the guitar", "a man plays a guitar", 4.8),
        ("a dog runs in the park", "the cat sits on the mat", 0.4),
        ("a woman eats food", "a woman is eating", 4.1),
        ("the red car", "a blue house", 0.9),
        ("children play in the street", "kids are playing outside", 3.7),
    ]
    lines = ["sentence1,sentence2,score"] + [f"{first},{second},{score}" for first, second, score in rows]
    (data_dir / "stsb" / "test.csv").write_text("\n".join(lines) + "\n")


def test_eval_writes_reports(tiny_model, tmp_path):
    model_dir = simtext.save(tiny_model, tmp_path / "model")
    write_sts(tmp_path / "data")

    code = main(["eval", str(model_dir), "--data-dir", str(tmp_path / "data"), "--task", "stsb-test", "--output-dir", str(tmp_path / "out")])

    assert code == 0
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert report["model"] == str(model_dir)
    assert -1 <= report["tasks"]["stsb-test"]["spearman"] <= 1
    assert "stsb-test" in (tmp_path / "out" / "report.md").read_text()


def test_eval_unknown_task_fails(tiny_model, tmp_path, caplog):
    model_dir = simtext.save(tiny_model, tmp_path / "model")
    write_sts(tmp_path / "data")

    with caplog.at_level(logging.ERROR):
        code = main(["eval", str(model_dir), "--data-dir", str(tmp_path / "data"), "--task", "stsb-tset", "--output-dir", str(tmp_path / "out")])

    assert code == 2
    assert "Unknown evaluation task 'stsb-tset'" in caplog.text
    assert "stsb-test" in caplog.text


def test_eval_missing_data_dir_fails(tiny_model, tmp_path, caplog):
    model_dir = simtext.save(tiny_model, tmp_path / "model")

    with caplog.at_level(logging.ERROR):
        code = main(["eval", str(model_dir), "--data-dir", str(tmp_path / "absent"), "--output-dir", str(tmp_path / "out")])

    assert code == 2
    assert "absent" in caplog.text
    assert "not found" in caplog.text
