"""Objectives: which columns of a batch are embedded, and the loss over their embeddings.

An objective never calls the model. The training step embeds the text columns
that `text_columns` names (directly or in GradCache chunks) and hands the
embeddings, with the batch's rows, to `loss`. This split is what lets every loss
run in the direct step, the cached step and across processes unchanged.

Before training, `check_columns` and `check_rows` reject data the loss cannot
use. `distinct_texts` informs the batch planner whether a text may occur in only
one row of a batch, and `log_values` returns figures for the training log.
"""

from __future__ import annotations

import torch

from simtext.losses import info_nce_loss
from datasets import Dataset

from simtext.training.memory import MemoryQueue
from simtext.training.pair_objectives import ContrastiveObjective, CoSENTObjective, OnlineContrastiveObjective
from simtext.training.recipe import LossConfig


class InfoNCEObjective:
    """In-batch InfoNCE over `anchor`, `positive` and optional `negative*` columns, with an optional memory queue."""

    name = "infonce"
    # Every other row's texts are negatives, so a text repeated in a batch would be its own false negative.
    distinct_texts = True

    def __init__(self, config: LossConfig):
        self.scale = config.scale
        self.symmetric = config.symmetric
        self.memory = MemoryQueue(config.memory.size) if config.memory is not None else None

    def check_columns(self, dataset_name: str, column_names: list[str]) -> None:
        """Raise `ValueError` when a training dataset lacks the columns this loss reads."""
        if "anchor" not in column_names or "positive" not in column_names:
            raise ValueError(
                f"data.train.{dataset_name}: loss 'infonce' needs columns anchor, positive[, negative...], "
                f"but the dataset has {column_names}. Map the source columns to anchor and positive."
            )

    def check_rows(self, dataset_name: str, dataset: Dataset) -> None:
        pass

    def text_columns(self, column_names: list[str]) -> list[str]:
        """Return the columns to embed: anchor, positive, then every negative column."""
        return ["anchor", "positive", *[name for name in column_names if name.startswith("negative")]]

    def loss(self, embeddings: dict[str, torch.Tensor], rows: dict[str, list]) -> torch.Tensor:
        """Return the batch loss; the memory queue, when set, adds its entries as negatives."""
        negative_columns = [name for name in embeddings if name.startswith("negative")]
        negatives = None
        if negative_columns:
            negatives = torch.stack([embeddings[name] for name in negative_columns], dim=1)  # (batch, negatives per anchor, dim)

        memory, memory_mask = None, None
        if self.memory is not None and len(self.memory) > 0:
            anchors = embeddings["anchor"]
            memory = self.memory.embeddings.to(device=anchors.device, dtype=anchors.dtype)
            # A queued copy of the anchor's own positive (or of the anchor) is not a negative.
            same_texts = [{anchor, positive} for anchor, positive in zip(rows["anchor"], rows["positive"])]
            memory_mask = self.memory.mask(same_texts, anchors.device)
        return info_nce_loss(
            embeddings["anchor"],
            embeddings["positive"],
            negatives,
            scale=self.scale,
            symmetric=self.symmetric,
            memory=memory,
            memory_mask=memory_mask,
        )

    def after_step(self, embeddings: dict[str, torch.Tensor], rows: dict[str, list]) -> None:
        """Push the batch's candidates (positives and hard negatives) into the memory queue."""
        if self.memory is None:
            return
        columns = [name for name in embeddings if name != "anchor"]
        texts = [text for name in columns for text in rows[name]]
        self.memory.push(torch.cat([embeddings[name] for name in columns]), texts)

    def log_values(self) -> dict[str, float]:
        """Return figures for the training log; none for this loss."""
        return {}

    def state_dict(self) -> dict:
        return {"memory": self.memory.state_dict() if self.memory is not None else None}

    def load_state_dict(self, state: dict, device: torch.device | None = None) -> None:
        if self.memory is not None and state.get("memory") is not None:
            self.memory.load_state_dict(state["memory"], device)


OBJECTIVES = {
    objective.name: objective
    for objective in (InfoNCEObjective, ContrastiveObjective, OnlineContrastiveObjective, CoSENTObjective)
}


def build_objective(config: LossConfig):
    """Return the objective that `config.name` names."""
    try:
        return OBJECTIVES[config.name](config)
    except KeyError:
        raise ValueError(f"loss.name: unknown loss {config.name!r}; use one of: {', '.join(OBJECTIVES)}") from None
