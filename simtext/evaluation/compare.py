"""Evaluate several models on the same tasks, add an earlier run as baseline, and write report and plots.

Each task's data is read once for all models, and a baseline's figures are taken from
its report.json, so its model is not encoded again.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from simtext.evaluation.report import comparison, model_reports, read_report, write_report
from simtext.evaluation.runner import evaluate_read, resolve_tasks
from simtext.evaluation.suites import load_suite
from simtext.evaluation.tasks import BUILTIN_TASKS, Task

logger = logging.getLogger(__name__)


def evaluate_models(
    models: Sequence[str],
    tasks: Sequence[str | Task] = (),
    suite: str | Path | None = None,
    data_dir: str | Path | None = None,
    batch_size: int = 64,
    baseline: str | Path | None = None,
    show_progress_bar: bool | None = None,
    token_budget: int | None = None,
) -> dict[str, Any]:
    """Evaluate each of `models` (names for `simtext.models.load`) on the tasks and return the report.

    The tasks are those of `suite` followed by `tasks`. With neither, they are the
    baseline's tasks when every one is built in, else `stsb-test`. With one model and
    no baseline, the result is that model's report. Otherwise it is a comparison, and
    its first model (the baseline's first, when given) is the reference for differences.
    """
    earlier = model_reports(read_report(baseline)) if baseline is not None else []
    selected: list[str | Task] = list(load_suite(suite)) if suite is not None else []
    selected += list(tasks)
    if not selected:
        selected = list(earlier[0]["tasks"]) if earlier else ["stsb-test"]
        custom = [name for name in selected if name not in BUILTIN_TASKS]
        if custom:
            raise ValueError(
                f"The baseline report has tasks that are not built in ({', '.join(custom)}); pass the suite "
                "that defines them with --suite."
            )
    resolved, data_dir = resolve_tasks(selected, data_dir)
    if not models:
        raise ValueError("No model given; name at least one model directory or Hub id.")
    task_data = [task.read(data_dir) for task in resolved]

    reports = list(earlier)
    for name in models:
        from simtext.models import load

        logger.info("Evaluating %s on %d tasks", name, len(resolved))
        model = load(name)
        reports.append(evaluate_read(model, resolved, task_data, data_dir, batch_size, show_progress_bar, name, token_budget))
    if len(reports) == 1:
        return reports[0]
    created = datetime.now(timezone.utc).isoformat(timespec="seconds")
    return comparison(reports, created, str(data_dir) if data_dir is not None else None)


def write_outputs(report: dict[str, Any], output_dir: str | Path, plots: bool = True) -> list[Path]:
    """Write report.json, report.md and (when matplotlib is installed) the PNG plots; return the written paths."""
    paths = list(write_report(report, output_dir))
    if plots:
        from simtext.evaluation.plots import write_plots

        paths += write_plots(model_reports(report), output_dir)
    return paths
