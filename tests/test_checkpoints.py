"""Checkpoints and resume: atomic folders, bitwise resume after SIGKILL, non-finite loss, run-directory guards."""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import time

import pytest
import torch
import yaml
from accelerate import Accelerator
from safetensors.torch import load_file

import simtext
from simtext.training import run_recipe
from simtext.training.checkpoints import MARKER, Checkpoints
from simtext.training.objectives import InfoNCEObjective


@pytest.fixture
def workspace(tmp_path, tiny_model):
    """120 paraphrase pairs with unique texts and a recipe of 2 epochs at batch size 4 (60 steps), dropout on."""
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    words = ["cat", "dog", "man", "woman", "boy", "girl"]
    anchors = [f"the {words[index % 6]} sits on the mat number {index}" for index in range(120)]
    lines = ["anchor\tpositive"] + [f"{anchor}\t{anchor} today" for anchor in anchors]
    (data_dir / "pairs.tsv").write_text("\n".join(lines) + "\n")
    model_dir = simtext.save(tiny_model, tmp_path / "tiny")
    recipe = {
        "model": str(model_dir),
        "data": {"train": {"pairs": [{"path": "pairs.tsv", "columns": {"anchor": "anchor", "positive": "positive"}}]}},
        "loss": {"memory": {"size": 16}},
        "training": {"epochs": 2, "batch_size": 4, "learning_rate": 1e-3, "log_every": 5, "checkpoint_every": 2},
        "evaluation": {"tasks": []},
    }
    path = tmp_path / "recipe.yaml"
    path.write_text(yaml.safe_dump(recipe))
    return tmp_path, data_dir, path


def train_command(recipe, data_dir, output_dir, *extra):
    return [sys.executable, "-m", "simtext", "train", str(recipe), "--data-dir", str(data_dir), "--output-dir", str(output_dir), *extra]


def newest_step(run_dir) -> int:
    steps = [int(path.name.split("-")[1]) for path in (run_dir / "checkpoints").glob("step-*") if (path / MARKER).is_file()]
    return max(steps, default=0)


def test_resume_after_sigkill_matches_uninterrupted_run(workspace):
    tmp_path, data_dir, recipe = workspace
    environment = {**os.environ, "HF_HUB_OFFLINE": "1"}
    subprocess.run(train_command(recipe, data_dir, tmp_path / "whole"), check=True, env=environment, capture_output=True)

    interrupted = tmp_path / "interrupted"
    process = subprocess.Popen(train_command(recipe, data_dir, interrupted), env=environment, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while newest_step(interrupted) < 6 and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert process.returncode == -signal.SIGKILL
    killed_at = newest_step(interrupted)
    assert 6 <= killed_at < 30, f"the run should be killed in its first epoch, its newest checkpoint is step {killed_at}"
    assert not (interrupted / "model").exists()

    resumed = subprocess.run(train_command(recipe, data_dir, interrupted, "--resume"), env=environment, capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert f"Resumed from checkpoint {interrupted / 'checkpoints' / f'step-{killed_at}'}" in resumed.stderr

    expected = load_file(tmp_path / "whole" / "model" / "model.safetensors")
    weights = load_file(interrupted / "model" / "model.safetensors")
    assert weights.keys() == expected.keys()
    for name in expected:
        assert torch.equal(weights[name], expected[name]), name
    history = [json.loads(line) for line in (interrupted / "history.jsonl").read_text().splitlines()]
    assert [entry["step"] for entry in history] == list(range(5, 61, 5))


def test_keeps_newest_checkpoints(workspace):
    tmp_path, data_dir, recipe = workspace
    run_recipe(recipe, data_dir=data_dir, output_dir=tmp_path / "run", overrides=["training.max_steps=7", "training.keep_checkpoints=3"])
    names = sorted(path.name for path in (tmp_path / "run" / "checkpoints").iterdir())
    assert names == ["step-2", "step-4", "step-6"]


def test_half_written_checkpoints_are_ignored(tmp_path):
    folder = tmp_path / "checkpoints"
    for name, complete in (("step-5", True), ("step-9", False), (".step-12.tmp", True)):
        (folder / name).mkdir(parents=True)
        if complete:
            (folder / name / MARKER).write_text("{}")
    checkpoints = Checkpoints(folder, Accelerator(cpu=True), keep=2)

    assert checkpoints.latest() == folder / "step-5"
    checkpoints.remove_incomplete()
    assert not (folder / ".step-12.tmp").exists()


def test_resume_without_checkpoint_fails(workspace):
    tmp_path, data_dir, recipe = workspace
    run_dir = tmp_path / "run"
    run_recipe(recipe, data_dir=data_dir, output_dir=run_dir, overrides=["training.max_steps=1", "training.keep_checkpoints=0"])
    # Without its history the run looks stopped before its end, as after a kill.
    (run_dir / "history.jsonl").unlink()
    with pytest.raises(FileNotFoundError, match="no complete checkpoint"):
        run_recipe(recipe, data_dir=data_dir, output_dir=run_dir, overrides=["training.max_steps=1", "training.keep_checkpoints=0"], resume=True)


def test_resume_of_finished_run_trains_nothing(workspace, monkeypatch, caplog):
    tmp_path, data_dir, recipe = workspace
    run_dir = tmp_path / "run"
    overrides = ["training.max_steps=4"]
    first = run_recipe(recipe, data_dir=data_dir, output_dir=run_dir, overrides=overrides)
    log = (run_dir / "train.log").read_text(encoding="utf-8")

    def no_training(*args, **kwargs):
        raise AssertionError("a finished run was trained again")

    monkeypatch.setattr("simtext.training.run.train", no_training)
    with caplog.at_level(logging.INFO):
        again = run_recipe(recipe, data_dir=data_dir, output_dir=run_dir, overrides=overrides, resume=True)

    assert again.steps == first.steps == 4
    assert again.examples == first.examples
    assert again.history == first.history
    assert "already finished at step 4, so --resume has nothing to continue" in caplog.text
    assert (run_dir / "train.log").read_text(encoding="utf-8") == log


def test_non_finite_loss_stops_with_step(workspace, monkeypatch):
    tmp_path, data_dir, recipe = workspace
    original = InfoNCEObjective.loss
    calls = []

    def loss_turning_nan(self, embeddings, rows):
        calls.append(1)
        loss = original(self, embeddings, rows)
        return loss * float("nan") if len(calls) == 5 else loss

    monkeypatch.setattr(InfoNCEObjective, "loss", loss_turning_nan)
    with pytest.raises(FloatingPointError, match="Non-finite loss nan at step 5"):
        run_recipe(recipe, data_dir=data_dir, output_dir=tmp_path / "run", overrides=["training.checkpoint_every=1"])
    names = sorted(path.name for path in (tmp_path / "run" / "checkpoints").iterdir())
    assert names == ["step-3", "step-4"]


def test_run_directory_needs_overwrite(workspace):
    tmp_path, data_dir, recipe = workspace
    run_dir = tmp_path / "run"
    overrides = ["training.max_steps=2"]
    run_recipe(recipe, data_dir=data_dir, output_dir=run_dir, overrides=overrides)

    with pytest.raises(ValueError, match="already contains a run .*--overwrite"):
        run_recipe(recipe, data_dir=data_dir, output_dir=run_dir, overrides=overrides)
    (run_dir / "checkpoints" / "stray").mkdir()
    result = run_recipe(recipe, data_dir=data_dir, output_dir=run_dir, overrides=overrides, overwrite=True)
    assert result.steps == 2
    assert not (run_dir / "checkpoints" / "stray").exists()


def test_run_failed_before_first_step_can_rerun(workspace):
    tmp_path, data_dir, recipe = workspace
    run_dir = tmp_path / "run"
    overrides = ["training.max_steps=2"]
    (data_dir / "pairs.tsv").rename(data_dir / "moved.tsv")
    with pytest.raises(FileNotFoundError, match="pairs.tsv"):
        run_recipe(recipe, data_dir=data_dir, output_dir=run_dir, overrides=overrides)
    assert sorted(path.name for path in run_dir.iterdir()) == ["recipe.yaml", "train.log"]
    assert "ERROR simtext.training.run: Run failed: FileNotFoundError:" in (run_dir / "train.log").read_text()

    (data_dir / "moved.tsv").rename(data_dir / "pairs.tsv")
    result = run_recipe(recipe, data_dir=data_dir, output_dir=run_dir, overrides=overrides)

    assert result.steps == 2
    assert "Run failed" not in (run_dir / "train.log").read_text()


def test_resume_rejects_changed_recipe(workspace):
    tmp_path, data_dir, recipe = workspace
    run_dir = tmp_path / "run"
    run_recipe(recipe, data_dir=data_dir, output_dir=run_dir, overrides=["training.max_steps=2"])
    with pytest.raises(ValueError, match="differs from the one in .* at training.learning_rate"):
        run_recipe(recipe, data_dir=data_dir, output_dir=run_dir, overrides=["training.max_steps=2", "training.learning_rate=0.1"], resume=True)


def test_cli_reports_non_finite_loss(workspace, monkeypatch, caplog):
    from simtext.cli import main

    tmp_path, data_dir, recipe = workspace
    monkeypatch.setattr(InfoNCEObjective, "loss", lambda self, embeddings, rows: embeddings["anchor"].sum() * float("inf"))
    code = main(["train", str(recipe), "--data-dir", str(data_dir), "--output-dir", str(tmp_path / "run")])
    assert code == 1
    assert "at step 1" in caplog.text
    assert "--resume" in caplog.text
