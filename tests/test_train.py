"""End-to-end training on a tiny encoder: recipe in; model, report and log out; bad input rejected early."""

from __future__ import annotations

import json
import logging

import pytest
import torch
import yaml
from sentence_transformers import SentenceTransformer

import simtext
from simtext.cli import main
from simtext.training import run_recipe

WORDS = "the a cat dog man woman plays runs sits eats in on park house guitar food red blue small big".split()


def write_data(data_dir):
    """Write a small paraphrase CSV, an NLI JSONL file and an STS-B style test file."""
    generator = torch.Generator().manual_seed(0)

    def sentence():
        picks = torch.randint(len(WORDS), (5,), generator=generator).tolist()
        return " ".join(WORDS[index] for index in picks)

    (data_dir / "pairs").mkdir(parents=True)
    lines = ["sentence1,sentence2,score"]
    for index in range(40):
        first = sentence()
        lines.append(f"{first},{first} too,{4 + index % 2}")
    (data_dir / "pairs" / "train.csv").write_text("\n".join(lines) + "\n")

    rows = []
    for _ in range(12):
        premise = sentence()
        rows.append({"premise": premise, "hypothesis": premise + " now", "label": "entailment"})
        rows.append({"premise": premise, "hypothesis": sentence(), "label": "contradiction"})
    (data_dir / "nli.jsonl").write_text("\n".join(json.dumps(row) for row in rows) + "\n")

    (data_dir / "stsb").mkdir()
    test_lines = ["sentence1,sentence2,score"]
    for index in range(20):
        test_lines.append(f"{sentence()},{sentence()},{index % 6}")
    (data_dir / "stsb" / "test.csv").write_text("\n".join(test_lines) + "\n")


def write_recipe(path, model_dir, **changes):
    recipe = {
        "model": str(model_dir),
        "seed": 7,
        "data": {
            "train": {
                "pairs": [{"path": "pairs/train.csv", "columns": {"anchor": "sentence1", "positive": "sentence2"}, "filter": "score >= 4"}],
                "nli": [{"path": "nli.jsonl", "nli_triplets": {}}],
            }
        },
        "loss": {"name": "infonce", "scale": 20.0},
        "training": {"epochs": 1, "batch_size": 8, "learning_rate": 1e-3, "log_every": 2},
        "evaluation": {"tasks": ["stsb-test"], "batch_size": 16},
    }
    for key, value in changes.items():
        section, _, field = key.partition("__")
        recipe[section][field] = value
    path.write_text(yaml.safe_dump(recipe))
    return path


@pytest.fixture
def workspace(tmp_path, tiny_model):
    data_dir = tmp_path / "data"
    write_data(data_dir)
    model_dir = simtext.save(tiny_model, tmp_path / "tiny")
    return tmp_path, data_dir, model_dir


def test_train_writes_run_directory(workspace):
    tmp_path, data_dir, model_dir = workspace
    recipe = write_recipe(tmp_path / "recipe.yaml", model_dir)

    result = run_recipe(recipe, data_dir=data_dir, output_dir=tmp_path / "run", overrides=["training.max_steps=4"])

    run_dir = tmp_path / "run"
    assert result.steps == 4
    assert (run_dir / "model" / "model.safetensors").is_file()
    assert (run_dir / "train.log").read_text().count("step ") >= 2
    report = json.loads((run_dir / "report.json").read_text())
    assert 0 <= abs(report["tasks"]["stsb-test"]["spearman"]) <= 1
    assert (run_dir / "report.md").is_file()
    effective = yaml.safe_load((run_dir / "recipe.yaml").read_text())
    assert effective["training"]["max_steps"] == 4
    history = [json.loads(line) for line in (run_dir / "history.jsonl").read_text().splitlines()]
    assert [entry["step"] for entry in history if "loss" in entry] == [2, 4]


def test_train_changes_weights_and_saves_them(workspace, tiny_model):
    tmp_path, data_dir, model_dir = workspace
    recipe = write_recipe(tmp_path / "recipe.yaml", model_dir, evaluation__tasks=[])

    run_recipe(recipe, data_dir=data_dir, output_dir=tmp_path / "run", overrides=["training.max_steps=3"])

    sentences = ["the cat sits on the red house", "a dog runs"]
    trained = SentenceTransformer(str(tmp_path / "run" / "model"))
    reloaded = simtext.load(str(tmp_path / "run" / "model"))
    before = tiny_model.encode(sentences, convert_to_tensor=True)
    after = trained.encode(sentences, convert_to_tensor=True)
    assert not torch.allclose(before, after, atol=1e-4)
    torch.testing.assert_close(reloaded.encode(sentences, convert_to_tensor=True), after, rtol=0, atol=1e-6)


def test_train_full_epoch_counts_examples(workspace):
    tmp_path, data_dir, model_dir = workspace
    recipe = write_recipe(tmp_path / "recipe.yaml", model_dir, evaluation__tasks=[])

    result = run_recipe(recipe, data_dir=data_dir, output_dir=tmp_path / "run", overrides=["training.embed_chunk_size=3"])

    # 40 pairs and 12 triplets, each used once.
    assert result.examples == 52
    assert result.steps == 5 + 2


def test_train_keeps_best_model(workspace):
    tmp_path, data_dir, model_dir = workspace
    recipe = write_recipe(tmp_path / "recipe.yaml", model_dir)
    overrides = ["training.max_steps=4", "training.eval_every=2", "evaluation.best_metric=stsb-test/spearman"]

    result = run_recipe(recipe, data_dir=data_dir, output_dir=tmp_path / "run", overrides=overrides)

    evaluations = [entry for entry in result.history if "evaluation" in entry]
    assert [entry["step"] for entry in evaluations] == [2, 4]
    best = max(evaluations, key=lambda entry: entry["evaluation"]["stsb-test"]["spearman"])
    assert result.report["tasks"]["stsb-test"]["spearman"] == best["evaluation"]["stsb-test"]["spearman"]


BAD_INPUTS = [
    ("missing file", lambda d: (d / "pairs" / "train.csv").unlink(), "pairs/train.csv"),
    ("missing column", lambda d: (d / "pairs" / "train.csv").write_text("first,sentence2,score\na,b,4\n"), "'sentence1' not found"),
    ("malformed row", lambda d: (d / "pairs" / "train.csv").write_text("sentence1,sentence2,score\na,b,4\nc,d\n"), "line 3"),
    ("empty text", lambda d: (d / "pairs" / "train.csv").write_text("sentence1,sentence2,score\na,b,4\n ,d,5\n"), "line 3, column 'sentence1'"),
    ("non-numeric score", lambda d: (d / "pairs" / "train.csv").write_text("sentence1,sentence2,score\na,b,4\nc,d,high\n"), "line 3, column 'score'"),
    ("missing evaluation file", lambda d: (d / "stsb" / "test.csv").unlink(), "stsb/test.csv"),
]


@pytest.mark.parametrize("case, damage, expected", BAD_INPUTS, ids=[case[0] for case in BAD_INPUTS])
def test_bad_input_fails_before_training(workspace, case, damage, expected, caplog):
    tmp_path, data_dir, model_dir = workspace
    damage(data_dir)
    recipe = write_recipe(tmp_path / "recipe.yaml", model_dir)

    with caplog.at_level(logging.INFO):
        code = main(["train", str(recipe), "--data-dir", str(data_dir), "--output-dir", str(tmp_path / "run")])

    assert code == 2
    assert expected in caplog.text
    assert not (tmp_path / "run" / "model").exists()
    assert "Loaded model" not in caplog.text


def test_unknown_recipe_key_fails_before_training(workspace, caplog):
    tmp_path, data_dir, model_dir = workspace
    recipe = write_recipe(tmp_path / "recipe.yaml", model_dir, training__learning_rte=0.1)

    with caplog.at_level(logging.ERROR):
        code = main(["train", str(recipe), "--data-dir", str(data_dir), "--output-dir", str(tmp_path / "run")])

    assert code == 2
    assert "training.learning_rte: unknown key" in caplog.text
    assert "learning_rate" in caplog.text
    assert not (tmp_path / "run").exists()


def test_help_describes_options(capsys):
    for command in (["train", "--help"], ["eval", "--help"]):
        with pytest.raises(SystemExit):
            main(command)
        text = capsys.readouterr().out
        assert "--data-dir" in text
        assert "SIMTEXT_DATA_DIR" in text


def test_cli_trains_with_bf16_in_subprocess(workspace):
    # A fresh process, because Accelerate keeps one mixed-precision setting per process.
    import subprocess
    import sys

    tmp_path, data_dir, model_dir = workspace
    recipe = write_recipe(tmp_path / "recipe.yaml", model_dir)
    command = [
        sys.executable, "-m", "simtext", "train", str(recipe),
        "--data-dir", str(data_dir), "--output-dir", str(tmp_path / "run"),
        "--set", "training.max_steps=2", "--set", "training.mixed_precision=bf16",
    ]

    completed = subprocess.run(command, capture_output=True, text=True, timeout=300)

    assert completed.returncode == 0, completed.stderr[-2000:]
    assert (tmp_path / "run" / "model" / "model.safetensors").is_file()
    assert "stsb-test: spearman" in completed.stderr


def test_repeated_texts_warn_small_batches(workspace, caplog):
    tmp_path, data_dir, model_dir = workspace
    lines = ["sentence1,sentence2,score"] + [f"the same question,answer number {index},5" for index in range(12)]
    (data_dir / "pairs" / "train.csv").write_text("\n".join(lines) + "\n")
    recipe = write_recipe(tmp_path / "recipe.yaml", model_dir, evaluation__tasks=[])

    with caplog.at_level(logging.INFO, logger="simtext.training.loop"):
        run_recipe(recipe, data_dir=data_dir, output_dir=tmp_path / "run", overrides=["training.max_steps=1"])

    warnings = [record.getMessage() for record in caplog.records if record.levelno == logging.WARNING]
    assert any("batches have fewer than 8 examples" in message for message in warnings)


def test_train_cached_step_with_memory(workspace, caplog):
    tmp_path, data_dir, model_dir = workspace
    recipe = write_recipe(tmp_path / "recipe.yaml", model_dir, evaluation__tasks=[])
    overrides = ["loss.cached={mini_batch_size: 3}", "loss.memory.size=20", "training.max_steps=4"]

    with caplog.at_level(logging.INFO, logger="simtext"):
        result = run_recipe(recipe, data_dir=data_dir, output_dir=tmp_path / "run", overrides=overrides)

    assert result.steps == 4
    losses = [entry["loss"] for entry in result.history if "loss" in entry]
    assert all(loss > 0 for loss in losses)
    assert (tmp_path / "run" / "model" / "model.safetensors").is_file()
