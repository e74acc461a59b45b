"""Data parallelism for contrastive steps: shard a global batch, gather embeddings with gradient, sum gradients.

Every process embeds its own shard of the global batch, gathers all shards'
embeddings (keeping the gradient path to its own), and computes the same loss
over the whole global batch. Each process's backward pass then yields the
gradient of that global loss through its own shard only, and summing parameter
gradients across processes gives exactly the single-process gradient.

The loop sums gradients itself instead of wrapping the model in
DistributedDataParallel: DDP expects one forward per backward in every
process, but a cached step makes many forwards and a process whose shard is
empty makes none. `torch.distributed.nn.all_gather` also has a gradient path,
but it sums the gradient across processes, which would count it twice with the
summing done here, and it needs equal shapes on every process.
"""

from __future__ import annotations

import torch
import torch.distributed as dist
from accelerate import Accelerator


def shard_indices(indices: tuple[int, ...], rank: int, world_size: int) -> tuple[int, ...]:
    """Return this process's contiguous part of a global batch; part sizes differ by at most one."""
    base, extra = divmod(len(indices), world_size)
    start = rank * base + min(rank, extra)
    size = base + (1 if rank < extra else 0)
    return indices[start : start + size]


def gather_with_grad(tensor: torch.Tensor, world_size: int) -> torch.Tensor:
    """Concatenate every process's `tensor` along dim 0 in rank order; gradient flows to the local part only.

    Shards may differ in length (the last batch of an epoch), so lengths are
    gathered first and shorter shards padded for the collective.
    """
    if world_size == 1:
        return tensor
    length = torch.tensor([tensor.shape[0]], device=tensor.device)
    lengths = [torch.zeros_like(length) for _ in range(world_size)]
    dist.all_gather(lengths, length)
    lengths = [int(value) for value in lengths]

    padded = tensor.new_zeros((max(lengths), *tensor.shape[1:]))
    padded[: tensor.shape[0]] = tensor.detach()
    pieces = [torch.empty_like(padded) for _ in range(world_size)]
    dist.all_gather(pieces, padded)
    pieces = [piece[:size] for piece, size in zip(pieces, lengths)]
    # The gathered copy of this process's shard carries no gradient; put the local tensor in its place.
    pieces[dist.get_rank()] = tensor
    return torch.cat(pieces)  # (sum of shard lengths, ...)


def gather_rows(rows: dict[str, list], world_size: int) -> dict[str, list]:
    """Concatenate every process's batch rows (texts, labels, scores) column by column, in rank order."""
    if world_size == 1:
        return rows
    everyone: list[dict[str, list] | None] = [None] * world_size
    dist.all_gather_object(everyone, rows)
    return {name: [value for part in everyone for value in part[name]] for name in rows}


def sum_gradients(accelerator: Accelerator, model: torch.nn.Module) -> None:
    """Sum every parameter's gradient across processes, in one flat collective.

    A parameter that no process gave a gradient (an unused pooler, say) keeps
    `grad = None`, as in a single process, so the optimizer leaves it alone.
    """
    if accelerator.num_processes == 1:
        return
    parameters = [parameter for parameter in model.parameters() if parameter.requires_grad]
    has_gradient = torch.tensor([parameter.grad is not None for parameter in parameters], dtype=torch.float32)
    gradients = [
        parameter.grad.reshape(-1) if parameter.grad is not None else torch.zeros(parameter.numel(), device=parameter.device)
        for parameter in parameters
    ]
    flat = torch.cat([*gradients, has_gradient.to(parameters[0].device)])
    dist.all_reduce(flat)

    used = flat[-len(parameters) :] > 0
    offset = 0
    for parameter, is_used in zip(parameters, used):
        count = parameter.numel()
        parameter.grad = flat[offset : offset + count].view_as(parameter).clone() if is_used else None
        offset += count


def data_parallel_step(
    accelerator: Accelerator,
    model: torch.nn.Module,
    tokenizer_model,
    objective,
    rows: dict[str, list],
    step_options: dict,
    gather: bool,
    step_number: int,
):
    """Run one step on this process's `rows`: embed, score the (gathered) batch, back-propagate, sum gradients.

    `step_options` contains either `mini_batch_size` and `sort_by_length` (the
    cached step) or `chunk_size` (the direct step). With `gather`, every process
    computes the loss of the whole global batch; without it, each scores its own
    shard and the loss is divided by the number of processes, so the summed
    gradient is that of the mean of the shard losses. Returns the step's output
    with the embeddings of the whole batch when gathered.
    """
    from simtext.training.steps import cached_step, direct_step

    world_size = accelerator.num_processes if gather else 1
    batch_rows = gather_rows(rows, world_size)
    columns = {name: rows[name] for name in objective.text_columns(list(rows))}
    gathered: dict[str, torch.Tensor] = {}

    def loss_fn(embeddings: dict[str, torch.Tensor]) -> torch.Tensor:
        batch = {name: gather_with_grad(value, world_size) for name, value in embeddings.items()}  # each (global batch, dim)
        gathered.update({name: value.detach() for name, value in batch.items()})
        loss = objective.loss(batch, batch_rows)
        if not torch.isfinite(loss):
            raise FloatingPointError(
                f"Non-finite loss {loss.item()} at step {step_number}; lower the learning rate or check the data."
            )
        return loss if gather or accelerator.num_processes == 1 else loss / accelerator.num_processes

    if "mini_batch_size" in step_options:
        output = cached_step(accelerator, model, tokenizer_model, columns, loss_fn, **step_options)
    else:
        output = direct_step(accelerator, model, tokenizer_model, columns, loss_fn, **step_options)
    sum_gradients(accelerator, model)

    objective.after_step(gathered, batch_rows)
    output.embeddings = gathered
    if not gather and accelerator.num_processes > 1:
        output.loss = accelerator.reduce(output.loss, "sum")  # the mean of the shard losses, as divided above
    return output


def close_process_group() -> None:
    """Destroy the default process group, if one is open, before the interpreter exits.

    With the group left open, gloo's threads are still running while Python
    shuts down, and a process that finished its work can still abort
    ("terminate called without an active exception", SIGABRT; seen with
    torch 2.13 on CPU). Call it only where this process owns the group, such
    as at the end of a CLI command.
    """
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()
