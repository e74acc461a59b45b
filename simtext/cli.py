"""Command-line interface: argument parsing only; each command calls one library function."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

logger = logging.getLogger("simtext")

_DATA_DIR_HELP = (
    "directory that relative data paths are read from (default: the SIMTEXT_DATA_DIR environment variable)"
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="simtext",
        description="Fine-tune sentence encoders with contrastive losses, and evaluate them.",
    )
    parser.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"], help="console log level (default: INFO)")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    train = commands.add_parser(
        "train",
        help="fine-tune a model from a YAML recipe",
        description="Fine-tune a model from a YAML recipe, evaluate it, and save model, report and log in the run directory.",
    )
    train.add_argument("recipe", metavar="RECIPE", help="path of the YAML recipe, for example recipes/paraphrase-mnrl.yaml")
    train.add_argument("--data-dir", metavar="DIR", help=_DATA_DIR_HELP)
    train.add_argument(
        "--output-dir",
        metavar="DIR",
        help="run directory for model/, report.json, report.md, train.log, history.jsonl and recipe.yaml "
        "(default: the recipe's output_dir, else runs/RECIPE_NAME under the current directory)",
    )
    train.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a recipe field by its dotted key, the value read as YAML, for example "
        "--set training.batch_size=32 --set training.max_steps=100; repeatable",
    )

    train.add_argument("--resume", action="store_true", help="continue the run in the run directory from its newest complete checkpoint")
    train.add_argument("--overwrite", action="store_true", help="delete a previous run in the run directory and start again")

    evaluate = commands.add_parser(
        "eval",
        help="evaluate a model on built-in tasks",
        description="Evaluate a model on built-in tasks and write report.json and report.md. "
        "Scores are fractions (0.8203, not 82.03).",
    )
    evaluate.add_argument("model", metavar="MODEL", help="local model directory or Hub id, for example sentence-transformers/all-MiniLM-L6-v2")
    evaluate.add_argument("--data-dir", metavar="DIR", help=_DATA_DIR_HELP)
    evaluate.add_argument(
        "--task",
        dest="tasks",
        action="append",
        metavar="NAME",
        help="task to run: stsb-test, stsb-dev, sick-trial or scifact-test; repeatable (default: stsb-test)",
    )
    evaluate.add_argument("--output-dir", metavar="DIR", default=".", help="directory for report.json and report.md (default: the current directory)")
    evaluate.add_argument("--batch-size", type=int, default=64, metavar="N", help="texts per encoding batch (default: 64)")
    return parser


def configure_logging(level: str) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s", "%H:%M:%S"))
    handler.setLevel(level)
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(logging.INFO if logging.getLevelName(level) > logging.INFO else level)
    for noisy in ("httpx", "urllib3", "filelock", "huggingface_hub", "datasets"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def run_train(args: argparse.Namespace) -> int:
    from simtext.training import run_recipe

    result = run_recipe(
        args.recipe,
        data_dir=args.data_dir,
        output_dir=args.output_dir,
        overrides=args.overrides,
        resume=args.resume,
        overwrite=args.overwrite,
    )
    logger.info("Model saved to %s", result.model_dir)
    return 0


def run_eval(args: argparse.Namespace) -> int:
    from simtext.evaluation import evaluate, write_report
    from simtext.models import load
    from simtext.training.run import resolve_data_dir

    data_dir = resolve_data_dir(args.data_dir)
    tasks = args.tasks or ["stsb-test"]
    model = load(args.model)
    report = evaluate(model, tasks, data_dir, batch_size=args.batch_size, model_name=args.model)
    paths = write_report(report, Path(args.output_dir))
    for task, metrics in report["tasks"].items():
        figures = ", ".join(f"{name} {value:.4f}" for name, value in metrics.items() if isinstance(value, float))
        logger.info("%s: %s", task, figures)
    logger.info("Report written to %s", ", ".join(str(path) for path in paths))
    return 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    configure_logging(args.log_level)
    commands = {"train": run_train, "eval": run_eval}
    try:
        return commands[args.command](args)
    except (ValueError, FileNotFoundError) as error:
        # Input errors carry their place and fix in the message; the traceback is for debugging only.
        logger.error("%s", error)
        logger.debug("Traceback of the error above", exc_info=True)
        return 2
    except FloatingPointError as error:
        logger.error("%s The newest checkpoint, if any, is kept; fix the cause and continue with --resume.", error)
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
