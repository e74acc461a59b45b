"""The training loop on Accelerate: embed each batch, compute the loss, step, log, evaluate, save.

Batches are planned by `simtext.data.plan_epoch` rather than a DataLoader,
because each batch must come from one dataset and hold no text twice.
"""

from __future__ import annotations

import json
import logging
import math
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch
from accelerate import Accelerator
from accelerate.utils import set_seed
from datasets import Dataset
from sentence_transformers import SentenceTransformer
from tqdm.auto import tqdm
from transformers import get_linear_schedule_with_warmup

from simtext import models
from simtext.data import PlannedBatch, example_texts, load_training_data, plan_epoch
from simtext.training.objectives import build_objective
from simtext.training.recipe import Recipe
from simtext.training.steps import StepOutput, cached_step, direct_step

logger = logging.getLogger(__name__)


@dataclass
class TrainingResult:
    """Outputs of a finished run: where the model is, how much was trained, and the evaluation."""

    model_dir: Path
    steps: int
    examples: int
    seconds: float
    report: dict | None = None
    history: list[dict] = field(default_factory=list)


def check_training_data(objective, datasets: dict[str, Dataset]) -> None:
    """Reject datasets whose columns or values the loss cannot use, before any model is loaded."""
    for name, dataset in datasets.items():
        objective.check_columns(name, dataset.column_names)
        objective.check_rows(name, dataset)


def batch_texts(objective, dataset: Dataset) -> list[frozenset[str]]:
    """Return each row's texts for the batch planner, or empty sets when the loss allows a text in several rows."""
    if objective.distinct_texts:
        return example_texts(dataset)
    # With nothing to collide, the planner cuts plain shuffled batches, all of them full.
    return [frozenset()] * len(dataset)


def check_evaluation_data(recipe: Recipe, data_dir: Path | None) -> None:
    """Read every evaluation task's data once, so a missing file or bad row fails before training."""
    from simtext.evaluation import get_task

    for name in recipe.evaluation.tasks:
        get_task(name).read(data_dir)


def build_optimizer(model: torch.nn.Module, learning_rate: float, weight_decay: float) -> torch.optim.Optimizer:
    """Return AdamW with weight decay on weight matrices only (not on biases and LayerNorm)."""
    decayed, plain = [], []
    for name, parameter in model.named_parameters():
        if not parameter.requires_grad:
            continue
        (plain if parameter.ndim < 2 or "LayerNorm" in name else decayed).append(parameter)
    groups = [{"params": decayed, "weight_decay": weight_decay}, {"params": plain, "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=learning_rate)


def train_step(accelerator, model, tokenizer_model, objective, dataset: Dataset, batch: PlannedBatch, recipe: Recipe, step: int) -> StepOutput:
    """Embed one planned batch, compute the objective's loss and back-propagate it (direct or cached)."""
    rows = dataset[list(batch.indices)]
    columns = {name: rows[name] for name in objective.text_columns(dataset.column_names)}

    def loss_fn(embeddings: dict[str, torch.Tensor]) -> torch.Tensor:
        loss = objective.loss(embeddings, rows)
        if not torch.isfinite(loss):
            raise FloatingPointError(f"Non-finite loss {loss.item()} at step {step}; lower the learning rate or check the data.")
        return loss

    cached = recipe.loss.cached
    if cached is not None:
        output = cached_step(
            accelerator, model, tokenizer_model, columns, loss_fn, cached.mini_batch_size, cached.sort_by_length
        )
    else:
        output = direct_step(accelerator, model, tokenizer_model, columns, loss_fn, recipe.training.embed_chunk_size)
    objective.after_step(output.embeddings, rows)
    return output


def count_steps(plans_per_epoch: int, recipe: Recipe) -> int:
    """Return the total number of optimizer steps of the run."""
    if recipe.training.max_steps is not None:
        return recipe.training.max_steps
    return plans_per_epoch * recipe.training.epochs


def train(recipe: Recipe, run_dir: Path, data_dir: Path | None, evaluate_fn=None) -> TrainingResult:
    """Run `recipe`, writing the model, evaluation report and step history into `run_dir`.

    `evaluate_fn(model) -> report` evaluates the model; the default evaluates the
    recipe's tasks with `simtext.evaluation.evaluate`.
    """
    datasets = load_training_data(recipe.data.train, data_dir)
    objective = build_objective(recipe.loss)
    check_training_data(objective, datasets)
    texts = {name: batch_texts(objective, dataset) for name, dataset in datasets.items()}
    if evaluate_fn is None:
        check_evaluation_data(recipe, data_dir)
        evaluate_fn = _default_evaluate(recipe, data_dir, run_dir / "model")

    accelerator = Accelerator(mixed_precision=recipe.training.mixed_precision, cpu=not torch.cuda.is_available())
    if accelerator.device.type == "cpu" and recipe.training.mixed_precision == "fp16":
        logger.warning("mixed_precision fp16 has no effect on CPU (Accelerate disables autocast); use bf16 or no.")
    set_seed(recipe.seed)
    model = models.load(recipe.model)
    if recipe.training.max_seq_length is not None:
        model.max_seq_length = recipe.training.max_seq_length
    tokenizer_model = model

    first_plan = plan_epoch(texts, recipe.training.batch_size, recipe.seed, 0)
    _log_batch_sizes(first_plan, recipe.training.batch_size)
    total_steps = count_steps(len(first_plan), recipe)
    optimizer = build_optimizer(model, recipe.training.learning_rate, recipe.training.weight_decay)
    warmup_steps = math.ceil(recipe.training.warmup_ratio * total_steps)
    scheduler = get_linear_schedule_with_warmup(optimizer, warmup_steps, total_steps)
    model, optimizer, scheduler = accelerator.prepare(model, optimizer, scheduler)
    logger.info(
        "Training %s: %d steps (%d batches per epoch, batch size %d, %d warmup steps)",
        recipe.model, total_steps, len(first_plan), recipe.training.batch_size, warmup_steps,
    )

    model_dir = run_dir / "model"
    tracker = _BestTracker(recipe.evaluation.best_metric)
    history: list[dict] = []
    step, examples, started = 0, 0, time.perf_counter()
    window = _Window()
    progress = tqdm(total=total_steps, desc="training", unit="step", disable=not accelerator.is_main_process)

    epoch = 0
    while step < total_steps:
        plan = first_plan if epoch == 0 else plan_epoch(texts, recipe.training.batch_size, recipe.seed, epoch)
        model.train()
        for batch in plan:
            if step >= total_steps:
                break

            output = train_step(
                accelerator, model, tokenizer_model, objective, datasets[batch.dataset], batch, recipe, step + 1
            )
            loss = output.loss
            if recipe.training.max_grad_norm is not None:
                accelerator.clip_grad_norm_(model.parameters(), recipe.training.max_grad_norm)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad()

            step += 1
            examples += len(batch.indices)
            window.add(loss.item(), len(batch.indices))
            progress.update(1)
            progress.set_postfix(loss=f"{loss.item():.4f}")
            if step % recipe.training.log_every == 0 or step == total_steps:
                objective_values = objective.log_values()
                entry = {
                    "step": step, "epoch": epoch, **window.flush(), "learning_rate": scheduler.get_last_lr()[0],
                    **objective_values,
                }
                history.append(entry)
                logger.info(
                    "step %d/%d  loss %.4f  lr %.3g  %.1f examples/s%s",
                    step, total_steps, entry["loss"], entry["learning_rate"], entry["examples_per_second"],
                    "".join(f"  {name} {value:.3g}" for name, value in objective_values.items()),
                )

            if recipe.training.eval_every and step % recipe.training.eval_every == 0 and step < total_steps:
                _evaluate_and_keep(accelerator, model, evaluate_fn, tracker, model_dir, step, history)
                model.train()
        epoch += 1
    progress.close()
    seconds = time.perf_counter() - started
    logger.info("Training done: %d steps, %d examples in %.0f s (%.1f examples/s)", step, examples, seconds, examples / seconds)

    report = _evaluate_and_keep(accelerator, model, evaluate_fn, tracker, model_dir, step, history)
    if tracker.metric is not None and tracker.best_report is not None:
        report = tracker.best_report
        logger.info("Kept the model of step %d (%s = %.4f)", tracker.best_step, tracker.metric, tracker.best_value)
    _write_history(run_dir, history)
    return TrainingResult(model_dir, step, examples, seconds, report, history)


def _log_batch_sizes(plan: list[PlannedBatch], batch_size: int) -> None:
    """Log the epoch's batch sizes, and warn when repeated texts force many batches below `batch_size`."""
    sizes = [len(batch.indices) for batch in plan]
    small = sum(size < batch_size for size in sizes[:-1])
    logger.info("Epoch plan: %d batches, mean size %.1f of %d", len(sizes), sum(sizes) / len(sizes), batch_size)
    if small > 0.1 * len(sizes):
        logger.warning(
            "%d of %d batches have fewer than %d examples, because texts that repeat across rows cannot share "
            "a batch. Small batches give the in-batch loss few negatives; deduplicate the data or lower batch_size.",
            small, len(sizes), batch_size,
        )


def _default_evaluate(recipe: Recipe, data_dir: Path | None, model_dir: Path):
    def evaluate_tasks(model: SentenceTransformer) -> dict | None:
        if not recipe.evaluation.tasks:
            return None
        from simtext.evaluation import evaluate

        return evaluate(
            model, recipe.evaluation.tasks, data_dir, batch_size=recipe.evaluation.batch_size, model_name=str(model_dir)
        )

    return evaluate_tasks


def _evaluate_and_keep(accelerator, model, evaluate_fn, tracker, model_dir: Path, step: int, history: list[dict]) -> dict | None:
    """Evaluate on the main process and save the model when it is the best so far (or no metric is set)."""
    accelerator.wait_for_everyone()
    report = None
    if accelerator.is_main_process:
        unwrapped = accelerator.unwrap_model(model)
        unwrapped.eval()
        report = evaluate_fn(unwrapped)
        if report is not None:
            history.append({"step": step, "evaluation": report.get("tasks", {})})
        if tracker.update(report, step):
            models.save(unwrapped, model_dir)
    accelerator.wait_for_everyone()
    return report


class _BestTracker:
    """Track the best evaluation by a `TASK/METRIC` name; with no metric every evaluation counts as best."""

    def __init__(self, metric: str | None):
        self.metric = metric
        self.best_value = -math.inf
        self.best_step = None
        self.best_report = None

    def update(self, report: dict | None, step: int) -> bool:
        if self.metric is None:
            return True
        task, _, name = self.metric.partition("/")
        try:
            value = report["tasks"][task][name]
        except (TypeError, KeyError):
            raise ValueError(
                f"evaluation.best_metric {self.metric!r} is not in the evaluation report; add task {task!r} "
                "to evaluation.tasks and check the metric name"
            ) from None
        if value <= self.best_value:
            return False
        self.best_value, self.best_step, self.best_report = value, step, report
        return True


class _Window:
    """Loss and throughput since the last log line."""

    def __init__(self):
        self.losses: list[float] = []
        self.examples = 0
        self.started = time.perf_counter()

    def add(self, loss: float, examples: int) -> None:
        self.losses.append(loss)
        self.examples += examples

    def flush(self) -> dict:
        seconds = max(time.perf_counter() - self.started, 1e-9)
        entry = {"loss": sum(self.losses) / max(len(self.losses), 1), "examples_per_second": self.examples / seconds}
        self.__init__()
        return entry


def _write_history(run_dir: Path, history: list[dict]) -> None:
    with (run_dir / "history.jsonl").open("w", encoding="utf-8") as handle:
        for entry in history:
            handle.write(json.dumps(entry) + "\n")
