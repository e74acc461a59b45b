"""A first-in, first-out queue of candidate embeddings from earlier batches, used as extra negatives.

sentence-transformers has no negative queue, and MoCo-style queues elsewhere do
not track texts, which the mask against false negatives needs; so it is written
here. Entries are detached: no gradient flows into earlier batches.
"""

from __future__ import annotations

import torch


class MemoryQueue:
    """The embeddings and texts of the last `size` candidates, newest first."""

    def __init__(self, size: int):
        if size < 1:
            raise ValueError(f"memory size must be at least 1, got {size}")
        self.size = size
        self.embeddings: torch.Tensor | None = None  # (entries, dim)
        self.texts: list[str] = []

    def __len__(self) -> int:
        return len(self.texts)

    def push(self, embeddings: torch.Tensor, texts: list[str]) -> None:
        """Add a batch's candidates (detached, in float32) and drop the oldest entries beyond `size`."""
        if embeddings.shape[0] != len(texts):
            raise ValueError(f"got {embeddings.shape[0]} embeddings for {len(texts)} texts")
        new = embeddings.detach().float()
        if self.embeddings is not None:
            new = torch.cat([new, self.embeddings.to(new.device)])
        self.embeddings = new[: self.size]
        self.texts = (list(texts) + self.texts)[: self.size]

    def mask(self, texts_per_anchor: list[set[str]], device: torch.device) -> torch.Tensor:
        """Return a (anchors, entries) boolean mask, true where an entry's text is in that anchor's set."""
        mask = torch.zeros(len(texts_per_anchor), len(self.texts), dtype=torch.bool)
        positions: dict[str, list[int]] = {}
        for position, text in enumerate(self.texts):
            positions.setdefault(text, []).append(position)
        for row, texts in enumerate(texts_per_anchor):
            for text in texts:
                for position in positions.get(text, ()):
                    mask[row, position] = True
        return mask.to(device)

    def state_dict(self) -> dict:
        """Return the queue's contents on CPU, for checkpoints."""
        embeddings = None if self.embeddings is None else self.embeddings.cpu()
        return {"size": self.size, "embeddings": embeddings, "texts": list(self.texts)}

    def load_state_dict(self, state: dict, device: torch.device | None = None) -> None:
        """Restore the contents saved by `state_dict`."""
        self.size = state["size"]
        embeddings = state["embeddings"]
        self.embeddings = None if embeddings is None else embeddings.to(device or embeddings.device)
        self.texts = list(state["texts"])
