"""Train the paraphrase recipe with sentence-transformers' trainer and with simtext, in one run, and compare.

Both trainers get the same model and the same two datasets (paraphrase pairs
and NLI triplets, sampled in proportion, no duplicate texts in a batch). They
also share batch size, learning rate, warmup, weight decay, seed and one epoch.
Both models are scored with sentence-transformers' `EmbeddingSimilarityEvaluator`
on the STS-B test set. Training time excludes model loading and evaluation.

    HF_HUB_OFFLINE=1 SIMTEXT_DATA_DIR=../shared/data python eval/bench_train.py --output eval/results/bench_train.md
"""

from __future__ import annotations

import argparse
import logging
import os
import tempfile
import time
from pathlib import Path

from datasets import DatasetDict
from sentence_transformers import SentenceTransformerTrainer, SentenceTransformerTrainingArguments
from sentence_transformers.base.sampler import BatchSamplers, MultiDatasetBatchSamplers
from sentence_transformers.sentence_transformer.evaluation import EmbeddingSimilarityEvaluator
from sentence_transformers.sentence_transformer.losses import MultipleNegativesRankingLoss

import simtext
from simtext.data import Source, load_source, load_training_data
from simtext.training import load_recipe, train
from bench_machine import describe_machine

logger = logging.getLogger("bench_train")
ROOT = Path(__file__).resolve().parent.parent


def stsb_test_spearman(model, data_dir: Path) -> float:
    rows = load_source(Source(path="stsb/test.csv", columns={"sentence1": "sentence1", "sentence2": "sentence2", "score": "score"}), data_dir)
    evaluator = EmbeddingSimilarityEvaluator(
        rows["sentence1"], rows["sentence2"], [score / 5 for score in rows["score"]], batch_size=64, main_similarity="cosine"
    )
    return evaluator(model)[evaluator.primary_metric]


def training_arguments(recipe, work_dir: Path, **options) -> SentenceTransformerTrainingArguments:
    """Return sentence-transformers' trainer arguments with the recipe's schedule, plus `options` (batch samplers)."""
    return SentenceTransformerTrainingArguments(
        output_dir=str(work_dir / "st"),
        num_train_epochs=recipe.training.epochs,
        max_steps=recipe.training.max_steps or -1,
        per_device_train_batch_size=recipe.training.batch_size,
        learning_rate=recipe.training.learning_rate,
        warmup_ratio=recipe.training.warmup_ratio,
        weight_decay=recipe.training.weight_decay,
        max_grad_norm=recipe.training.max_grad_norm,
        seed=recipe.seed,
        logging_steps=recipe.training.log_every,
        save_strategy="no",
        report_to="none",
        **options,
    )


def train_and_score(trainer: SentenceTransformerTrainer, recipe, examples: int, data_dir: Path) -> dict:
    """Time `trainer.train()` and score the trained model on STS-B test; `examples` is the epoch's row count."""
    started = time.perf_counter()
    output = trainer.train()
    seconds = time.perf_counter() - started
    if recipe.training.max_steps:
        # NOTE: with --max-steps the count assumes full batches, an estimate within one batch.
        examples = min(examples, output.global_step * recipe.training.batch_size)
    return {"seconds": seconds, "examples": examples, "steps": output.global_step, "spearman": stsb_test_spearman(trainer.model, data_dir)}


def run_sentence_transformers(recipe, data_dir: Path, work_dir: Path) -> dict:
    datasets = DatasetDict(load_training_data(recipe.data.train, data_dir))
    model = simtext.load(recipe.model)
    args = training_arguments(
        recipe,
        work_dir,
        batch_sampler=BatchSamplers.NO_DUPLICATES,
        multi_dataset_batch_sampler=MultiDatasetBatchSamplers.PROPORTIONAL,
    )
    loss = MultipleNegativesRankingLoss(model, scale=recipe.loss.scale)
    trainer = SentenceTransformerTrainer(model=model, args=args, train_dataset=datasets, loss=loss)
    return train_and_score(trainer, recipe, sum(len(dataset) for dataset in datasets.values()), data_dir)


def run_simtext(recipe, data_dir: Path, work_dir: Path) -> dict:
    result = train(recipe, work_dir / "simtext", data_dir, evaluate_fn=lambda model: None)
    model = simtext.load(str(result.model_dir))
    return {"seconds": result.seconds, "examples": result.examples, "steps": result.steps, "spearman": stsb_test_spearman(model, data_dir)}


def format_table(results: dict[str, dict], command: str) -> str:
    st, ours = results["sentence-transformers"], results["simtext"]
    lines = [
        "| trainer | steps | examples | training time (s) | examples/s | STS-B test Spearman |",
        "|---|---|---|---|---|---|",
    ]
    for name, figures in results.items():
        rate = figures["examples"] / figures["seconds"]
        lines.append(f"| {name} | {figures['steps']} | {figures['examples']} | {figures['seconds']:.0f} | {rate:.2f} | {figures['spearman']:.4f} |")
    speed_ratio = (ours["examples"] / ours["seconds"]) / (st["examples"] / st["seconds"])
    lines += [
        "",
        f"simtext / sentence-transformers examples/s: **{speed_ratio:.2f}**",
        "",
        f"Command: `{command}`",
        describe_machine(),
    ]
    return "\n".join(lines) + "\n"


def main() -> None:
    run_benchmark(__doc__, "paraphrase-mnrl", "bench_train.py", run_sentence_transformers)


def run_benchmark(doc: str, default_recipe: str, script: str, run_sentence_transformers, loss_name: str | None = None) -> None:
    """Parse the command line, train the recipe with both trainers, and log (and write) the comparison table."""
    parser = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    parser.add_argument("--recipe", default=str(ROOT / "recipes" / f"{default_recipe}.yaml"), help=f"recipe to train (default: {default_recipe})")
    parser.add_argument("--data-dir", default=os.environ.get("SIMTEXT_DATA_DIR"), help="data directory (default: SIMTEXT_DATA_DIR)")
    parser.add_argument("--max-steps", type=int, default=None, help="stop both trainers after this many steps (for a quick check)")
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a recipe value for both trainers, for example --set training.learning_rate=2e-5; repeatable",
    )
    parser.add_argument("--output", help="also write the Markdown table to this file")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if not args.data_dir:
        parser.error("set --data-dir or SIMTEXT_DATA_DIR")

    overrides = list(args.overrides) + ([f"training.max_steps={args.max_steps}"] if args.max_steps else [])
    recipe = load_recipe(args.recipe, overrides)
    if loss_name is not None and recipe.loss.name != loss_name:
        parser.error(f"--recipe: the benchmark compares loss {loss_name!r}, but the recipe's loss is {recipe.loss.name!r}")
    data_dir = Path(args.data_dir)
    results = {}
    with tempfile.TemporaryDirectory() as work:
        results["sentence-transformers"] = run_sentence_transformers(recipe, data_dir, Path(work))
        results["simtext"] = run_simtext(recipe, data_dir, Path(work))

    command = f"HF_HUB_OFFLINE=1 SIMTEXT_DATA_DIR=DATA python eval/{script}" + (f" --max-steps {args.max_steps}" if args.max_steps else "")
    command += "".join(f" --set {override}" for override in args.overrides)
    if args.output:
        command += f" --output {args.output}"
    table = format_table(results, command)
    logger.info("\n%s", table)
    if args.output:
        Path(args.output).parent.mkdir(parents=True, exist_ok=True)
        Path(args.output).write_text(table, encoding="utf-8")


if __name__ == "__main__":
    main()
