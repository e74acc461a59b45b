"""InfoNCE against a naive per-anchor loop and sentence-transformers' MultipleNegativesRankingLoss."""

from __future__ import annotations

import math

import pytest
import torch
from sentence_transformers.sentence_transformer.losses import MultipleNegativesRankingLoss

from simtext.losses import info_nce_loss


def naive_info_nce(anchors, positives, negatives, scale, symmetric):
    """Loop over anchors and candidates one by one, in float64."""
    anchors, positives = anchors.double(), positives.double()
    candidates = list(positives)
    if negatives is not None:
        candidates += [negative for row in negatives.double() for negative in row]

    def cosine(a, b):
        return float(a @ b) / (float(a.norm()) * float(b.norm()))

    forward = 0.0
    for i, anchor in enumerate(anchors):
        logits = [scale * cosine(anchor, candidate) for candidate in candidates]
        forward += math.log(sum(math.exp(logit) for logit in logits)) - logits[i]
    forward /= len(anchors)
    if not symmetric:
        return forward

    backward = 0.0
    for i, positive in enumerate(positives):
        logits = [scale * cosine(positive, anchor) for anchor in anchors]
        backward += math.log(sum(math.exp(logit) for logit in logits)) - logits[i]
    backward /= len(anchors)
    return (forward + backward) / 2


def random_embeddings(batch, negatives_per_anchor, dim=16, seed=0):
    """Return float64 embeddings, so comparisons are not limited by float32 round-off."""
    generator = torch.Generator().manual_seed(seed)
    anchors = torch.randn(batch, dim, generator=generator, dtype=torch.float64)
    positives = anchors + 2.0 * torch.randn(batch, dim, generator=generator, dtype=torch.float64)
    negatives = None
    if negatives_per_anchor:
        negatives = torch.randn(batch, negatives_per_anchor, dim, generator=generator, dtype=torch.float64)
    return anchors, positives, negatives


CASES = [(8, 0, False), (8, 0, True), (8, 1, False), (8, 3, False), (5, 2, True), (1, 0, False)]


@pytest.mark.parametrize("batch, negatives_per_anchor, symmetric", CASES)
def test_info_nce_matches_naive_loop(batch, negatives_per_anchor, symmetric):
    anchors, positives, negatives = random_embeddings(batch, negatives_per_anchor)
    expected = naive_info_nce(anchors, positives, negatives, 20.0, symmetric)

    loss = info_nce_loss(anchors, positives, negatives, scale=20.0, symmetric=symmetric)

    assert loss.item() == pytest.approx(expected, rel=1e-5, abs=1e-6)


@pytest.mark.parametrize("batch, negatives_per_anchor, symmetric", CASES)
def test_info_nce_matches_sentence_transformers(batch, negatives_per_anchor, symmetric):
    anchors, positives, negatives = random_embeddings(batch, negatives_per_anchor, seed=1)
    options = {"directions": ("query_to_doc", "doc_to_query"), "partition_mode": "per_direction"} if symmetric else {}
    reference = MultipleNegativesRankingLoss(model=None, scale=20.0, **options)
    columns = [anchors, positives] + ([negatives[:, k] for k in range(negatives.shape[1])] if negatives is not None else [])
    expected = reference.compute_loss_from_embeddings(columns, labels=None)

    loss = info_nce_loss(anchors, positives, negatives, scale=20.0, symmetric=symmetric)

    assert loss.item() == pytest.approx(expected.item(), rel=1e-6, abs=1e-9)


def test_info_nce_gradients_match_sentence_transformers():
    anchors, positives, negatives = random_embeddings(6, 2, seed=2)
    ours = [tensor.clone().requires_grad_() for tensor in (anchors, positives, negatives)]
    theirs = [tensor.clone().requires_grad_() for tensor in (anchors, positives, negatives)]

    info_nce_loss(*ours, scale=20.0).backward()
    reference = MultipleNegativesRankingLoss(model=None, scale=20.0)
    reference.compute_loss_from_embeddings([theirs[0], theirs[1], theirs[2][:, 0], theirs[2][:, 1]], None).backward()

    for mine, expected in zip(ours, theirs):
        torch.testing.assert_close(mine.grad, expected.grad, rtol=1e-6, atol=1e-9)


def test_info_nce_float32_close_to_float64():
    anchors, positives, negatives = random_embeddings(8, 2, seed=3)
    expected = info_nce_loss(anchors, positives, negatives).item()
    loss = info_nce_loss(anchors.float(), positives.float(), negatives.float())
    assert loss.dtype == torch.float32
    assert loss.item() == pytest.approx(expected, rel=1e-5)


def test_info_nce_scale_changes_loss():
    anchors, positives, _ = random_embeddings(8, 0)
    assert info_nce_loss(anchors, positives, scale=20.0).item() != pytest.approx(info_nce_loss(anchors, positives, scale=5.0).item())


def test_info_nce_rejects_mismatched_shapes():
    anchors, positives, _ = random_embeddings(4, 0)
    with pytest.raises(ValueError, match="same shape"):
        info_nce_loss(anchors, positives[:3])


def test_info_nce_rejects_bad_negative_shape():
    anchors, positives, _ = random_embeddings(4, 0)
    with pytest.raises(ValueError, match="negatives must have shape"):
        info_nce_loss(anchors, positives, torch.randn(4, 16))


def test_info_nce_rejects_nonpositive_scale():
    anchors, positives, _ = random_embeddings(4, 0)
    with pytest.raises(ValueError, match="scale must be positive"):
        info_nce_loss(anchors, positives, scale=0.0)
