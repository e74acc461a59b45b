"""Write the README.md model card of a trained model: recipe, training data, loss, evaluation table and Hub metadata.

The YAML header is built with huggingface_hub's `ModelCardData` and `EvalResult`, so
the scores land in the `model-index` metadata that the Hub shows and that
`huggingface_hub.repocard.metadata_load` reads back.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from huggingface_hub import EvalResult, ModelCard, ModelCardData

from simtext.evaluation.report import metrics_table

# Task type names of sentence-transformers' own model cards, per simtext task kind.
_TASK_TYPES = {
    "sts": ("semantic-similarity", "Semantic Similarity"),
    "retrieval": ("information-retrieval", "Information Retrieval"),
    "pair-classification": ("binary-classification", "Binary Classification"),
    "reranking": ("reranking", "Reranking"),
}


@dataclass
class CardInfo:
    """Contents of a model card: the run's recipe, training data summary, loss and evaluation report."""

    base_model: str
    recipe: dict[str, Any]
    datasets: dict[str, dict[str, Any]] = field(default_factory=dict)  # name: {"examples": n, "columns": [...], "sources": [...]}
    loss: dict[str, Any] = field(default_factory=dict)  # recipe loss fields, plus `final_loss` when known
    steps: int | None = None
    report: dict[str, Any] | None = None
    name: str | None = None  # model name in the card and its model-index; default: the folder name


def eval_results(report: dict[str, Any] | None) -> list[EvalResult]:
    """Return one `EvalResult` per task and metric of `report`, skipping undefined (NaN) figures."""
    if not report:
        return []
    results = []
    for task, metrics in report["tasks"].items():
        kind = (report.get("details") or {}).get(task, {}).get("type", "sts")
        task_type, task_name = _TASK_TYPES.get(kind, (kind, kind))
        for metric, value in metrics.items():
            if value is None or (isinstance(value, float) and math.isnan(value)):
                continue
            results.append(
                EvalResult(
                    task_type=task_type,
                    task_name=task_name,
                    dataset_type=task,
                    dataset_name=task,
                    metric_type=metric,
                    metric_name=metric,
                    metric_value=float(value),
                )
            )
    return results


def build_model_card(info: CardInfo, model_name: str) -> ModelCard:
    """Return the model card of a trained model: metadata header (with `model-index`) and Markdown body."""
    results = eval_results(info.report)
    card_data = ModelCardData(
        library_name="sentence-transformers",
        pipeline_tag="sentence-similarity",
        tags=["sentence-transformers", "sentence-similarity", "feature-extraction", "simtext"],
        base_model=info.base_model if "/" in info.base_model and not Path(info.base_model).exists() else None,
        model_name=model_name,
        eval_results=results or None,
    )
    body = _body(info, model_name)
    return ModelCard(f"---\n{card_data.to_yaml()}\n---\n\n{body}")


def write_model_card(model_dir: str | Path, info: CardInfo) -> Path:
    """Write the model card of `info` as README.md in `model_dir`, replacing sentence-transformers' generic card."""
    model_dir = Path(model_dir)
    path = model_dir / "README.md"
    build_model_card(info, info.name or model_dir.name).save(path)
    return path


def _body(info: CardInfo, model_name: str) -> str:
    lines = [
        f"# {model_name}",
        "",
        f"A sentence-transformers model fine-tuned from `{info.base_model}` with simtext"
        + (f" ({info.steps} optimizer steps)." if info.steps is not None else "."),
        "",
        "```python",
        "from sentence_transformers import SentenceTransformer",
        "",
        'model = SentenceTransformer("PATH_OR_REPO_ID")',
        'embeddings = model.encode(["A plane is taking off."], normalize_embeddings=True)',
        "```",
        "",
        "## Training data",
        "",
    ]
    if info.datasets:
        lines += ["| dataset | examples | columns | sources |", "|---|---:|---|---|"]
        for name, summary in info.datasets.items():
            columns = ", ".join(summary.get("columns", []))
            sources = ", ".join(f"`{source}`" for source in summary.get("sources", []))
            lines.append(f"| {name} | {summary.get('examples', 0):,} | {columns} | {sources} |")
    else:
        lines.append("Not recorded.")

    lines += ["", "## Loss", ""]
    loss = dict(info.loss)
    final = loss.pop("final_loss", None)
    lines.append(", ".join(f"{key}: `{value}`" for key, value in loss.items()) or "Not recorded.")
    if final is not None:
        lines += ["", f"Training loss over the last logged steps: {final:.4f}."]

    lines += ["", "## Evaluation", ""]
    if info.report:
        lines += ["Values are × 100, except thresholds, which are similarities.", ""]
        lines += metrics_table([info.report], [f"`{info.report.get('model', model_name)}`"])
    else:
        lines.append("The run evaluated no task.")

    lines += ["", "## Recipe", "", "```yaml", yaml.safe_dump(info.recipe, sort_keys=False).rstrip(), "```", ""]
    return "\n".join(lines)
