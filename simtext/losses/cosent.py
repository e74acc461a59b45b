"""CoSENT: a ranking loss on graded pairs, as a function of embeddings."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


def cosent_loss(embeddings1: Tensor, embeddings2: Tensor, scores: Tensor, scale: float = 20.0) -> Tensor:
    r"""Compute the CoSENT loss of a batch of graded pairs.

    With :math:`c_i` the cosine similarity of pair :math:`i`, :math:`g_i` its gold
    score and scale :math:`s`:

    .. math::
        L = \log \Bigl( 1 + \sum_{(i, j):\, g_i > g_j} \exp\bigl(s \, (c_j - c_i)\bigr) \Bigr)

    The sum runs over all ordered pairs of pairs in the batch whose gold scores
    differ. Every term penalizes a pair ranked above a pair with a higher gold
    score, so only the order of the gold scores matters, not their scale. Pairs
    with equal gold scores are not compared. A batch whose scores are all equal
    has loss :math:`\log 1 = 0`.

    This is CoSENT (Su Jianlin, 2022), the loss of sentence-transformers'
    ``CoSENTLoss``, which this function equals with its default cosine
    similarity. Its reference is https://penghao-bdsc.github.io/papers/CoSENT_TASLP2024.pdf.

    ================  ==============  ===========================================
    argument          shape           meaning
    ================  ==============  ===========================================
    ``embeddings1``   ``(B, dim)``    first text of each pair
    ``embeddings2``   ``(B, dim)``    second text of each pair
    ``scores``        ``(B,)``        gold similarity of each pair, any scale
    ================  ==============  ===========================================

    Returns a scalar tensor.
    """
    if embeddings1.shape != embeddings2.shape or embeddings1.dim() != 2:
        raise ValueError(
            f"embeddings1 {tuple(embeddings1.shape)} and embeddings2 {tuple(embeddings2.shape)} must both have "
            "shape (pairs, dim)"
        )
    if not scale > 0:
        raise ValueError(f"scale must be positive, got {scale}")
    scores = torch.as_tensor(scores, device=embeddings1.device).view(-1)
    if scores.shape[0] != embeddings1.shape[0]:
        raise ValueError(f"expected {embeddings1.shape[0]} scores (one per pair), got shape {tuple(scores.shape)}")

    similarities = F.cosine_similarity(embeddings1, embeddings2)  # (B,)
    if similarities.dtype in (torch.float16, torch.bfloat16):
        similarities = similarities.float()
    similarities = scale * similarities
    differences = similarities[None, :] - similarities[:, None]  # (B, B): s * (c_j - c_i) at [i, j]
    ranked = scores[:, None] > scores[None, :]  # (B, B): g_i > g_j
    # The leading zero is the 1 inside the log, as exp(0).
    terms = torch.cat([differences.new_zeros(1), differences[ranked]])
    return torch.logsumexp(terms, dim=0)
