"""Split a batch into length-sorted chunks, tokenize each chunk on its own, and embed chunk by chunk.

A sentence's embedding does not depend on the other texts in its forward pass
(padding is masked out of attention and pooling), so splitting a batch into
chunks of similar length gives the same embeddings, up to float round-off, with
less padding. The direct step and the cached (GradCache) step share this chunk
plan, so both see the same chunks and, with the same seed, the same dropout.
sentence-transformers pads a whole batch to its longest text and has no such
planner, which is why it is written here.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from sentence_transformers import SentenceTransformer


# Number of texts tokenized at once when counting tokens: large enough to be fast,
# small enough that no padded copy of a large batch is kept.
LENGTH_SLICE = 256


@dataclass
class Chunk:
    """Rows of the batch embedded in one forward pass, and their features padded to the chunk's longest text."""

    rows: torch.Tensor  # (chunk,) indices into the batch's texts
    features: dict


def tokenize_chunks(
    tokenizer_model: SentenceTransformer,
    texts: list[str],
    chunk_size: int | None,
    sort_by_length: bool = True,
    max_tokens: int | None = None,
) -> list[Chunk]:
    """Plan the chunks of `texts` (see `plan_chunks`) and tokenize each chunk on its own.

    Each chunk is padded only to its own longest text, and the batch is never
    tokenized as a whole. A padded batch of 4,096 texts whose longest has 169
    tokens took about 80 MiB of ids and tokenizer encodings (all-MiniLM-L6-v2),
    an amount that grows with the batch size and would undo the cached step's
    flat memory. The price is tokenizing each text twice (once to count its
    tokens), which takes milliseconds against seconds of forward passes.
    """
    needs_lengths = chunk_size is not None and (sort_by_length or max_tokens is not None)
    lengths = token_lengths(tokenizer_model, texts) if needs_lengths else None
    return [
        Chunk(rows, tokenize(tokenizer_model, [texts[row] for row in rows.tolist()]))
        for rows in plan_chunks(len(texts), lengths, chunk_size, sort_by_length, max_tokens)
    ]


def tokenize(tokenizer_model: SentenceTransformer, texts: list[str]) -> dict:
    """Return the model's features for `texts`, padded to the longest text, as a plain dict of tensors."""
    # dict() keeps the tensors and drops the tokenizer's per-text encodings, which take more memory than the ids.
    return dict(tokenizer_model.preprocess(texts))


def token_lengths(tokenizer_model: SentenceTransformer, texts: list[str]) -> torch.Tensor | None:
    """Return each text's token count (special tokens included), or None when the features have no attention mask."""
    counts = []
    for start in range(0, len(texts), LENGTH_SLICE):
        mask = tokenize(tokenizer_model, texts[start : start + LENGTH_SLICE]).get("attention_mask")
        if not isinstance(mask, torch.Tensor):
            return None
        counts.append(mask.sum(dim=1))
    return torch.cat(counts) if counts else torch.zeros(0, dtype=torch.long)  # (texts,)


def plan_chunks(
    count: int,
    lengths: torch.Tensor | None,
    chunk_size: int | None,
    sort_by_length: bool = True,
    max_tokens: int | None = None,
) -> list[torch.Tensor]:
    """Return row indices of each chunk of `count` texts, which together cover every row once.

    With `sort_by_length` and token `lengths`, rows are ordered by token count
    before chunking (stable sort, so equal lengths keep their order). With no
    `chunk_size`, one chunk contains every row in input order. With `max_tokens`,
    a chunk also stops before its texts times its longest text would exceed
    `max_tokens`, so chunks of long texts contain fewer of them (always at least one).

    NOTE: the cap counts padded tokens, but attention memory grows with the
    square of the length, so at the same token count a chunk of long texts
    still needs more memory. On all-MiniLM-L6-v2, 6 texts of 169 tokens needed
    about 1.9 times the activation memory of 21 texts of 48.
    """
    if chunk_size is None or (chunk_size >= count and max_tokens is None):
        return [torch.arange(count)]
    if sort_by_length and lengths is not None:
        order = torch.argsort(lengths, stable=True)
    else:
        order = torch.arange(count)
    if max_tokens is None or lengths is None:
        return list(torch.split(order, chunk_size))
    return _split_by_tokens(order, lengths, chunk_size, max_tokens)


def _split_by_tokens(order: torch.Tensor, lengths: torch.Tensor, chunk_size: int, max_tokens: int) -> list[torch.Tensor]:
    chunks, start, longest = [], 0, 0
    for position, row in enumerate(order.tolist()):
        longest_with_row = max(longest, int(lengths[row]))
        size = position - start + 1
        if position > start and (size > chunk_size or size * longest_with_row > max_tokens):
            chunks.append(order[start:position])
            start, longest_with_row = position, int(lengths[row])
        longest = longest_with_row
    chunks.append(order[start:])
    return chunks


def forward(model: torch.nn.Module, features: dict, device: torch.device) -> torch.Tensor:
    """Run `model` (plain or Accelerate-wrapped) on tokenized features and return the sentence embeddings."""
    features = {key: value.to(device) if isinstance(value, torch.Tensor) else value for key, value in features.items()}
    return model(features)["sentence_embedding"]  # (texts, dim)


def unsort(pieces: list[torch.Tensor], chunks: list[Chunk]) -> torch.Tensor:
    """Concatenate per-chunk embeddings and put the rows back in input order."""
    embeddings = torch.cat(pieces)  # (texts, dim), in chunk order
    order = torch.cat([chunk.rows for chunk in chunks]).to(embeddings.device)
    return embeddings[torch.argsort(order)]


def embed_texts(
    model: torch.nn.Module,
    tokenizer_model: SentenceTransformer,
    texts: list[str],
    device: torch.device,
    chunk_size: int | None = None,
) -> torch.Tensor:
    """Return the embeddings of `texts` (in input order) with gradients through `model`.

    `model` may be the Accelerate-wrapped module; `tokenizer_model` is the plain
    `SentenceTransformer` whose `preprocess` tokenizes. With `chunk_size`, texts
    are sorted by token count and embedded `chunk_size` at a time, each chunk
    padded only to its own longest text. Every chunk keeps its activations until
    the backward pass, so memory is that of one full pass.
    """
    chunks = tokenize_chunks(tokenizer_model, texts, chunk_size)
    pieces = [forward(model, chunk.features, device) for chunk in chunks]
    return unsort(pieces, chunks)
