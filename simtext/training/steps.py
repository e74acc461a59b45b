"""One training step's forward and backward: direct, or cached in the GradCache way.

The cached step (Gao et al. 2021, "Scaling Deep Contrastive Learning Batch Size
under Memory Limited Setup") makes memory independent of the batch size:

1. embed the batch in chunks without gradients, saving the RNG state before each chunk;
2. compute the loss on the detached embeddings and keep d(loss)/d(embedding);
3. re-embed each chunk with gradients, replaying its RNG state so dropout draws the
   same masks, and back-propagate the kept gradients through it.

Parameter gradients then equal those of the direct step on the same chunks,
because d(loss)/d(theta) = sum over chunks of d(loss)/d(e_chunk) * d(e_chunk)/d(theta).
Chunks come from the length-sorted texts of all columns together, so each chunk
pads only to its own longest text. The loss is unchanged by that order: the
embeddings are put back in input order before the loss is computed, and a text's
embedding does not depend on its chunk. sentence-transformers' cached losses are
each a special copy of one loss and chunk the batch as the collator padded it,
so the step is written here, once, for every objective.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass

import torch
from accelerate import Accelerator
from sentence_transformers import SentenceTransformer

from simtext.training.embedding import forward, tokenize_chunks, unsort

LossFunction = Callable[[dict[str, torch.Tensor]], torch.Tensor]


@dataclass
class StepOutput:
    """The step's loss and the batch's embeddings per column, both detached."""

    loss: torch.Tensor
    embeddings: dict[str, torch.Tensor]


def direct_step(
    accelerator: Accelerator,
    model: torch.nn.Module,
    tokenizer_model: SentenceTransformer,
    columns: dict[str, list[str]],
    loss_fn: LossFunction,
    chunk_size: int | None = None,
    sort_by_length: bool = True,
) -> StepOutput:
    """Embed every column with gradients (in chunks when `chunk_size` is set), compute the loss and back-propagate."""
    texts, sizes = _flatten(columns)
    if not texts:
        # A process with an empty shard still joins the loss, which gathers across processes.
        embeddings = _empty_embeddings(tokenizer_model, accelerator.device).requires_grad_()
    else:
        chunks = tokenize_chunks(tokenizer_model, texts, chunk_size, sort_by_length)
        with accelerator.autocast():
            pieces = [forward(model, chunk.features, accelerator.device) for chunk in chunks]
        embeddings = unsort(pieces, chunks).float()  # (texts, dim)

    loss = loss_fn(_split(embeddings, sizes))
    accelerator.backward(loss)
    return StepOutput(loss.detach(), _split(embeddings.detach(), sizes))


def cached_step(
    accelerator: Accelerator,
    model: torch.nn.Module,
    tokenizer_model: SentenceTransformer,
    columns: dict[str, list[str]],
    loss_fn: LossFunction,
    mini_batch_size: int,
    sort_by_length: bool = True,
    max_tokens: int | None = None,
) -> StepOutput:
    """Run the GradCache step: embed without gradients, take the loss gradient, then re-embed chunk by chunk."""
    texts, sizes = _flatten(columns)
    device = accelerator.device
    chunks = tokenize_chunks(tokenizer_model, texts, mini_batch_size, sort_by_length, max_tokens) if texts else []
    states, pieces = [], []
    with torch.no_grad(), accelerator.autocast():
        for chunk in chunks:
            states.append(RngState(device))
            pieces.append(forward(model, chunk.features, device))
    embeddings = unsort(pieces, chunks) if pieces else _empty_embeddings(tokenizer_model, device)
    embeddings = embeddings.float().detach().requires_grad_()  # (texts, dim), a leaf

    loss = loss_fn(_split(embeddings, sizes))
    loss.backward()
    gradients = embeddings.grad  # (texts, dim)

    for index, (chunk, state) in enumerate(zip(chunks, states)):
        state.restore()
        with accelerator.autocast():
            piece = forward(model, chunk.features, device)  # (chunk, dim)
        # Under DDP, gradients are averaged across processes once, after the last chunk.
        is_last = index == len(chunks) - 1
        with contextlib.nullcontext() if is_last else accelerator.no_sync(model):
            accelerator.backward(piece, gradient=gradients[chunk.rows.to(device)].to(piece.dtype))
    return StepOutput(loss.detach(), _split(embeddings.detach(), sizes))


class RngState:
    """The CPU and current accelerator random states, captured so a forward pass can draw the same dropout again."""

    def __init__(self, device: torch.device):
        self.device = device
        self.cpu = torch.get_rng_state()
        # NOTE: only CPU and CUDA generators are replayed; dropout on other accelerators (MPS, XPU) is not.
        self.cuda = torch.cuda.get_rng_state(device) if device.type == "cuda" else None

    def restore(self) -> None:
        torch.set_rng_state(self.cpu)
        if self.cuda is not None:
            torch.cuda.set_rng_state(self.cuda, self.device)


def _empty_embeddings(tokenizer_model: SentenceTransformer, device: torch.device) -> torch.Tensor:
    return torch.zeros((0, tokenizer_model.get_embedding_dimension()), device=device)  # (0, dim)


def _flatten(columns: dict[str, list[str]]) -> tuple[list[str], dict[str, int]]:
    texts = [text for values in columns.values() for text in values]
    return texts, {name: len(values) for name, values in columns.items()}


def _split(embeddings: torch.Tensor, sizes: dict[str, int]) -> dict[str, torch.Tensor]:
    pieces = torch.split(embeddings, list(sizes.values()))  # each (column texts, dim)
    return dict(zip(sizes, pieces))
