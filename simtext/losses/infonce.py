"""In-batch InfoNCE (multiple-negatives ranking loss) as a function of embeddings."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


def info_nce_loss(
    anchors: Tensor,
    positives: Tensor,
    negatives: Tensor | None = None,
    scale: float = 20.0,
    symmetric: bool = False,
    memory: Tensor | None = None,
    memory_mask: Tensor | None = None,
) -> Tensor:
    r"""Compute the in-batch InfoNCE loss of anchors against positives and hard negatives.

    With cosine similarity :math:`s(a, b)`, batch size :math:`B`, candidates
    :math:`C = [p_1 \dots p_B, n_{1,1} \dots n_{B,H}]` (every positive and every hard
    negative in the batch), and scale :math:`\tau^{-1}` (``scale``):

    .. math::
        L_{a \to p} = -\frac{1}{B} \sum_i \log
            \frac{\exp(\text{scale} \cdot s(a_i, p_i))}{\sum_{c \in C} \exp(\text{scale} \cdot s(a_i, c))}

    Each anchor's own positive is the target and all other candidates are
    negatives. With ``symmetric=True`` the positive-to-anchor direction is added,
    each positive scoring against all anchors, and the loss is
    :math:`\tfrac12 (L_{a \to p} + L_{p \to a})`.

    ``memory`` adds :math:`Q` more candidates to every anchor's denominator in
    :math:`L_{a \to p}` (a queue of embeddings from earlier batches, as in He et
    al. 2020, "Momentum Contrast"). Where ``memory_mask[i, q]`` is true, entry
    :math:`q` is left out of anchor :math:`i`'s denominator, for entries that are
    the same text as its positive. The memory never enters :math:`L_{p \to a}`.

    This is the loss of van den Oord et al. 2018 ("Representation Learning with
    Contrastive Predictive Coding") in the multiple-negatives ranking form of
    Henderson et al. 2017; it equals sentence-transformers'
    ``MultipleNegativesRankingLoss`` (and, with ``symmetric=True``, its
    ``doc_to_query`` direction with ``partition_mode="per_direction"``).

    ================  ====================  ==========================================
    argument          shape                 meaning
    ================  ====================  ==========================================
    ``anchors``       ``(B, dim)``          anchor embeddings
    ``positives``     ``(B, dim)``          positive embeddings, row ``i`` for anchor ``i``
    ``negatives``     ``(B, H, dim)``       optional hard negatives, ``H`` per anchor
    ``memory``        ``(Q, dim)``          optional extra negatives shared by all anchors
    ``memory_mask``   ``(B, Q)``            optional, true where entry ``q`` is not a negative of ``i``
    ================  ====================  ==========================================

    Returns a scalar tensor.
    """
    if anchors.shape != positives.shape:
        raise ValueError(f"anchors {tuple(anchors.shape)} and positives {tuple(positives.shape)} must have the same shape")
    if scale <= 0:
        raise ValueError(f"scale must be positive, got {scale}")

    candidates = positives
    if negatives is not None:
        if negatives.dim() != 3 or negatives.shape[0] != anchors.shape[0] or negatives.shape[2] != anchors.shape[1]:
            raise ValueError(
                f"negatives must have shape (batch, negatives per anchor, dim) = ({anchors.shape[0]}, H, "
                f"{anchors.shape[1]}), got {tuple(negatives.shape)}"
            )
        candidates = torch.cat([positives, negatives.transpose(0, 1).reshape(-1, anchors.shape[1])])
    # (B + B*H, dim), ordered positives first, then each negative slot for the whole batch

    anchors = F.normalize(anchors, dim=-1)
    candidates = F.normalize(candidates, dim=-1)
    scores = scale * anchors @ candidates.T  # (B, B + B*H)
    if memory is not None and memory.shape[0] > 0:
        scores = torch.cat([scores, _memory_scores(anchors, memory, memory_mask, scale)], dim=1)  # (B, B + B*H + Q)
    targets = torch.arange(anchors.shape[0], device=anchors.device)
    loss = F.cross_entropy(scores, targets)

    if symmetric:
        positives_normalized = candidates[: anchors.shape[0]]
        backward_scores = scale * positives_normalized @ anchors.T  # (B, B)
        loss = (loss + F.cross_entropy(backward_scores, targets)) / 2
    return loss


def _memory_scores(anchors: Tensor, memory: Tensor, mask: Tensor | None, scale: float) -> Tensor:
    """Return scaled similarities of normalized anchors to the memory, with masked entries at -inf."""
    if memory.dim() != 2 or memory.shape[1] != anchors.shape[1]:
        raise ValueError(f"memory must have shape (entries, {anchors.shape[1]}), got {tuple(memory.shape)}")
    scores = scale * anchors @ F.normalize(memory, dim=-1).T  # (B, Q)
    if mask is None:
        return scores
    if mask.shape != scores.shape:
        raise ValueError(f"memory_mask must have shape {tuple(scores.shape)}, got {tuple(mask.shape)}")
    return scores.masked_fill(mask, float("-inf"))
