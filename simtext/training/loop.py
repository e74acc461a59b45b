"""The training loop on Accelerate: embed each batch, compute the loss, step, log, evaluate, save.

Batches are planned by `simtext.data.plan_epoch` rather than a DataLoader,
because each batch must come from one dataset and hold no text twice.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch
from accelerate import Accelerator
from accelerate.utils import DistributedType, set_seed
from datasets import Dataset
from sentence_transformers import SentenceTransformer
from tqdm.auto import tqdm
from transformers import get_linear_schedule_with_warmup

from simtext import models
from simtext.data import PlannedBatch, describe, example_texts, load_training_data, plan_epoch
from simtext.modelcard import CardInfo
from simtext.training.checkpoints import Checkpoints, Progress
from simtext.training.distributed import data_parallel_step, shard_indices
from simtext.training.objectives import build_objective
from simtext.training.recipe import Recipe, recipe_to_dict

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


def count_steps(plans_per_epoch: int, recipe: Recipe) -> int:
    """Return the total number of optimizer steps of the run."""
    if recipe.training.max_steps is not None:
        return recipe.training.max_steps
    return plans_per_epoch * recipe.training.epochs


def train(recipe: Recipe, run_dir: Path, data_dir: Path | None, evaluate_fn=None, resume: bool = False) -> TrainingResult:
    """Run `recipe`, writing the model, checkpoints, evaluation report and step history into `run_dir`.

    `evaluate_fn(model) -> report` evaluates the model; the default evaluates the
    recipe's tasks with `simtext.evaluation.evaluate`. With `resume`, training
    continues from the newest complete checkpoint in `run_dir/checkpoints`.
    Under `accelerate launch`, each process trains on its shard of every global
    batch of `batch_size x processes` examples.
    """
    datasets = load_training_data(recipe.data.train, data_dir)
    objective = build_objective(recipe.loss)
    check_training_data(objective, datasets)
    texts = {name: batch_texts(objective, dataset) for name, dataset in datasets.items()}
    if evaluate_fn is None:
        check_evaluation_data(recipe, data_dir)
        evaluate_fn = _default_evaluate(recipe, data_dir, run_dir / "model")

    accelerator = _accelerator(recipe)
    set_seed(recipe.seed, device_specific=True)
    model = models.load(recipe.model)
    if recipe.training.max_seq_length is not None:
        model.max_seq_length = recipe.training.max_seq_length
    model.to(accelerator.device)

    global_batch_size = recipe.training.batch_size * accelerator.num_processes
    first_plan = plan_epoch(texts, global_batch_size, recipe.seed, 0)
    _log_batch_sizes(first_plan, global_batch_size)
    total_steps = count_steps(len(first_plan), recipe)
    optimizer = build_optimizer(model, recipe.training.learning_rate, recipe.training.weight_decay)
    warmup_steps = math.ceil(recipe.training.warmup_ratio * total_steps)
    scheduler = get_linear_schedule_with_warmup(optimizer, warmup_steps, total_steps)
    optimizer, scheduler = accelerator.prepare(optimizer, scheduler)

    progress = Progress()
    checkpoints = Checkpoints(run_dir / "checkpoints", accelerator, recipe.training.keep_checkpoints)
    accelerator.register_for_checkpointing(model, progress, objective)
    if resume:
        _resume(checkpoints)
    tracker = _BestTracker(recipe.evaluation.best_metric, progress)
    gather = _gathers(recipe, accelerator)
    logger.info(
        "Training %s: %d steps (%d batches per epoch, batch size %d = %d per process x %d processes, %d warmup steps)",
        recipe.model, total_steps, len(first_plan), global_batch_size, recipe.training.batch_size,
        accelerator.num_processes, warmup_steps,
    )

    model_dir = run_dir / "model"
    card_for = _card_builder(recipe, datasets, run_dir.resolve().name)
    started, first_step = time.perf_counter(), progress.step
    window = _Window()
    bar = tqdm(total=total_steps, initial=progress.step, desc="training", unit="step", disable=not accelerator.is_main_process)
    step_options = _step_options(recipe)
    plan = None
    while progress.step < total_steps:
        if progress.batch_in_epoch == 0 or plan is None:
            plan = first_plan if progress.epoch == 0 else plan_epoch(texts, global_batch_size, recipe.seed, progress.epoch)
        batch = plan[progress.batch_in_epoch]
        local = shard_indices(batch.indices, accelerator.process_index, accelerator.num_processes)
        rows = datasets[batch.dataset][list(local)]

        model.train()
        output = data_parallel_step(accelerator, model, model, objective, rows, step_options, gather, progress.step + 1)
        if recipe.training.max_grad_norm is not None:
            accelerator.clip_grad_norm_(model.parameters(), recipe.training.max_grad_norm)
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad()

        epoch_done = _advance(progress, len(batch.indices), len(plan))
        loss = output.loss.item()
        window.add(loss, len(batch.indices))
        bar.update(1)
        bar.set_postfix(loss=f"{loss:.4f}")
        if progress.step % recipe.training.log_every == 0 or progress.step == total_steps:
            _log_step(progress, window, scheduler, total_steps, objective.log_values())

        if recipe.training.eval_every and progress.step % recipe.training.eval_every == 0 and progress.step < total_steps:
            _evaluate_and_keep(accelerator, model, evaluate_fn, tracker, model_dir, progress, card_for)
        every = recipe.training.checkpoint_every
        if recipe.training.keep_checkpoints and (epoch_done or (every and progress.step % every == 0)):
            checkpoints.save(progress.step)
    bar.close()
    seconds = time.perf_counter() - started
    rate = progress.examples / seconds if first_step == 0 and seconds > 0 else float("nan")
    logger.info("Training done: %d steps, %d examples, %.0f s in this session (%.1f examples/s)", progress.step, progress.examples, seconds, rate)

    report = _evaluate_and_keep(accelerator, model, evaluate_fn, tracker, model_dir, progress, card_for)
    if tracker.metric is not None and tracker.best_report is not None:
        report = tracker.best_report
        logger.info("Kept the model of step %d (%s = %.4f)", tracker.best_step, tracker.metric, tracker.best_value)
    if accelerator.is_main_process:
        _write_history(run_dir, progress.history)
    accelerator.wait_for_everyone()
    return TrainingResult(model_dir, progress.step, progress.examples, seconds, report, progress.history)


def _accelerator(recipe: Recipe) -> Accelerator:
    # The loop steps the scheduler once per optimizer step; by default Accelerate steps it once per process.
    accelerator = Accelerator(
        mixed_precision=recipe.training.mixed_precision,
        cpu=not torch.cuda.is_available(),
        step_scheduler_with_optimizer=False,
    )
    if accelerator.distributed_type in _WRAPPING_BACKENDS:
        raise ValueError(
            f"accelerate is configured for {accelerator.distributed_type.value}, which simtext does not support yet: "
            "it sums gradients across processes itself and does not wrap the model. Choose plain multi-GPU or "
            "multi-CPU data parallelism in `accelerate config`."
        )
    if accelerator.device.type == "cpu" and recipe.training.mixed_precision == "fp16":
        logger.warning("mixed_precision fp16 has no effect on CPU (Accelerate disables autocast); use bf16 or no.")
    return accelerator


# Backends that shard or wrap the model at `prepare`; the loop's own gradient sum bypasses them.
_WRAPPING_BACKENDS = (DistributedType.DEEPSPEED, DistributedType.FSDP, DistributedType.MEGATRON_LM, DistributedType.XLA)


def _step_options(recipe: Recipe) -> dict:
    cached = recipe.loss.cached
    if cached is not None:
        return {"mini_batch_size": cached.mini_batch_size, "sort_by_length": cached.sort_by_length, "max_tokens": cached.max_tokens}
    return {"chunk_size": recipe.training.embed_chunk_size}


def _gathers(recipe: Recipe, accelerator: Accelerator) -> bool:
    gather = recipe.loss.gather_across_processes
    return accelerator.num_processes > 1 if gather is None else gather


def _resume(checkpoints: Checkpoints) -> None:
    checkpoints.remove_incomplete()
    latest = checkpoints.latest()
    if latest is None:
        raise FileNotFoundError(f"--resume: no complete checkpoint in {checkpoints.folder}; start the run without --resume")
    checkpoints.load(latest)


def _advance(progress: Progress, examples: int, batches_in_epoch: int) -> bool:
    """Count one finished step; return True when it finished the epoch."""
    progress.step += 1
    progress.examples += examples
    progress.batch_in_epoch += 1
    if progress.batch_in_epoch < batches_in_epoch:
        return False
    progress.epoch += 1
    progress.batch_in_epoch = 0
    return True


def _log_step(progress: Progress, window: _Window, scheduler, total_steps: int, objective_values: dict[str, float]) -> None:
    entry = {
        "step": progress.step,
        "epoch": progress.epoch,
        **window.flush(),
        "learning_rate": scheduler.get_last_lr()[0],
        **objective_values,
    }
    progress.history.append(entry)
    logger.info(
        "step %d/%d  loss %.4f  lr %.3g  %.1f examples/s%s",
        progress.step, total_steps, entry["loss"], entry["learning_rate"], entry["examples_per_second"],
        "".join(f"  {name} {value:.3g}" for name, value in objective_values.items()),
    )


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


def _card_builder(recipe: Recipe, datasets: dict[str, Dataset], model_name: str):
    """Return `card_for(report, step, history)`, which describes the run for the saved model's card."""
    summary = {
        name: {
            "examples": len(dataset),
            "columns": list(dataset.column_names),
            "sources": [describe(source) for source in recipe.data.train[name]],
        }
        for name, dataset in datasets.items()
    }

    def card_for(report: dict | None, step: int, history: list[dict]) -> CardInfo:
        losses = [entry["loss"] for entry in history if "loss" in entry]
        loss = {**dataclasses.asdict(recipe.loss), **({"final_loss": losses[-1]} if losses else {})}
        return CardInfo(recipe.model, recipe_to_dict(recipe), summary, loss, step, report, model_name)

    return card_for


def _evaluate_and_keep(
    accelerator, model, evaluate_fn, tracker, model_dir: Path, progress: Progress, card_for
) -> dict | None:
    """Evaluate on the main process and save the model when it is the best so far (or no metric is set)."""
    accelerator.wait_for_everyone()
    report = None
    if accelerator.is_main_process:
        unwrapped = accelerator.unwrap_model(model)
        unwrapped.eval()
        report = evaluate_fn(unwrapped)
        if report is not None:
            progress.history.append({"step": progress.step, "evaluation": report.get("tasks", {})})
        if tracker.update(report, progress.step):
            models.save(unwrapped, model_dir, card=card_for(report, progress.step, progress.history))
    accelerator.wait_for_everyone()
    model.train()
    return report


class _BestTracker:
    """Track the best evaluation by a `TASK/METRIC` name; with no metric every evaluation counts as best.

    The state lives in `progress.best`, so checkpoints carry it across a resume.
    """

    def __init__(self, metric: str | None, progress: Progress):
        self.metric = metric
        self.state = progress.best

    @property
    def best_value(self) -> float:
        return self.state.get("value", -math.inf)

    @property
    def best_step(self) -> int | None:
        return self.state.get("step")

    @property
    def best_report(self) -> dict | None:
        return self.state.get("report")

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
        self.state.update(value=value, step=step, report=report)
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
        entry = {
            "loss": sum(self.losses) / max(len(self.losses), 1),
            "examples": self.examples,
            "examples_per_second": self.examples / seconds,
        }
        self.__init__()
        return entry


def _write_history(run_dir: Path, history: list[dict]) -> None:
    with (run_dir / "history.jsonl").open("w", encoding="utf-8") as handle:
        for entry in history:
            handle.write(json.dumps(entry) + "\n")
