"""Run evaluation tasks on a model and collect the figures into one report dictionary."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from sentence_transformers import SentenceTransformer

from simtext.evaluation.beir import RetrievalData
from simtext.evaluation.retrieval import evaluate_retrieval
from simtext.evaluation.sts import STSPairs, evaluate_sts
from simtext.evaluation.tasks import Task, get_task, resolve_data_dir

logger = logging.getLogger(__name__)


def evaluate(
    model: SentenceTransformer | str,
    task_names: Sequence[str | Task] | str,
    data_dir: str | Path | None = None,
    batch_size: int = 64,
    show_progress_bar: bool | None = None,
    model_name: str | None = None,
) -> dict[str, Any]:
    """Evaluate `model` on the named tasks and return the report.

    `model` is a `SentenceTransformer` or a name for `simtext.models.load`. Tasks are
    built-in task names or task objects. `data_dir` defaults to `SIMTEXT_DATA_DIR`.
    Every task's data is read and checked before the first text is encoded.

    The report maps `tasks.<task>.<metric>` to a float fraction (0.8203, not 82.03)
    and `details.<task>` to its type, size, source and seconds.
    """
    if isinstance(task_names, str):
        task_names = [task_names]
    tasks = [get_task(task) if isinstance(task, str) else task for task in dict.fromkeys(task_names)]
    if not tasks:
        raise ValueError("No evaluation tasks given; name at least one task.")
    if batch_size < 1:
        raise ValueError(f"batch_size={batch_size} is invalid; pass the number of texts encoded at once (at least 1).")
    data_dir = resolve_data_dir(data_dir)
    task_data = [task.read(data_dir) for task in tasks]

    if isinstance(model, str):
        from simtext.models import load

        model_name = model_name or model
        model = load(model)
    report: dict[str, Any] = {
        "model": model_name or _model_name(model),
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "data_dir": str(data_dir) if data_dir is not None else None,
        "batch_size": batch_size,
        "tasks": {},
        "details": {},
    }

    # `model.encode` switches to eval mode; a model evaluated during training must keep its dropout.
    was_training = model.training
    try:
        for task, data in zip(tasks, task_data):
            metrics, details = _run_task(model, task, data, batch_size, show_progress_bar, report["model"])
            report["tasks"][task.name] = metrics
            report["details"][task.name] = details
    finally:
        model.train(was_training)
    return report


def _run_task(
    model: SentenceTransformer,
    task: Task,
    data: STSPairs | RetrievalData,
    batch_size: int,
    show_progress_bar: bool | None,
    model_name: str,
) -> tuple[dict[str, float], dict[str, Any]]:
    logger.info("Evaluating %s on %s (%s)", model_name, task.name, data.source)
    start = time.perf_counter()
    if isinstance(data, RetrievalData):
        metrics = evaluate_retrieval(model, data, batch_size, show_progress_bar)
        details = {"type": task.kind, "source": data.source, "queries": len(data.queries), "documents": len(data.documents)}
    else:
        metrics = evaluate_sts(model, data, batch_size, show_progress_bar)
        details = {"type": task.kind, "source": data.source, "pairs": len(data)}
    details["seconds"] = round(time.perf_counter() - start, 2)

    summary = ", ".join(f"{metric} {value:.4f}" for metric, value in metrics.items())
    logger.info("%s: %s (%.1f s)", task.name, summary, details["seconds"])
    return metrics, details


def _model_name(model: SentenceTransformer) -> str:
    card = model.model_card_data
    name = getattr(card, "model_id", None) or getattr(card, "base_model", None)
    if name:
        return str(name)
    config = getattr(getattr(model[0], "auto_model", None), "config", None)
    return str(getattr(config, "name_or_path", "") or type(model).__name__)
