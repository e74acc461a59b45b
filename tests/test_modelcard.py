"""The model card of a trained model, and `simtext push` with the Hub client replaced (no network)."""

from __future__ import annotations

import json
import logging

import pytest
import torch
from huggingface_hub.repocard import metadata_load
from huggingface_hub.repocard_data import model_index_to_eval_results
from sentence_transformers import SentenceTransformer

import simtext
import simtext.hub
from simtext.cli import main
from simtext.modelcard import CardInfo
from simtext.training import run_recipe
from test_train import write_data, write_recipe

REPORT = {
    "model": "runs/x/model",
    "tasks": {
        "stsb-test": {"spearman": 0.8399, "pearson": 0.8410},
        "msrp-test": {"ap": 0.8369, "accuracy": 0.7252, "accuracy_threshold": 0.6386},
        "trecqa-test": {"map": 0.7443, "mrr@10": float("nan")},
    },
    "details": {
        "stsb-test": {"type": "sts"},
        "msrp-test": {"type": "pair-classification"},
        "trecqa-test": {"type": "reranking"},
    },
}


def card_info(report=REPORT):
    return CardInfo(
        base_model="sentence-transformers/all-MiniLM-L6-v2",
        recipe={"model": "sentence-transformers/all-MiniLM-L6-v2", "loss": {"name": "infonce", "scale": 20.0}},
        datasets={"paraphrases": {"examples": 5112, "columns": ["anchor", "positive"], "sources": ["stsb/train.csv"]}},
        loss={"name": "infonce", "scale": 20.0, "symmetric": False, "final_loss": 0.1234},
        steps=181,
        report=report,
    )


def test_saved_card_has_model_index(tiny_model, tmp_path):
    path = simtext.save(tiny_model, tmp_path / "model", card=card_info())

    metadata = metadata_load(path / "README.md")
    name, results = model_index_to_eval_results(metadata["model-index"])
    figures = {(result.dataset_name, result.metric_type): result.metric_value for result in results}

    assert name == "model"
    assert figures[("stsb-test", "spearman")] == pytest.approx(0.8399)
    assert figures[("msrp-test", "accuracy_threshold")] == pytest.approx(0.6386)
    assert ("trecqa-test", "mrr@10") not in figures  # NaN is left out
    assert {result.task_type for result in results} == {"semantic-similarity", "binary-classification", "reranking"}
    assert metadata["library_name"] == "sentence-transformers"
    assert metadata["base_model"] == "sentence-transformers/all-MiniLM-L6-v2"


def test_saved_card_body(tiny_model, tmp_path):
    path = simtext.save(tiny_model, tmp_path / "model", card=card_info())
    text = (path / "README.md").read_text(encoding="utf-8")

    assert "| paraphrases | 5,112 | anchor, positive | `stsb/train.csv` |" in text
    assert "name: `infonce`, scale: `20.0`, symmetric: `False`" in text
    assert "Training loss over the last logged steps: 0.1234." in text
    assert "| stsb-test | spearman | 83.99 |" in text
    assert "| msrp-test | accuracy_threshold | 0.6386 |" in text
    assert "```yaml\nmodel: sentence-transformers/all-MiniLM-L6-v2\n" in text


def test_saved_model_still_loads(tiny_model, tmp_path):
    path = simtext.save(tiny_model, tmp_path / "model", card=card_info())

    loaded = SentenceTransformer(str(path), device="cpu")
    texts = ["a man plays the guitar", "the dog runs"]
    assert torch.allclose(loaded.encode(texts, convert_to_tensor=True), tiny_model.encode(texts, convert_to_tensor=True), atol=1e-6)


def test_training_run_writes_card(tmp_path, tiny_model):
    data_dir = tmp_path / "data"
    write_data(data_dir)
    base = simtext.save(tiny_model, tmp_path / "tiny")
    recipe = write_recipe(tmp_path / "recipe.yaml", base)

    run_recipe(recipe, data_dir=data_dir, output_dir=tmp_path / "run", overrides=["training.max_steps=2"])

    model_dir = tmp_path / "run" / "model"
    report = json.loads((tmp_path / "run" / "report.json").read_text())
    name, results = model_index_to_eval_results(metadata_load(model_dir / "README.md")["model-index"])
    spearman = next(result.metric_value for result in results if result.metric_type == "spearman")
    text = (model_dir / "README.md").read_text(encoding="utf-8")

    assert name == "run"
    assert spearman == pytest.approx(report["tasks"]["stsb-test"]["spearman"])
    assert "| pairs |" in text
    assert "| nli |" in text
    assert "(2 optimizer steps)" in text
    assert "learning_rate: 0.001" in text
    SentenceTransformer(str(model_dir), device="cpu")


class FakeHfApi:
    """Stands in for `huggingface_hub.HfApi` and records the calls."""

    calls: list[tuple] = []

    def __init__(self, token=None):
        self.token = token

    def create_repo(self, repo_id, repo_type=None, private=False, exist_ok=False):
        self.calls.append(("create_repo", repo_id, repo_type, private, exist_ok))
        return f"https://huggingface.co/{repo_id}"

    def upload_folder(self, repo_id, folder_path, repo_type=None, commit_message=None):
        self.calls.append(("upload_folder", repo_id, folder_path, repo_type, sorted(path.name for path in folder_path.iterdir())))


def test_push_uploads_model_folder(tiny_model, tmp_path, monkeypatch):
    simtext.save(tiny_model, tmp_path / "run" / "model", card=card_info())
    FakeHfApi.calls = []
    monkeypatch.setattr(simtext.hub, "HfApi", FakeHfApi)

    code = main(["push", str(tmp_path / "run"), "someone/tiny-model", "--private"])

    assert code == 0
    create, upload = FakeHfApi.calls
    assert create == ("create_repo", "someone/tiny-model", "model", True, True)
    assert upload[:4] == ("upload_folder", "someone/tiny-model", tmp_path / "run" / "model", "model")
    assert {"README.md", "modules.json", "model.safetensors"} <= set(upload[4])


def test_push_without_model_fails(tmp_path, monkeypatch, caplog):
    FakeHfApi.calls = []
    monkeypatch.setattr(simtext.hub, "HfApi", FakeHfApi)

    with caplog.at_level(logging.ERROR):
        code = main(["push", str(tmp_path), "someone/tiny-model"])

    assert code == 2
    assert "contains modules.json" in caplog.text
    assert FakeHfApi.calls == []
