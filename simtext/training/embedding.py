"""Embed a column of texts with gradients, in one forward pass or in length-sorted chunks.

A sentence's embedding does not depend on the other texts in its forward pass
(padding is masked), so splitting a batch into chunks of similar length gives
the same embeddings with less padding. On CPU, chunks of 16 also run faster than
one pass of 64 (see eval/BENCHMARKS.md). All chunks keep their activations
until the backward pass, so memory is that of one full pass.
"""

from __future__ import annotations

import torch
from sentence_transformers import SentenceTransformer


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
    padded only to its own longest text.
    """
    features = tokenizer_model.preprocess(texts)
    mask = features.get("attention_mask")
    if chunk_size is None or len(texts) <= chunk_size or not isinstance(mask, torch.Tensor):
        return _forward(model, features, device)

    lengths = mask.sum(dim=1)  # (texts,)
    order = torch.argsort(lengths, stable=True)
    left_padded = getattr(getattr(tokenizer_model[0], "tokenizer", None), "padding_side", "right") == "left"
    pieces = []
    for start in range(0, len(texts), chunk_size):
        rows = order[start : start + chunk_size]
        width = int(lengths[rows].max())
        pieces.append(_forward(model, _select(features, rows, width, len(texts), left_padded), device))
    embeddings = torch.cat(pieces)  # (texts, dim), in length order
    return embeddings[torch.argsort(order)]


def _select(features: dict, rows: torch.Tensor, width: int, count: int, left_padded: bool) -> dict:
    """Take `rows` of every per-text tensor, trimming (texts, tokens) tensors to `width` tokens."""
    chunk = {}
    for key, value in features.items():
        if not isinstance(value, torch.Tensor) or value.dim() == 0 or value.shape[0] != count:
            chunk[key] = value
            continue
        value = value[rows]
        if value.dim() == 2:
            value = value[:, -width:] if left_padded else value[:, :width]
        chunk[key] = value
    return chunk


def _forward(model: torch.nn.Module, features: dict, device: torch.device) -> torch.Tensor:
    features = {key: value.to(device) if isinstance(value, torch.Tensor) else value for key, value in features.items()}
    return model(features)["sentence_embedding"]  # (texts, dim)
