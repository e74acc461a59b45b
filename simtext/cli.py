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
        help="evaluate one or more models on built-in tasks or a suite",
        description="Evaluate models on built-in tasks or the tasks of a suite file, and write report.json, "
        "report.md and PNG plots. Scores in report.json are fractions (0.8203, not 82.03).",
    )
    evaluate.add_argument(
        "models",
        nargs="+",
        metavar="MODEL",
        help="local model directory or Hub id, for example sentence-transformers/all-MiniLM-L6-v2; with several, "
        "the report compares them with the first",
    )
    evaluate.add_argument("--data-dir", metavar="DIR", help=_DATA_DIR_HELP)
    evaluate.add_argument("--suite", metavar="FILE", help="YAML suite file listing the tasks, for example eval/suites/all.yaml")
    evaluate.add_argument(
        "--task",
        dest="tasks",
        action="append",
        default=[],
        metavar="NAME",
        help="built-in task to run, such as stsb-test, sick-trial, scifact-test, msrp-test, paws-dev or trecqa-test; "
        "repeatable, added after the suite's tasks (default without --suite: stsb-test)",
    )
    evaluate.add_argument(
        "--baseline",
        metavar="REPORT",
        help="report.json of an earlier run: its figures become the first columns of the comparison, without re-encoding",
    )
    evaluate.add_argument("--output-dir", metavar="DIR", default=".", help="directory for report.json, report.md and the plots (default: the current directory)")
    evaluate.add_argument("--batch-size", type=int, default=64, metavar="N", help="texts per encoding batch (default: 64)")
    evaluate.add_argument(
        "--token-budget",
        type=int,
        metavar="TOKENS",
        help="padded tokens per encoding batch, replacing --batch-size: short texts go in large batches, long texts in small ones",
    )
    evaluate.add_argument("--no-plots", action="store_true", help="write no PNG plots")

    push = commands.add_parser(
        "push",
        help="upload a trained model to the Hugging Face Hub",
        description="Create the Hub model repository (if needed) and upload the run's model folder, model card included.",
    )
    push.add_argument("run_dir", metavar="RUN_DIR", help="run directory of simtext train (its model/ folder is uploaded), or a model folder")
    push.add_argument("repo_id", metavar="REPO_ID", help="Hub repository id, for example your-name/minilm-paraphrase")
    push.add_argument("--private", action="store_true", help="create the repository as private")
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
    from simtext.training.distributed import close_process_group

    try:
        result = run_recipe(
            args.recipe,
            data_dir=args.data_dir,
            output_dir=args.output_dir,
            overrides=args.overrides,
            resume=args.resume,
            overwrite=args.overwrite,
        )
    finally:
        close_process_group()
    logger.info("Model folder: %s", result.model_dir)
    return 0


def run_eval(args: argparse.Namespace) -> int:
    from simtext.evaluation.compare import evaluate_models, write_outputs

    report = evaluate_models(
        args.models,
        args.tasks,
        args.suite,
        args.data_dir,
        batch_size=args.batch_size,
        baseline=args.baseline,
        token_budget=args.token_budget,
    )
    paths = write_outputs(report, Path(args.output_dir), plots=not args.no_plots)
    logger.info("Report written to %s", ", ".join(str(path) for path in paths))
    return 0


def run_push(args: argparse.Namespace) -> int:
    from simtext.hub import push_run

    url = push_run(args.run_dir, args.repo_id, private=args.private)
    logger.info("Uploaded to %s", url)
    return 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    configure_logging(args.log_level)
    commands = {"train": run_train, "eval": run_eval, "push": run_push}
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
