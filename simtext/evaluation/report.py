"""Write an evaluation report as report.json (for programs) and report.md (for people)."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)


def write_report(report: dict[str, Any], output_dir: str | Path) -> tuple[Path, Path]:
    """Write `report` as report.json and report.md in `output_dir`, creating the folder, and return both paths."""
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)

    json_path = output_dir / "report.json"
    # NaN (an undefined correlation) is not valid JSON, so it is written as null.
    text = json.dumps(_nan_to_none(report), indent=2, ensure_ascii=False, allow_nan=False)
    json_path.write_text(text + "\n", encoding="utf-8")
    markdown_path = output_dir / "report.md"
    markdown_path.write_text(format_markdown(report), encoding="utf-8")

    logger.info("Wrote evaluation report to %s and %s", json_path, markdown_path)
    return json_path, markdown_path


def _nan_to_none(value: Any) -> Any:
    if isinstance(value, float) and value != value:
        return None
    if isinstance(value, dict):
        return {key: _nan_to_none(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_nan_to_none(item) for item in value]
    return value


def format_markdown(report: dict[str, Any]) -> str:
    """Return the report as Markdown: a header, one table row per task and metric, then the task details."""
    lines = ["# Evaluation report", ""]
    for key, label in (("model", "Model"), ("data_dir", "Data directory"), ("created", "Created")):
        if report.get(key) is not None:
            lines.append(f"- {label}: `{report[key]}`")
    lines += ["", "Values are fractions; the last column is the same value × 100.", ""]

    lines += ["| task | metric | value | ×100 |", "|---|---|---:|---:|"]
    for task, metrics in report["tasks"].items():
        for metric, value in metrics.items():
            lines.append(f"| {task} | {metric} | {value:.4f} | {100 * value:.2f} |")

    details = report.get("details") or {}
    if details:
        lines += ["", "| task | type | size | seconds |", "|---|---|---|---:|"]
        for task, info in details.items():
            size = ", ".join(f"{info[key]:,} {key}" for key in ("pairs", "queries", "documents") if key in info)
            lines.append(f"| {task} | {info.get('type', '')} | {size} | {info.get('seconds', 0):.1f} |")
    return "\n".join(lines) + "\n"
