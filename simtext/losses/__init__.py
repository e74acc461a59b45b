"""Contrastive objectives as functions of embeddings: they never call the model."""

from simtext.losses.infonce import info_nce_loss

__all__ = ["info_nce_loss"]
