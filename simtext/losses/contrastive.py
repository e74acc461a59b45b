"""Pairwise contrastive loss on labelled pairs, with optional online hard-pair mining."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

DISTANCES = ("cosine", "euclidean")


def pair_distances(embeddings1: Tensor, embeddings2: Tensor, distance: str = "cosine") -> Tensor:
    """Return the distance of each pair of rows: ``1 - cos`` (``cosine``) or the L2 distance (``euclidean``).

    The Euclidean distance is ``torch.nn.functional.pairwise_distance``, which adds
    ``eps = 1e-6`` to the difference so that identical embeddings keep a finite
    gradient. sentence-transformers' ``SiameseDistanceMetric.EUCLIDEAN`` does the same.
    """
    if embeddings1.shape != embeddings2.shape or embeddings1.dim() != 2:
        raise ValueError(
            f"embeddings1 {tuple(embeddings1.shape)} and embeddings2 {tuple(embeddings2.shape)} must both have "
            "shape (pairs, dim)"
        )
    if distance == "cosine":
        return 1 - F.cosine_similarity(embeddings1, embeddings2)  # (pairs,)
    if distance == "euclidean":
        return F.pairwise_distance(embeddings1, embeddings2, p=2)  # (pairs,)
    raise ValueError(f"unknown distance {distance!r}; use one of: {', '.join(DISTANCES)}")


def contrastive_loss(
    embeddings1: Tensor, embeddings2: Tensor, labels: Tensor, margin: float = 0.5, distance: str = "cosine"
) -> Tensor:
    r"""Compute the pairwise contrastive loss, averaged over the pairs.

    For a pair at distance :math:`d` with label :math:`y`:

    .. math::
        L = \tfrac12 \left[ y \, d^2 + (1 - y) \max(0, m - d)^2 \right]

    **Label convention: y = 1 marks a similar pair and y = 0 a dissimilar one.**
    Similar pairs are pulled together, and dissimilar pairs are pushed apart until
    they are at least the margin :math:`m` apart. Hadsell, Chopra and LeCun 2006
    ("Dimensionality Reduction by Learning an Invariant Mapping") write the same
    loss with the opposite convention (:math:`Y = 0` for similar pairs). The
    convention here is that of paraphrase corpora (MSRP, PAWS: 1 = paraphrase)
    and of sentence-transformers' ``ContrastiveLoss``, which this function equals
    with ``size_average=True``.

    The distance is ``1 - cos`` (``distance="cosine"``, in [0, 2]) or the
    Euclidean distance (``distance="euclidean"``); see `pair_distances`.

    ================  ==============  ===========================================
    argument          shape           meaning
    ================  ==============  ===========================================
    ``embeddings1``   ``(B, dim)``    first text of each pair
    ``embeddings2``   ``(B, dim)``    second text of each pair
    ``labels``        ``(B,)``        1 for a similar pair, 0 for a dissimilar one
    ================  ==============  ===========================================

    Returns a scalar tensor.
    """
    distances = pair_distances(embeddings1, embeddings2, distance)
    labels = _binary_labels(labels, distances)
    return _pair_terms(distances, labels, margin).mean()


def online_contrastive_loss(
    embeddings1: Tensor, embeddings2: Tensor, labels: Tensor, margin: float = 0.5, distance: str = "cosine"
) -> Tensor:
    r"""Compute the contrastive loss over the batch's hard pairs only, summed.

    The terms are those of `contrastive_loss` (y = 1 similar, y = 0 dissimilar),
    kept by `hard_pair_mask`: similar pairs farther apart than the closest
    dissimilar pair, and dissimilar pairs closer than the farthest similar pair.
    The kept terms are summed, not averaged, so a batch with few hard pairs
    contributes little. When no pair is hard, the loss is 0.

    sentence-transformers' ``OnlineContrastiveLoss`` keeps the same pairs but
    sums :math:`y \, d^2 + (1 - y) \max(0, m - d)^2` without the factor
    :math:`\tfrac12`, so its value and gradients are twice these.

    Arguments and shapes are those of `contrastive_loss`. Returns a scalar tensor.
    """
    distances = pair_distances(embeddings1, embeddings2, distance)
    labels = _binary_labels(labels, distances)
    kept = hard_pair_mask(distances.detach(), labels)
    return _pair_terms(distances[kept], labels[kept], margin).sum()


def hard_pair_mask(distances: Tensor, labels: Tensor) -> Tensor:
    """Return a boolean mask of the hard pairs of a batch, for online mining.

    With both kinds of pair in the batch, a similar pair (label 1) is hard when it
    is farther apart than the closest dissimilar pair, and a dissimilar pair
    (label 0) is hard when it is closer than the farthest similar pair. A batch
    with only dissimilar pairs keeps those closer than their mean distance. A
    batch with only similar pairs keeps those farther apart than their mean
    distance. The comparisons are strict, as in sentence-transformers'
    ``OnlineContrastiveLoss``.

    ``distances`` and ``labels`` have shape ``(B,)``; the mask has shape ``(B,)``.
    """
    similar = labels == 1
    dissimilar = labels == 0
    similar_distances = distances[similar]
    dissimilar_distances = distances[dissimilar]

    if len(similar_distances) and len(dissimilar_distances):
        similar_threshold = dissimilar_distances.min()
        dissimilar_threshold = similar_distances.max()
    else:
        similar_threshold = similar_distances.mean() if len(similar_distances) else None
        dissimilar_threshold = dissimilar_distances.mean() if len(dissimilar_distances) else None

    mask = torch.zeros_like(similar)
    if similar_threshold is not None:
        mask |= similar & (distances > similar_threshold)
    if dissimilar_threshold is not None:
        mask |= dissimilar & (distances < dissimilar_threshold)
    return mask


def _pair_terms(distances: Tensor, labels: Tensor, margin: float) -> Tensor:
    if not margin > 0:
        raise ValueError(f"margin must be positive, got {margin}")
    labels = labels.to(distances.dtype)
    return 0.5 * (labels * distances.pow(2) + (1 - labels) * F.relu(margin - distances).pow(2))  # (pairs,)


def _binary_labels(labels: Tensor, distances: Tensor) -> Tensor:
    labels = torch.as_tensor(labels, device=distances.device).view(-1)
    if labels.shape != distances.shape:
        raise ValueError(f"expected {distances.shape[0]} labels (one per pair), got shape {tuple(labels.shape)}")
    invalid = (labels != 0) & (labels != 1)
    if invalid.any():
        raise ValueError(
            f"labels must be 1 (similar) or 0 (dissimilar), found {labels[invalid][0].item()!r}; "
            "map other label values to 0 and 1"
        )
    return labels
