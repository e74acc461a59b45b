"""Set up a run directory around the training loop: effective recipe, log file, report."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import yaml

from simtext.training.loop import TrainingResult, train
from simtext.training.recipe import load_recipe, recipe_to_dict

logger = logging.getLogger(__name__)


def resolve_data_dir(data_dir: str | Path | None) -> Path | None:
    """Return `data_dir`, else `SIMTEXT_DATA_DIR`, else None; an explicit directory must exist."""
    value = data_dir if data_dir is not None else os.environ.get("SIMTEXT_DATA_DIR")
    if not value:
        return None
    path = Path(value).expanduser()
    if not path.is_dir():
        origin = "--data-dir" if data_dir is not None else "SIMTEXT_DATA_DIR"
        raise FileNotFoundError(f"Data directory {path} (from {origin}) not found.")
    return path


def run_recipe(
    recipe_path: str | Path,
    data_dir: str | Path | None = None,
    output_dir: str | Path | None = None,
    overrides: list[str] | None = None,
) -> TrainingResult:
    """Validate the recipe, train, evaluate, and write everything into the run directory.

    The run directory is `output_dir`, else the recipe's `output_dir`, else
    `runs/<recipe name>`. It receives `recipe.yaml` (the effective recipe, with
    overrides applied), `train.log`, `history.jsonl`, `model/` and `report.json` /
    `report.md`.
    """
    recipe = load_recipe(recipe_path, overrides)
    data = resolve_data_dir(data_dir)
    run_dir = Path(output_dir or recipe.output_dir or Path("runs") / Path(recipe_path).stem)
    run_dir.mkdir(parents=True, exist_ok=True)

    effective = recipe_to_dict(recipe)
    effective["output_dir"] = str(run_dir)
    (run_dir / "recipe.yaml").write_text(yaml.safe_dump(effective, sort_keys=False), encoding="utf-8")
    handler = _attach_log_file(run_dir / "train.log")
    try:
        logger.info("Run directory %s, data directory %s", run_dir, data or "not set")
        result = train(recipe, run_dir, data)
        if result.report is not None:
            from simtext.evaluation import write_report

            write_report(result.report, run_dir)
            _log_scores(result.report)
        return result
    finally:
        logging.getLogger().removeHandler(handler)
        handler.close()


def _attach_log_file(path: Path) -> logging.Handler:
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.setLevel(logging.INFO)
    root = logging.getLogger()
    root.addHandler(handler)
    if root.level > logging.INFO or root.level == logging.NOTSET:
        root.setLevel(logging.INFO)
    return handler


def _log_scores(report: dict) -> None:
    for task, metrics in report.get("tasks", {}).items():
        figures = ", ".join(f"{name} {value:.4f}" for name, value in metrics.items() if isinstance(value, float))
        logger.info("%s: %s", task, figures)
