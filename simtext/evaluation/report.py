"""Write an evaluation report as report.json (for programs) and report.md (for people).

A report is either one model's report (as `evaluate` returns it) or a comparison,
`{"models": [...], "reports": [one report per model]}`. The Markdown table puts the
models side by side, with each model's difference from the first.
"""

from __future__ import annotations

import json
import logging
import string
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)


def model_reports(report: dict[str, Any]) -> list[dict[str, Any]]:
    """Return the one-model reports inside `report`: the report itself, or every report of a comparison."""
    if "reports" in report:
        return list(report["reports"])
    if "tasks" in report:
        return [report]
    raise ValueError("Not an evaluation report: expected a `tasks` or a `reports` field.")


def comparison(reports: list[dict[str, Any]], created: str | None = None, data_dir: str | None = None) -> dict[str, Any]:
    """Return the comparison report of `reports`, the first being the reference for differences."""
    return {
        "created": created,
        "data_dir": data_dir,
        "models": [report["model"] for report in reports],
        "reports": reports,
    }


def read_report(path: str | Path) -> dict[str, Any]:
    """Read a report.json written by `write_report`, raising `FileNotFoundError` or `ValueError` with the path."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"Report {path} not found. Pass the report.json of an earlier simtext eval run.")
    try:
        report = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise ValueError(f"{path}: invalid JSON ({error}); pass a report.json written by simtext eval.") from None
    try:
        model_reports(report)
    except ValueError as error:
        raise ValueError(f"{path}: {error}") from None
    return report


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
    """Return the report as Markdown: the models, one table of tasks × metrics × models, then the task details."""
    reports = model_reports(report)
    labels = model_labels(len(reports))
    lines = ["# Evaluation report", ""]
    for label, item in zip(labels, reports):
        lines.append(f"- {label}: `{item['model']}` (created {item.get('created') or 'unknown'})")
    if report.get("data_dir") is not None:
        lines.append(f"- Data directory: `{report['data_dir']}`")
    lines += ["", "Values are × 100, except thresholds, which are similarities."]
    if len(reports) > 1:
        lines.append(f"Δ columns give the difference from {labels[0]}.")
    lines.append("")
    lines += metrics_table(reports, labels)

    details = _task_details(reports)
    if details:
        lines += ["", "| task | type | size | source |", "|---|---|---|---|"]
        for task, info in details.items():
            size = ", ".join(f"{info[key]:,} {key}" for key in ("pairs", "queries", "documents", "candidates") if key in info)
            lines.append(f"| {task} | {info.get('type', '')} | {size} | `{info.get('source', '')}` |")

    encoding = [(label, item["encoding"]) for label, item in zip(labels, reports) if item.get("encoding")]
    if encoding:
        lines += ["", "| model | distinct texts encoded | seconds |", "|---|---:|---:|"]
        lines += [f"| {label} | {info['texts']:,} | {info['seconds']:.1f} |" for label, info in encoding]
    return "\n".join(lines) + "\n"


def model_labels(count: int) -> list[str]:
    """Return short column labels for `count` models: A, B, ..., Z, then M27, M28, ..."""
    letters = string.ascii_uppercase
    return [letters[index] if index < len(letters) else f"M{index + 1}" for index in range(count)]


def metrics_table(reports: list[dict[str, Any]], labels: list[str]) -> list[str]:
    """Return the Markdown lines of the task × metric table with one column per model and a Δ column per later model."""
    header = ["task", "metric", labels[0]]
    for label in labels[1:]:
        header += [label, f"Δ {label}"]
    lines = ["| " + " | ".join(header) + " |", "|---|---|" + "---:|" * (len(header) - 2)]

    for task, metric in _task_metrics(reports):
        values = [item["tasks"].get(task, {}).get(metric) for item in reports]
        cells = [task, metric, _format_value(metric, values[0])]
        for value in values[1:]:
            difference = None if value is None or values[0] is None else value - values[0]
            cells += [_format_value(metric, value), _format_value(metric, difference, signed=True)]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def _task_metrics(reports: list[dict[str, Any]]) -> list[tuple[str, str]]:
    pairs: dict[tuple[str, str], None] = {}
    for item in reports:
        for task, metrics in item["tasks"].items():
            for metric in metrics:
                pairs[(task, metric)] = None
    return list(pairs)


def _task_details(reports: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    details: dict[str, dict[str, Any]] = {}
    for item in reports:
        for task, info in (item.get("details") or {}).items():
            details.setdefault(task, info)
    return details


def _format_value(metric: str, value: float | None, signed: bool = False) -> str:
    if value is None or value != value:
        return "–"
    sign = "+" if signed else ""
    if metric.endswith("_threshold"):
        return f"{value:{sign}.4f}"
    return f"{100 * value:{sign}.2f}"
