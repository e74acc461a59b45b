"""Contrastive objectives as functions of embeddings: they never call the model."""

from simtext.losses.contrastive import DISTANCES, contrastive_loss, hard_pair_mask, online_contrastive_loss, pair_distances
from simtext.losses.cosent import cosent_loss
from simtext.losses.infonce import info_nce_loss

__all__ = [
    "DISTANCES",
    "contrastive_loss",
    "cosent_loss",
    "hard_pair_mask",
    "info_nce_loss",
    "online_contrastive_loss",
    "pair_distances",
]
