"""Compare simtext's cached (GradCache) step with sentence-transformers' cached MNRL loss: speed and peak memory.

For each batch size, each trainer runs in its own fresh process (so peak
resident memory is its own) on the same model (all-MiniLM-L6-v2), data and
mini-batch size, and trains a few optimizer steps. The data are the cached
recipe's (anchor, positive) pairs, paraphrases and NLI entailments, keeping
only rows whose texts occur in no earlier row: with repeated texts, batches
without duplicates run short, and a short batch is not a measurement of its
batch size. The first step is a warm-up: examples/s counts
the steps after it, from the end of step 1 to the end of the last step, so
data loading and tokenization inside those steps are included on both sides.

    HF_HUB_OFFLINE=1 SIMTEXT_DATA_DIR=../shared/data python eval/bench_cached.py --output eval/results/bench_cached.md
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench_machine import describe_machine

logger = logging.getLogger("bench_cached")
ROOT = Path(__file__).resolve().parent.parent
RECIPE = ROOT / "recipes" / "paraphrase-cached.yaml"
TRAINERS = ("sentence-transformers", "simtext")
# Optimizer steps per batch size: one warm-up step plus at least one measured step of >= 2048 examples.
DEFAULT_STEPS = {128: 6, 512: 3, 2048: 2}


def write_unique_pairs(data_dir: Path, path: Path) -> int:
    """Write the cached recipe's (anchor, positive) rows whose texts are new to a JSON Lines file; return the count."""
    from simtext.data import load_training_data
    from simtext.training import load_recipe

    recipe = load_recipe(RECIPE)
    seen: set[str] = set()
    rows = []
    for dataset in load_training_data(recipe.data.train, data_dir).values():
        for anchor, positive in zip(dataset["anchor"], dataset["positive"]):
            if anchor in seen or positive in seen or anchor == positive:
                continue
            seen.update((anchor, positive))
            rows.append({"anchor": anchor, "positive": positive})
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return len(rows)


def load_pairs_recipe(pairs: Path, batch_size: int, steps: int, mini_batch_size: int, max_tokens: int | None = None):
    """Return the cached recipe reading `pairs`, with the benchmark's batch settings."""
    from simtext.data import Source
    from simtext.training import load_recipe

    overrides = [
        f"training.batch_size={batch_size}",
        f"training.max_steps={steps}",
        f"loss.cached.mini_batch_size={mini_batch_size}",
        "training.log_every=1",
        "evaluation.tasks=[]",
        f"loss.cached.max_tokens={max_tokens if max_tokens else 'null'}",
    ]
    recipe = load_recipe(RECIPE, overrides)
    recipe.data.train = {"pairs": [Source(path=str(pairs), columns={"anchor": "anchor", "positive": "positive"})]}
    return recipe


def peak_rss_bytes() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux reports kibibytes


def run_simtext(recipe, data_dir: Path, work_dir: Path) -> dict:
    from simtext.training import train

    result = train(recipe, work_dir / "run", data_dir, evaluate_fn=lambda model: None)
    steps = [entry for entry in result.history if "loss" in entry]
    measured = steps[1:]
    seconds = sum(entry["examples"] / entry["examples_per_second"] for entry in measured)
    return {"measured_steps": len(measured), "examples": sum(entry["examples"] for entry in measured), "seconds": seconds}


def run_sentence_transformers(recipe, data_dir: Path, work_dir: Path) -> dict:
    from sentence_transformers import SentenceTransformerTrainer, SentenceTransformerTrainingArguments
    from sentence_transformers.base.sampler import BatchSamplers
    from sentence_transformers.sentence_transformer.losses import CachedMultipleNegativesRankingLoss
    from transformers import TrainerCallback

    import simtext
    from simtext.data import load_training_data

    class StepTimes(TrainerCallback):
        def __init__(self):
            self.ends: list[float] = []

        def on_step_end(self, args, state, control, **kwargs):
            self.ends.append(time.perf_counter())

    dataset = load_training_data(recipe.data.train, data_dir)["pairs"]
    model = simtext.load(recipe.model)
    args = SentenceTransformerTrainingArguments(
        output_dir=str(work_dir / "st"),
        max_steps=recipe.training.max_steps,
        per_device_train_batch_size=recipe.training.batch_size,
        learning_rate=recipe.training.learning_rate,
        warmup_ratio=recipe.training.warmup_ratio,
        weight_decay=recipe.training.weight_decay,
        max_grad_norm=recipe.training.max_grad_norm,
        seed=recipe.seed,
        batch_sampler=BatchSamplers.NO_DUPLICATES,
        logging_steps=1000,
        save_strategy="no",
        report_to="none",
    )
    loss = CachedMultipleNegativesRankingLoss(model, scale=recipe.loss.scale, mini_batch_size=recipe.loss.cached.mini_batch_size)
    times = StepTimes()
    trainer = SentenceTransformerTrainer(model=model, args=args, train_dataset=dataset, loss=loss, callbacks=[times])
    trainer.train()
    steps = len(times.ends) - 1
    return {"measured_steps": steps, "examples": steps * recipe.training.batch_size, "seconds": times.ends[-1] - times.ends[0]}


def worker(args) -> None:
    """Train one configuration in this process and write its figures as JSON."""
    recipe = load_pairs_recipe(Path(args.pairs), args.batch_size, args.steps, args.mini_batch_size, args.max_tokens)
    run = run_simtext if args.worker == "simtext" else run_sentence_transformers
    with tempfile.TemporaryDirectory() as work:
        figures = run(recipe, Path(args.data_dir), Path(work))
    figures["examples_per_second"] = figures["examples"] / figures["seconds"]
    figures["peak_rss_bytes"] = peak_rss_bytes()
    Path(args.result).write_text(json.dumps(figures), encoding="utf-8")


def run_worker(trainer: str, batch_size: int, steps: int, args, pairs: Path, result: Path) -> dict:
    command = [
        sys.executable, __file__, "--worker", trainer, "--batch-size", str(batch_size), "--steps", str(steps), "--pairs", str(pairs),
        "--mini-batch-size", str(args.mini_batch_size), "--data-dir", args.data_dir, "--result", str(result),
    ]
    if args.max_tokens:
        command += ["--max-tokens", str(args.max_tokens)]
    logger.info("Running %s at batch size %d (%d steps)", trainer, batch_size, steps)
    subprocess.run(command, check=True)
    figures = json.loads(result.read_text(encoding="utf-8"))
    logger.info("%s, batch %d: %.2f examples/s, peak RSS %.0f MiB", trainer, batch_size, figures["examples_per_second"], figures["peak_rss_bytes"] / 2**20)
    return figures


def format_table(results: dict[int, dict[str, dict]], mini_batch_size: int, max_tokens: int | None, pairs: int, command: str) -> str:
    lines = [
        "| batch | sentence-transformers examples/s | simtext examples/s | speed ratio | "
        "sentence-transformers peak RSS (MiB) | simtext peak RSS (MiB) | memory ratio |",
        "|---|---|---|---|---|---|---|",
    ]
    for batch_size, figures in results.items():
        st, ours = figures["sentence-transformers"], figures["simtext"]
        speed = ours["examples_per_second"] / st["examples_per_second"]
        memory = ours["peak_rss_bytes"] / st["peak_rss_bytes"]
        lines.append(
            f"| {batch_size} | {st['examples_per_second']:.2f} | {ours['examples_per_second']:.2f} | **{speed:.2f}** | "
            f"{st['peak_rss_bytes'] / 2**20:.0f} | {ours['peak_rss_bytes'] / 2**20:.0f} | {memory:.2f} |"
        )
    sizes = list(results)
    for trainer in TRAINERS:
        growth = results[sizes[-1]][trainer]["peak_rss_bytes"] / results[sizes[0]][trainer]["peak_rss_bytes"] - 1
        lines.append("")
        lines.append(f"{trainer}: peak RSS grows {100 * growth:+.1f}% from batch {sizes[0]} to batch {sizes[-1]}.")
    lines += [
        "",
        f"{pairs} pairs; mini-batch size {mini_batch_size}"
        + (f", simtext chunks also capped at {max_tokens} padded tokens" if max_tokens else "")
        + "; speed ratio = simtext / sentence-transformers examples/s; "
        "memory ratio = simtext / sentence-transformers peak RSS.",
        "",
        f"Command: `{command}`",
        describe_machine(),
    ]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", default=os.environ.get("SIMTEXT_DATA_DIR"), help="data directory (default: SIMTEXT_DATA_DIR)")
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=list(DEFAULT_STEPS), help="batch sizes to compare (default: 128 512 2048)")
    parser.add_argument("--mini-batch-size", type=int, default=32, help="texts per forward pass in both cached steps (default: 32)")
    parser.add_argument(
        "--max-tokens", type=int, help="simtext's loss.cached.max_tokens: padded tokens per chunk (default: no limit)"
    )
    parser.add_argument("--output", help="also write the Markdown table to this file")
    parser.add_argument("--worker", choices=TRAINERS, help=argparse.SUPPRESS)
    parser.add_argument("--batch-size", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--steps", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--result", help=argparse.SUPPRESS)
    parser.add_argument("--pairs", help=argparse.SUPPRESS)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if not args.data_dir:
        parser.error("set --data-dir or SIMTEXT_DATA_DIR")
    if args.worker:
        worker(args)
        return

    results: dict[int, dict[str, dict]] = {}
    with tempfile.TemporaryDirectory() as work:
        pairs = Path(work) / "pairs.jsonl"
        count = write_unique_pairs(Path(args.data_dir), pairs)
        logger.info("%d pairs with texts that occur once", count)
        for batch_size in args.batch_sizes:
            steps = DEFAULT_STEPS.get(batch_size, 3)
            if count < steps * batch_size:
                raise SystemExit(f"{count} pairs cannot fill {steps} batches of {batch_size}; lower the batch size")
            results[batch_size] = {
                trainer: run_worker(trainer, batch_size, steps, args, pairs, Path(work) / f"{trainer}-{batch_size}.json")
                for trainer in TRAINERS
            }

    command = "HF_HUB_OFFLINE=1 SIMTEXT_DATA_DIR=DATA python eval/bench_cached.py"
    if args.batch_sizes != list(DEFAULT_STEPS):
        command += " --batch-sizes " + " ".join(map(str, args.batch_sizes))
    if args.max_tokens:
        command += f" --max-tokens {args.max_tokens}"
    if args.output:
        command += f" --output {args.output}"
    table = format_table(results, args.mini_batch_size, args.max_tokens, count, command)
    logger.info("\n%s", table)
    if args.output:
        Path(args.output).parent.mkdir(parents=True, exist_ok=True)
        Path(args.output).write_text(table, encoding="utf-8")


if __name__ == "__main__":
    main()
