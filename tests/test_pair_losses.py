"""Contrastive, online contrastive and CoSENT losses against naive loops and sentence-transformers' losses."""

from __future__ import annotations

import math

import pytest
import torch
from sentence_transformers.sentence_transformer.losses import (
    ContrastiveLoss,
    CoSENTLoss,
    OnlineContrastiveLoss,
    SiameseDistanceMetric,
)

from simtext.losses import contrastive_loss, cosent_loss, hard_pair_mask, online_contrastive_loss, pair_distances

ST_DISTANCES = {"cosine": SiameseDistanceMetric.COSINE_DISTANCE, "euclidean": SiameseDistanceMetric.EUCLIDEAN}
# torch.nn.functional.pairwise_distance adds this to the difference; the naive loop does the same.
PAIRWISE_EPS = 1e-6


def naive_distance(a, b, distance):
    a, b = a.tolist(), b.tolist()
    if distance == "cosine":
        dot = sum(x * y for x, y in zip(a, b))
        return 1 - dot / (math.sqrt(sum(x * x for x in a)) * math.sqrt(sum(y * y for y in b)))
    return math.sqrt(sum((x - y + PAIRWISE_EPS) ** 2 for x, y in zip(a, b)))


def naive_term(d, y, margin):
    return 0.5 * (y * d**2 + (1 - y) * max(0.0, margin - d) ** 2)


def naive_contrastive(first, second, labels, margin, distance):
    """Average the per-pair terms in a plain loop, in float64."""
    terms = [naive_term(naive_distance(a, b, distance), y, margin) for a, b, y in zip(first, second, labels.tolist())]
    return sum(terms) / len(terms)


def naive_online_contrastive(first, second, labels, margin, distance):
    """Select hard pairs and sum their terms in a plain loop, in float64."""
    distances = [naive_distance(a, b, distance) for a, b in zip(first, second)]
    labels = labels.tolist()
    similar = [d for d, y in zip(distances, labels) if y == 1]
    dissimilar = [d for d, y in zip(distances, labels) if y == 0]
    total = 0.0
    for d, y in zip(distances, labels):
        if y == 1:
            threshold = min(dissimilar) if dissimilar else sum(similar) / len(similar)
            hard = d > threshold
        else:
            threshold = max(similar) if similar else sum(dissimilar) / len(dissimilar)
            hard = d < threshold
        if hard:
            total += naive_term(d, y, margin)
    return total


def naive_cosent(first, second, scores, scale):
    """Sum exp(scale * (cos_j - cos_i)) over every (i, j) with score_i > score_j, in float64."""
    cosines = [1 - naive_distance(a, b, "cosine") for a, b in zip(first, second)]
    scores = scores.tolist()
    total = 1.0
    for i in range(len(cosines)):
        for j in range(len(cosines)):
            if scores[i] > scores[j]:
                total += math.exp(scale * (cosines[j] - cosines[i]))
    return math.log(total)


def random_pairs(batch, labels, dim=16, seed=0):
    """Return float64 pair embeddings, the second text near the first, and the labels as a tensor."""
    generator = torch.Generator().manual_seed(seed)
    first = torch.randn(batch, dim, generator=generator, dtype=torch.float64)
    second = first + 1.5 * torch.randn(batch, dim, generator=generator, dtype=torch.float64)
    return first, second, torch.tensor(labels)


MIXED = [1, 0, 1, 1, 0, 0, 1, 0, 1, 0]
ONLY_SIMILAR = [1] * 8
ONLY_DISSIMILAR = [0] * 8
LABEL_SETS = {"mixed": MIXED, "only similar": ONLY_SIMILAR, "only dissimilar": ONLY_DISSIMILAR}


@pytest.mark.parametrize("distance, margin", [("cosine", 0.5), ("cosine", 1.2), ("euclidean", 6.0)])
@pytest.mark.parametrize("label_set", list(LABEL_SETS))
def test_contrastive_matches_naive_loop(distance, margin, label_set):
    first, second, labels = random_pairs(len(LABEL_SETS[label_set]), LABEL_SETS[label_set])

    loss = contrastive_loss(first, second, labels, margin=margin, distance=distance)

    assert loss.item() == pytest.approx(naive_contrastive(first, second, labels, margin, distance), rel=1e-6, abs=1e-9)


@pytest.mark.parametrize("distance, margin", [("cosine", 0.5), ("cosine", 1.2), ("euclidean", 6.0)])
@pytest.mark.parametrize("label_set", list(LABEL_SETS))
def test_contrastive_matches_sentence_transformers(distance, margin, label_set):
    first, second, labels = random_pairs(len(LABEL_SETS[label_set]), LABEL_SETS[label_set], seed=1)
    reference = ContrastiveLoss(model=None, distance_metric=ST_DISTANCES[distance], margin=margin, size_average=True)
    expected = reference.compute_loss_from_embeddings([first, second], labels)

    loss = contrastive_loss(first, second, labels, margin=margin, distance=distance)

    assert loss.item() == pytest.approx(expected.item(), rel=1e-6, abs=1e-9)


def test_contrastive_defaults_match_sentence_transformers():
    first, second, labels = random_pairs(10, MIXED, seed=2)
    expected = ContrastiveLoss(model=None).compute_loss_from_embeddings([first, second], labels)

    assert contrastive_loss(first, second, labels).item() == pytest.approx(expected.item(), rel=1e-6, abs=1e-9)


@pytest.mark.parametrize("distance, margin", [("cosine", 0.5), ("cosine", 1.2), ("euclidean", 6.0)])
@pytest.mark.parametrize("label_set", list(LABEL_SETS))
def test_online_contrastive_matches_naive_loop(distance, margin, label_set):
    first, second, labels = random_pairs(len(LABEL_SETS[label_set]), LABEL_SETS[label_set], seed=3)

    loss = online_contrastive_loss(first, second, labels, margin=margin, distance=distance)

    expected = naive_online_contrastive(first, second, labels, margin, distance)
    assert expected > 0
    assert loss.item() == pytest.approx(expected, rel=1e-6, abs=1e-9)


@pytest.mark.parametrize("distance, margin", [("cosine", 0.5), ("cosine", 1.2), ("euclidean", 6.0)])
@pytest.mark.parametrize("label_set", list(LABEL_SETS))
def test_online_contrastive_is_half_sentence_transformers(distance, margin, label_set):
    # sentence-transformers' OnlineContrastiveLoss sums the same kept terms without the factor 1/2.
    first, second, labels = random_pairs(len(LABEL_SETS[label_set]), LABEL_SETS[label_set], seed=4)
    reference = OnlineContrastiveLoss(model=None, distance_metric=ST_DISTANCES[distance], margin=margin)
    expected = reference.compute_loss_from_embeddings([first, second], labels)

    loss = online_contrastive_loss(first, second, labels, margin=margin, distance=distance)

    assert loss.item() == pytest.approx(expected.item() / 2, rel=1e-6, abs=1e-9)


def test_online_contrastive_gradients_are_half_sentence_transformers():
    first, second, labels = random_pairs(10, MIXED, seed=5)
    ours = [tensor.clone().requires_grad_() for tensor in (first, second)]
    theirs = [tensor.clone().requires_grad_() for tensor in (first, second)]

    online_contrastive_loss(*ours, labels).backward()
    OnlineContrastiveLoss(model=None).compute_loss_from_embeddings(theirs, labels).backward()

    for mine, reference in zip(ours, theirs):
        torch.testing.assert_close(mine.grad, reference.grad / 2, rtol=1e-6, atol=1e-9)


def test_hard_pair_mask_mixed_batch():
    distances = torch.tensor([0.1, 0.5, 0.9, 0.3, 0.6, 1.2])
    labels = torch.tensor([1, 1, 1, 0, 0, 0])
    # Closest dissimilar pair: 0.3, so similar pairs beyond it are hard (0.5, 0.9).
    # Farthest similar pair: 0.9, so dissimilar pairs within it are hard (0.3, 0.6).

    mask = hard_pair_mask(distances, labels)

    assert mask.tolist() == [False, True, True, True, True, False]


def test_hard_pair_mask_only_similar():
    distances = torch.tensor([0.1, 0.2, 0.6, 0.7])  # mean 0.4

    mask = hard_pair_mask(distances, torch.ones(4, dtype=torch.long))

    assert mask.tolist() == [False, False, True, True]


def test_hard_pair_mask_only_dissimilar():
    distances = torch.tensor([0.1, 0.2, 0.6, 0.7])  # mean 0.4

    mask = hard_pair_mask(distances, torch.zeros(4, dtype=torch.long))

    assert mask.tolist() == [True, True, False, False]


def test_hard_pair_mask_keeps_none_when_separated():
    distances = torch.tensor([0.1, 0.2, 0.8, 0.9])
    labels = torch.tensor([1, 1, 0, 0])

    assert not hard_pair_mask(distances, labels).any()


def test_online_contrastive_is_zero_without_hard_pairs():
    first = torch.tensor([[1.0, 0.0], [0.0, 1.0]], requires_grad=True)
    second = torch.tensor([[1.0, 0.1], [0.0, -1.0]])

    loss = online_contrastive_loss(first, second, torch.tensor([1, 0]))
    loss.backward()

    assert loss.item() == 0.0
    assert torch.count_nonzero(first.grad) == 0


@pytest.mark.parametrize("distance", ["cosine", "euclidean"])
def test_contrastive_identical_similar_pair_is_zero(distance):
    # Label 1 means similar: identical embeddings cost nothing.
    embedding = torch.tensor([[0.3, -1.2, 0.8]], dtype=torch.float64)

    loss = contrastive_loss(embedding, embedding.clone(), torch.tensor([1]), distance=distance)

    assert loss.item() == pytest.approx(0.0, abs=1e-10)


@pytest.mark.parametrize("distance", ["cosine", "euclidean"])
def test_contrastive_identical_dissimilar_pair_costs_margin(distance):
    embedding = torch.tensor([[0.3, -1.2, 0.8]], dtype=torch.float64)

    loss = contrastive_loss(embedding, embedding.clone(), torch.tensor([0]), margin=0.5, distance=distance)

    assert loss.item() == pytest.approx(0.5 * 0.5**2, abs=1e-5)


def test_contrastive_far_dissimilar_pair_is_zero():
    # Label 0 means dissimilar: opposite embeddings (cosine distance 2 >= margin) cost nothing.
    first = torch.tensor([[1.0, 0.0]])
    second = torch.tensor([[-1.0, 0.0]])

    assert contrastive_loss(first, second, torch.tensor([0]), margin=0.5).item() == 0.0
    assert contrastive_loss(first, second, torch.tensor([1]), margin=0.5).item() == pytest.approx(0.5 * 2.0**2)


def test_contrastive_rejects_other_labels():
    first, second, _ = random_pairs(3, [1, 0, 1])

    with pytest.raises(ValueError, match="labels must be 1 .similar. or 0 .dissimilar., found 2"):
        contrastive_loss(first, second, torch.tensor([1, 2, 0]))


def test_contrastive_rejects_label_count():
    first, second, _ = random_pairs(3, [1, 0, 1])

    with pytest.raises(ValueError, match="expected 3 labels"):
        contrastive_loss(first, second, torch.tensor([1, 0]))


def test_contrastive_rejects_bad_margin_and_distance():
    first, second, labels = random_pairs(3, [1, 0, 1])

    with pytest.raises(ValueError, match="margin must be positive, got 0"):
        contrastive_loss(first, second, labels, margin=0)
    with pytest.raises(ValueError, match="unknown distance 'manhattan'"):
        contrastive_loss(first, second, labels, distance="manhattan")


def test_pair_distances_cosine_and_euclidean():
    first = torch.tensor([[3.0, 4.0], [1.0, 0.0]])
    second = torch.tensor([[3.0, 4.0], [0.0, 1.0]])

    torch.testing.assert_close(pair_distances(first, second, "cosine"), torch.tensor([0.0, 1.0]))
    torch.testing.assert_close(pair_distances(first, second, "euclidean"), torch.tensor([0.0, math.sqrt(2)]), atol=1e-5, rtol=0)


GRADED_SCORES = {
    "distinct": [4.8, 0.2, 3.1, 2.5, 5.0, 1.0, 3.8, 0.0],
    "ties": [4.0, 4.0, 2.0, 2.0, 0.0, 4.0, 2.0, 1.0],
    "all equal": [3.0] * 5,
}


@pytest.mark.parametrize("case", list(GRADED_SCORES))
@pytest.mark.parametrize("scale", [20.0, 1.0])
def test_cosent_matches_naive_loop(case, scale):
    scores = torch.tensor(GRADED_SCORES[case], dtype=torch.float64)
    first, second, _ = random_pairs(len(scores), [0] * len(scores), seed=6)

    loss = cosent_loss(first, second, scores, scale=scale)

    assert loss.item() == pytest.approx(naive_cosent(first, second, scores, scale), rel=1e-6, abs=1e-9)


@pytest.mark.parametrize("case", list(GRADED_SCORES))
@pytest.mark.parametrize("scale", [20.0, 1.0])
def test_cosent_matches_sentence_transformers(case, scale):
    scores = torch.tensor(GRADED_SCORES[case], dtype=torch.float64)
    first, second, _ = random_pairs(len(scores), [0] * len(scores), seed=7)
    expected = CoSENTLoss(model=None, scale=scale).compute_loss_from_embeddings([first, second], scores)

    loss = cosent_loss(first, second, scores, scale=scale)

    assert loss.item() == pytest.approx(expected.item(), rel=1e-6, abs=1e-9)


def test_cosent_gradients_match_sentence_transformers():
    scores = torch.tensor(GRADED_SCORES["ties"], dtype=torch.float64)
    first, second, _ = random_pairs(len(scores), [0] * len(scores), seed=8)
    ours = [tensor.clone().requires_grad_() for tensor in (first, second)]
    theirs = [tensor.clone().requires_grad_() for tensor in (first, second)]

    cosent_loss(*ours, scores).backward()
    CoSENTLoss(model=None).compute_loss_from_embeddings(theirs, scores).backward()

    for mine, reference in zip(ours, theirs):
        torch.testing.assert_close(mine.grad, reference.grad, rtol=1e-6, atol=1e-9)


def test_cosent_is_small_when_ranked_right():
    # Cosines 1, 0, -1 ranked like the scores give a loss near log(1) = 0 at scale 20.
    first = torch.tensor([[1.0, 0.0], [1.0, 0.0], [1.0, 0.0]])
    second = torch.tensor([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0]])

    right = cosent_loss(first, second, torch.tensor([5.0, 2.5, 0.0]))
    wrong = cosent_loss(first, second, torch.tensor([0.0, 2.5, 5.0]))

    assert right.item() < 1e-8
    assert wrong.item() == pytest.approx(40.0, abs=1e-3)


def test_cosent_rejects_score_count_and_scale():
    first, second, _ = random_pairs(3, [0, 0, 0])

    with pytest.raises(ValueError, match="expected 3 scores"):
        cosent_loss(first, second, torch.tensor([1.0, 2.0]))
    with pytest.raises(ValueError, match="scale must be positive, got -1"):
        cosent_loss(first, second, torch.tensor([1.0, 2.0, 3.0]), scale=-1)
