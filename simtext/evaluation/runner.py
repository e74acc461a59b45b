"""Run evaluation tasks on a model, encoding each distinct text once, and collect the figures into one report dictionary."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from sentence_transformers import SentenceTransformer

from simtext.evaluation.encoding import EmbeddingCache
from simtext.evaluation.tasks import Task, get_task, resolve_data_dir

logger = logging.getLogger(__name__)


def evaluate(
    model: SentenceTransformer | str,
    task_names: Sequence[str | Task] | str,
    data_dir: str | Path | None = None,
    batch_size: int = 64,
    show_progress_bar: bool | None = None,
    model_name: str | None = None,
    token_budget: int | None = None,
) -> dict[str, Any]:
    """Evaluate `model` on the named tasks and return the report.

    `model` is a `SentenceTransformer` or a name for `simtext.models.load`. Tasks are
    built-in task names or task objects. `data_dir` defaults to `SIMTEXT_DATA_DIR`.
    Every task's data is read and checked before the first text is encoded, and each
    distinct text is encoded once, however many tasks use it.

    The report maps `tasks.<task>.<metric>` to a float fraction (0.8203, not 82.03),
    `details.<task>` to its type, size, source and seconds, and `curves.<task>` to the
    data of its plot (STS: gold scores and cosine similarities; retrieval: Recall@k).
    With `token_budget`, batches hold up to that many padded tokens instead of
    `batch_size` texts (see `EmbeddingCache`).
    """
    tasks, data_dir = resolve_tasks(task_names, data_dir)
    task_data = [task.read(data_dir) for task in tasks]
    return evaluate_read(model, tasks, task_data, data_dir, batch_size, show_progress_bar, model_name, token_budget)


def resolve_tasks(task_names: Sequence[str | Task] | str, data_dir: str | Path | None) -> tuple[list[Task], Path | None]:
    """Return the task objects for `task_names` (duplicates dropped) and the resolved data directory."""
    if isinstance(task_names, str):
        task_names = [task_names]
    tasks = [get_task(task) if isinstance(task, str) else task for task in dict.fromkeys(task_names)]
    if not tasks:
        raise ValueError("No evaluation tasks given; name at least one task.")
    names = [task.name for task in tasks]
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise ValueError(f"Two different tasks are called {repeated[0]!r}; give every task its own name.")
    return tasks, resolve_data_dir(data_dir)


def evaluate_read(
    model: SentenceTransformer | str,
    tasks: Sequence[Task],
    task_data: Sequence[Any],
    data_dir: Path | None,
    batch_size: int = 64,
    show_progress_bar: bool | None = None,
    model_name: str | None = None,
    token_budget: int | None = None,
) -> dict[str, Any]:
    """Evaluate `model` on `tasks` whose data `task_data` is already read; see `evaluate`."""
    if batch_size < 1:
        raise ValueError(f"batch_size={batch_size} is invalid; pass the number of texts encoded at once (at least 1).")
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
        "curves": {},
    }

    # `model.encode` switches to eval mode; a model evaluated during training must keep its dropout.
    was_training = model.training
    try:
        cache = EmbeddingCache(model, batch_size, show_progress_bar, token_budget)
        for task, data in zip(tasks, task_data):
            task.register(data, cache)
        start = time.perf_counter()
        cache.encode_pending(description=f"encoding for {report['model']}")
        report["encoding"] = {"texts": cache.encoded_count, "seconds": round(time.perf_counter() - start, 2)}
        logger.info("Encoded %d distinct texts in %.1f s", cache.encoded_count, report["encoding"]["seconds"])

        for task, data in zip(tasks, task_data):
            metrics, details, curve = _score_task(cache, task, data)
            report["tasks"][task.name] = metrics
            report["details"][task.name] = details
            if curve:
                report["curves"][task.name] = curve
    finally:
        model.train(was_training)
    return report


def _score_task(cache: EmbeddingCache, task: Task, data: Any) -> tuple[dict[str, float], dict[str, Any], dict]:
    start = time.perf_counter()
    metrics, curve = task.score(data, cache)
    details = {"type": task.kind, "source": data.source, **task.describe(data)}
    details["seconds"] = round(time.perf_counter() - start, 2)

    summary = ", ".join(f"{metric} {value:.4f}" for metric, value in metrics.items())
    logger.info("%s: %s (scored in %.1f s)", task.name, summary, details["seconds"])
    return metrics, details, curve


def _model_name(model: SentenceTransformer) -> str:
    card = model.model_card_data
    name = getattr(card, "model_id", None) or getattr(card, "base_model", None)
    if name:
        return str(name)
    config = getattr(getattr(model[0], "auto_model", None), "config", None)
    return str(getattr(config, "name_or_path", "") or type(model).__name__)
