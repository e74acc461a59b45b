"""PNG plots of an evaluation: gold score against cosine similarity per STS task, Recall@k against k per retrieval task.

matplotlib is an optional dependency (`pip install 'simtext[plots]'`); without it
the plots are skipped with a warning and the report is still written.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any

from simtext.evaluation.report import model_labels

logger = logging.getLogger(__name__)

MATPLOTLIB_MISSING = "matplotlib is not installed, so no plots were written; install it with pip install 'simtext[plots]'."


def write_plots(reports: list[dict[str, Any]], output_dir: str | Path) -> list[Path]:
    """Write one PNG per STS and per retrieval task found in `reports` into `output_dir`; return the paths."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        logger.warning(MATPLOTLIB_MISSING)
        return []

    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    labels = [f"{label}: {report['model']}" for label, report in zip(model_labels(len(reports)), reports)]
    paths = []
    for task in dict.fromkeys(task for report in reports for task in report.get("curves", {})):
        curves = [(label, report["curves"].get(task), report["tasks"].get(task, {})) for label, report in zip(labels, reports)]
        curves = [(label, curve, metrics) for label, curve, metrics in curves if curve]
        if "recall_at_k" in curves[0][1]:
            figure = _recall_figure(plt, task, curves)
            path = output_dir / f"recall-{_file_name(task)}.png"
        else:
            figure = _sts_figure(plt, task, curves)
            path = output_dir / f"sts-{_file_name(task)}.png"
        figure.savefig(path, dpi=120, bbox_inches="tight")
        plt.close(figure)
        paths.append(path)
    if paths:
        logger.info("Wrote %d plots to %s", len(paths), output_dir)
    return paths


def _sts_figure(plt, task: str, curves: list[tuple[str, dict, dict]]):
    # One panel per model with shared axes, so that the spread of the points compares directly.
    figure, axes = plt.subplots(1, len(curves), figsize=(4.5 * len(curves), 4.2), sharex=True, sharey=True, squeeze=False)
    for axis, (label, curve, metrics) in zip(axes[0], curves):
        axis.scatter(curve["cosine"], curve["gold"], s=6, alpha=0.35)
        spearman = metrics.get("spearman")
        title = label if spearman is None else f"{label}\nSpearman {spearman:.4f}"
        axis.set_title(_shorten(title), fontsize=9)
        axis.set_xlabel("cosine similarity")
        axis.grid(alpha=0.3)
    axes[0][0].set_ylabel("gold score")
    # Raised above the panel titles, which take two lines; savefig's tight bounding box keeps it in the image.
    figure.suptitle(f"{task}: gold score against cosine similarity", y=1.06)
    return figure


def _recall_figure(plt, task: str, curves: list[tuple[str, dict, dict]]):
    figure, axis = plt.subplots(figsize=(6.5, 4.5))
    for label, curve, _ in curves:
        recalls = curve["recall_at_k"]
        axis.plot(range(1, len(recalls) + 1), recalls, label=_shorten(label))
    axis.set_xscale("log")
    axis.set_xlabel("k (documents retrieved)")
    axis.set_ylabel("Recall@k")
    axis.set_ylim(0, 1)
    axis.grid(alpha=0.3, which="both")
    axis.legend(fontsize=8, loc="lower right")
    axis.set_title(f"{task}: Recall@k")
    return figure


def _shorten(text: str, width: int = 60) -> str:
    return text if len(text) <= width else "…" + text[-(width - 1) :]


def _file_name(task: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", task)
