"""A script that tests start on several CPU processes with `accelerate launch`; see tests/test_distributed.py.

Modes:
  step MODEL BATCH OPTIONS OUT   run `data_parallel_step` on this process's shard of each batch in BATCH
                                 (a JSON list of global batches) and save rank 0's losses and gradients to OUT
  train RECIPE DATA OUT          train a recipe, recording the texts each process embedded in OUT.rank-K.json
  fail                           rank 1 raises before the first collective, rank 0 waits in it
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import torch
from accelerate import Accelerator, PartialState
from sentence_transformers import SentenceTransformer

from simtext.training import distributed
from simtext.training.objectives import InfoNCEObjective
from simtext.training.recipe import LossConfig, MemoryConfig


def run_steps(model_dir: str, batches_file: str, options_json: str, out: str) -> None:
    options = json.loads(options_json)
    memory = options.pop("memory_size", None)
    accelerator = Accelerator(cpu=True)
    model = SentenceTransformer(model_dir, device="cpu")
    model.train()
    objective = InfoNCEObjective(LossConfig(memory=MemoryConfig(memory) if memory else None))
    batches = json.loads(Path(batches_file).read_text())

    losses = []
    for number, batch in enumerate(batches, start=1):
        model.zero_grad()
        size = len(batch["anchor"])
        local = distributed.shard_indices(tuple(range(size)), accelerator.process_index, accelerator.num_processes)
        rows = {name: [values[index] for index in local] for name, values in batch.items()}
        output = distributed.data_parallel_step(accelerator, model, model, objective, rows, dict(options), True, number)
        losses.append(float(output.loss))

    assert accelerator.num_processes == int(os.environ["WORLD_SIZE"]), "the processes did not join one group"
    if accelerator.is_main_process:
        gradients = {name: parameter.grad.clone() for name, parameter in model.named_parameters() if parameter.grad is not None}
        torch.save({"losses": losses, "gradients": gradients, "memory": objective.memory.texts if objective.memory else None}, out)
    accelerator.wait_for_everyone()


def run_training(recipe: str, data_dir: str, out: str) -> None:
    from simtext.training import loop, run_recipe

    original = loop.data_parallel_step
    seen: list[list[str]] = []

    def recording_step(accelerator, model, tokenizer_model, objective, rows, *args, **kwargs):
        seen.append(list(rows["anchor"]))
        return original(accelerator, model, tokenizer_model, objective, rows, *args, **kwargs)

    loop.data_parallel_step = recording_step
    run_recipe(recipe, data_dir=data_dir)
    rank = PartialState().process_index
    Path(f"{out}.rank-{rank}.json").write_text(json.dumps(seen))


def fail() -> None:
    accelerator = Accelerator(cpu=True)
    if accelerator.process_index == 1:
        raise ValueError("rank 1 fails on purpose")
    distributed.gather_with_grad(torch.zeros(2, 3), accelerator.num_processes)


if __name__ == "__main__":
    mode, *arguments = sys.argv[1:]
    {"step": run_steps, "train": run_training, "fail": fail}[mode](*arguments)
    distributed.close_process_group()
