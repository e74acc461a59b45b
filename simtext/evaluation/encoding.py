"""Encode the texts of an evaluation task, each distinct text once."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch

# With `show_progress_bar=None`, encodes of at least this many distinct texts show a progress bar.
PROGRESS_BAR_MIN_TEXTS = 1_000


def encode_texts(
    encode: Callable[..., torch.Tensor],
    texts: Sequence[str],
    batch_size: int,
    show_progress_bar: bool | None = None,
) -> torch.Tensor:
    """Encode `texts` with `encode` (such as `model.encode_query`) and return a (texts, dim) tensor.

    Duplicate texts are encoded once and their embedding is repeated. The embeddings
    are returned as the model outputs them, not normalized. `show_progress_bar=None`
    shows a bar for `PROGRESS_BAR_MIN_TEXTS` or more distinct texts.
    """
    unique = list(dict.fromkeys(texts))
    if show_progress_bar is None:
        show_progress_bar = len(unique) >= PROGRESS_BAR_MIN_TEXTS
    embeddings = encode(unique, batch_size=batch_size, convert_to_tensor=True, show_progress_bar=show_progress_bar)
    if len(unique) == len(texts):  # (unique, dim)
        return embeddings

    position = {text: index for index, text in enumerate(unique)}
    rows = torch.tensor([position[text] for text in texts], device=embeddings.device)
    return embeddings[rows]  # (texts, dim)
