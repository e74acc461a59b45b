"""Publish a trained model folder on the Hugging Face Hub with `huggingface_hub`."""

from __future__ import annotations

import logging
from pathlib import Path

from huggingface_hub import HfApi

logger = logging.getLogger(__name__)


def model_folder(run_dir: str | Path) -> Path:
    """Return the model folder of `run_dir`: its `model/` subfolder, or `run_dir` itself when it is a model folder."""
    run_dir = Path(run_dir)
    for folder in (run_dir / "model", run_dir):
        if (folder / "modules.json").is_file():
            return folder
    raise FileNotFoundError(
        f"No sentence-transformers model in {run_dir}: neither {run_dir / 'model'} nor {run_dir} contains modules.json. "
        "Pass the run directory of simtext train or a saved model folder."
    )


def push_run(run_dir: str | Path, repo_id: str, private: bool = False, token: str | None = None) -> str:
    """Create the model repository `repo_id` (kept if it exists) and upload the run's model folder; return the repo URL.

    The token comes from `token`, else from huggingface_hub's usual sources
    (`HF_TOKEN` or `hf auth login`). README.md, the model card, is uploaded with the weights.
    """
    folder = model_folder(run_dir)
    if not (folder / "README.md").is_file():
        logger.warning("%s has no README.md, so the Hub repository gets no model card.", folder)
    api = HfApi(token=token)
    url = api.create_repo(repo_id, repo_type="model", private=private, exist_ok=True)
    logger.info("Uploading %s to %s", folder, repo_id)
    api.upload_folder(
        repo_id=repo_id,
        folder_path=folder,
        repo_type="model",
        commit_message=f"Upload model from simtext run {Path(run_dir).resolve().name}",
    )
    return str(url)
