"""Set up a run directory around the training loop: effective recipe, log file, report."""

from __future__ import annotations

import json
import logging
import os
import shutil
from pathlib import Path

import torch
import yaml
from accelerate import PartialState

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
    resume: bool = False,
    overwrite: bool = False,
) -> TrainingResult:
    """Validate the recipe, train, evaluate, and write everything into the run directory.

    The run directory is `output_dir`, else the recipe's `output_dir`, else
    `runs/<recipe name>`. It receives `recipe.yaml` (the effective recipe, with
    overrides applied), `train.log`, `history.jsonl`, `checkpoints/`, `model/`
    and `report.json` / `report.md`. A directory that already contains a run
    needs `resume` (continue it from its newest checkpoint) or `overwrite`
    (delete it and start again). Under `accelerate launch`, only the main
    process writes files other than checkpoints, and only it logs at INFO.
    """
    recipe = load_recipe(recipe_path, overrides)
    data = resolve_data_dir(data_dir)
    run_dir = Path(output_dir or recipe.output_dir or Path("runs") / Path(recipe_path).stem)
    # Without CUDA, processes started by `accelerate launch --multi_gpu` or torchrun join over gloo on CPU.
    state = PartialState(cpu=not torch.cuda.is_available())
    if not state.is_main_process:
        logging.getLogger("simtext").setLevel(logging.WARNING)

    effective = recipe_to_dict(recipe)
    effective["output_dir"] = str(run_dir)
    clear = check_run_directory(run_dir, effective, resume, overwrite)
    finished = finished_run(run_dir, evaluates=bool(recipe.evaluation.tasks)) if resume else None
    if finished is not None:
        logger.info(
            "The run in %s already finished at step %d, so --resume has nothing to continue. Its model is in %s. "
            "Pass --overwrite to train it again.", run_dir, finished.steps, finished.model_dir,
        )
        return finished
    state.wait_for_everyone()
    handler = None
    if state.is_main_process:
        if clear:
            _clear_run(run_dir)
        run_dir.mkdir(parents=True, exist_ok=True)
        (run_dir / "recipe.yaml").write_text(yaml.safe_dump(effective, sort_keys=False), encoding="utf-8")
        handler = _attach_log_file(run_dir / "train.log")
    state.wait_for_everyone()
    try:
        logger.info("Run directory %s, data directory %s", run_dir, data or "not set")
        result = train(recipe, run_dir, data, resume=resume)
        if result.report is not None and state.is_main_process:
            from simtext.evaluation import write_report

            write_report(result.report, run_dir)
            _log_scores(result.report)
        return result
    except Exception as error:
        if handler is not None:
            _log_to_file_only(handler, error)
        raise
    finally:
        if handler is not None:
            logging.getLogger().removeHandler(handler)
            handler.close()


RUN_OUTPUTS = ("model", "checkpoints", "report.json", "report.md", "history.jsonl", "train.log", "recipe.yaml")
# Written before the data is read; alone, they are what a run leaves when it fails before its first step.
SETUP_OUTPUTS = ("train.log", "recipe.yaml")


def check_run_directory(run_dir: Path, effective: dict, resume: bool, overwrite: bool) -> bool:
    """Raise `ValueError` when the run directory's contents do not fit `resume` / `overwrite`.

    Return whether the directory's run outputs must be deleted before the run
    starts: with `overwrite`, or when only the setup files of a run that failed
    before its first step are there (a bad data path, say), so that rerunning
    the fixed recipe needs no flag.
    """
    if resume and overwrite:
        raise ValueError("--resume and --overwrite exclude each other: resume continues the run, overwrite deletes it")
    existing = [name for name in RUN_OUTPUTS if (run_dir / name).exists()]
    if resume:
        saved = run_dir / "recipe.yaml"
        if not saved.is_file():
            raise FileNotFoundError(f"--resume: {saved} not found; {run_dir} contains no run to continue")
        _check_same_recipe(saved, effective)
        return False
    if overwrite or set(existing) <= set(SETUP_OUTPUTS):
        return bool(existing)
    raise ValueError(
        f"Run directory {run_dir} already contains a run ({', '.join(existing)}). Pass --resume to continue it, "
        "--overwrite to delete it and start again, or --output-dir to write elsewhere."
    )


def finished_run(run_dir: Path, evaluates: bool) -> TrainingResult | None:
    """Return the result of the run in `run_dir` if it finished, else None.

    A run has finished when its last files are written: `history.jsonl`, written
    after the final model is saved, and `report.json` when the recipe evaluates.
    """
    history_path = run_dir / "history.jsonl"
    report_path = run_dir / "report.json"
    if not history_path.is_file() or (evaluates and not report_path.is_file()):
        return None
    history = [json.loads(line) for line in history_path.read_text(encoding="utf-8").splitlines() if line.strip()]
    report = json.loads(report_path.read_text(encoding="utf-8")) if report_path.is_file() else None
    steps = max((entry.get("step", 0) for entry in history), default=0)
    examples = sum(entry.get("examples", 0) for entry in history if "loss" in entry)
    return TrainingResult(run_dir / "model", steps, examples, 0.0, report, history)


def _check_same_recipe(saved: Path, effective: dict) -> None:
    previous = yaml.safe_load(saved.read_text(encoding="utf-8")) or {}
    changed = sorted(_differences(previous, effective))
    if changed:
        raise ValueError(
            f"--resume: the recipe differs from the one in {saved} at {', '.join(changed)}. Resume with the same "
            "recipe and --set options, or start a new run with --overwrite or another --output-dir."
        )


def _differences(old, new, path: str = "") -> list[str]:
    if isinstance(old, dict) and isinstance(new, dict):
        keys = set(old) | set(new)
        return [found for key in keys for found in _differences(old.get(key), new.get(key), f"{path}.{key}" if path else key)]
    return [] if old == new else [path]


def _clear_run(run_dir: Path) -> None:
    deleted = []
    for name in RUN_OUTPUTS:
        path = run_dir / name
        if path.is_dir():
            shutil.rmtree(path)
        elif path.exists():
            path.unlink()
        else:
            continue
        deleted.append(name)
    logger.info("Deleted the previous run's %s in %s", ", ".join(deleted), run_dir)


def _log_to_file_only(handler: logging.Handler, error: Exception) -> None:
    """Write the error that stops the run to train.log; the caller reports it on the console."""
    message = "Run failed: %s: %s"
    handler.handle(logger.makeRecord(logger.name, logging.ERROR, __file__, 0, message, (type(error).__name__, error), None))


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
