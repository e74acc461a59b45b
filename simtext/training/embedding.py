"""Tokenize a batch once, split it into length-sorted chunks, and embed chunk by chunk.

A sentence's embedding does not depend on the other texts in its forward pass
(padding is masked out of attention and pooling), so splitting a batch into
chunks of similar length gives the same embeddings, up to float round-off, with
less padding. The direct step and the cached (GradCache) step share this chunk
plan, so both see the same chunks and, with the same seed, the same dropout.
sentence-transformers pads a whole batch to its longest text and has no such
planner, which is why it is written here.
"""

from __future__ import annotations

import torch
from sentence_transformers import SentenceTransformer


def tokenize(tokenizer_model: SentenceTransformer, texts: list[str]) -> dict:
    """Return the model's features for `texts`, padded to the longest text."""
    return tokenizer_model.preprocess(texts)


def plan_chunks(
    features: dict, chunk_size: int | None, sort_by_length: bool = True, max_tokens: int | None = None
) -> list[torch.Tensor]:
    """Return row indices of each chunk; together they cover every row once.

    With `sort_by_length`, rows are ordered by token count before chunking (stable
    sort, so equal lengths keep their order). With no `chunk_size`, one chunk
    contains every row in input order. With `max_tokens`, a chunk also stops
    before its texts times its longest text would exceed `max_tokens`, so chunks
    of long texts hold fewer of them (always at least one).
    """
    count = _row_count(features)
    if chunk_size is None or (chunk_size >= count and max_tokens is None):
        return [torch.arange(count)]
    mask = features.get("attention_mask")
    lengths = mask.sum(dim=1) if isinstance(mask, torch.Tensor) else None
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


def chunk_features(tokenizer_model: SentenceTransformer, features: dict, rows: torch.Tensor) -> dict:
    """Take `rows` of every per-text tensor and trim the token axis to the chunk's longest text."""
    count = _row_count(features)
    mask = features.get("attention_mask")
    width = int(mask[rows].sum(dim=1).max()) if isinstance(mask, torch.Tensor) else None
    tokenizer = getattr(tokenizer_model[0], "tokenizer", None)
    left_padded = getattr(tokenizer, "padding_side", "right") == "left"

    chunk = {}
    for key, value in features.items():
        if not isinstance(value, torch.Tensor) or value.dim() == 0 or value.shape[0] != count:
            chunk[key] = value
            continue
        value = value[rows]
        if value.dim() == 2 and width is not None:
            value = value[:, -width:] if left_padded else value[:, :width]
        chunk[key] = value
    return chunk


def forward(model: torch.nn.Module, features: dict, device: torch.device) -> torch.Tensor:
    """Run `model` (plain or Accelerate-wrapped) on tokenized features and return the sentence embeddings."""
    features = {key: value.to(device) if isinstance(value, torch.Tensor) else value for key, value in features.items()}
    return model(features)["sentence_embedding"]  # (texts, dim)


def unsort(pieces: list[torch.Tensor], chunks: list[torch.Tensor]) -> torch.Tensor:
    """Concatenate per-chunk embeddings and put the rows back in input order."""
    embeddings = torch.cat(pieces)  # (texts, dim), in chunk order
    order = torch.cat(chunks).to(embeddings.device)
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
    features = tokenize(tokenizer_model, texts)
    chunks = plan_chunks(features, chunk_size)
    pieces = [forward(model, chunk_features(tokenizer_model, features, rows), device) for rows in chunks]
    return unsort(pieces, chunks)


def _row_count(features: dict) -> int:
    return int(features["input_ids"].shape[0])
