"""The memory queue of negatives: FIFO contents, masking of equal texts, and the loss against a naive loop."""

from __future__ import annotations

import math

import pytest
import torch
from accelerate import Accelerator

from simtext.losses import info_nce_loss
from simtext.training.memory import MemoryQueue
from simtext.training.objectives import InfoNCEObjective
from simtext.training.recipe import LossConfig, MemoryConfig
from simtext.training.steps import cached_step, direct_step


def naive_loss_with_memory(anchors, positives, memory, excluded):
    """Loop in float64: anchor i scores every positive and every memory entry not in `excluded[i]`."""
    def cosine(a, b):
        return float(a.double() @ b.double()) / (float(a.double().norm()) * float(b.double().norm()))

    total = 0.0
    for i, anchor in enumerate(anchors):
        logits = [20.0 * cosine(anchor, positive) for positive in positives]
        logits += [20.0 * cosine(anchor, entry) for q, entry in enumerate(memory) if q not in excluded[i]]
        total += math.log(sum(math.exp(logit) for logit in logits)) - logits[i]
    return total / len(anchors)


def embeddings(rows, dim=8, seed=0):
    return torch.randn(rows, dim, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def test_loss_with_memory_matches_naive_loop():
    anchors, positives, memory = embeddings(5), embeddings(5, seed=1), embeddings(7, seed=2)
    mask = torch.zeros(5, 7, dtype=torch.bool)
    mask[0, 3] = mask[4, 0] = mask[4, 6] = True

    loss = info_nce_loss(anchors, positives, memory=memory, memory_mask=mask)

    expected = naive_loss_with_memory(anchors, positives, memory, {0: {3}, 1: set(), 2: set(), 3: set(), 4: {0, 6}})
    assert float(loss) == pytest.approx(expected, rel=1e-9)


def test_loss_with_memory_is_loss_with_shared_negatives():
    """Unmasked memory entries are extra candidates, the same for every anchor."""
    anchors, positives, memory = embeddings(4), embeddings(4, seed=1), embeddings(4, seed=2)
    loss = info_nce_loss(anchors, positives, memory=memory)
    expected = naive_loss_with_memory(anchors, positives, memory, {i: set() for i in range(4)})
    assert float(loss) == pytest.approx(expected, rel=1e-9)


def test_queue_keeps_newest_entries():
    queue = MemoryQueue(size=5)
    queue.push(torch.full((3, 2), 1.0), ["a", "b", "c"])
    queue.push(torch.full((4, 2), 2.0), ["d", "e", "f", "g"])

    assert queue.texts == ["d", "e", "f", "g", "a"]
    assert queue.embeddings.shape == (5, 2)
    assert queue.embeddings[:, 0].tolist() == [2.0, 2.0, 2.0, 2.0, 1.0]


def test_queue_entries_are_detached():
    queue = MemoryQueue(size=4)
    queue.push(torch.ones(2, 3, requires_grad=True) * 2, ["a", "b"])
    assert not queue.embeddings.requires_grad


def test_queue_mask_marks_equal_texts():
    queue = MemoryQueue(size=10)
    queue.push(torch.zeros(4, 2), ["x", "y", "x", "z"])
    mask = queue.mask([{"x"}, {"q"}, {"z", "y"}], torch.device("cpu"))
    assert mask.tolist() == [
        [True, False, True, False],
        [False, False, False, False],
        [False, True, False, True],
    ]


def test_queue_state_round_trip():
    queue = MemoryQueue(size=3)
    queue.push(embeddings(3).float(), ["a", "b", "c"])
    restored = MemoryQueue(size=3)
    restored.load_state_dict(queue.state_dict())
    assert restored.texts == queue.texts
    assert torch.equal(restored.embeddings, queue.embeddings)


def test_objective_masks_queued_copy_of_positive():
    objective = InfoNCEObjective(LossConfig(memory=MemoryConfig(size=16)))
    old = {"anchor": embeddings(3, seed=5).float(), "positive": embeddings(3, seed=6).float()}
    objective.after_step(old, {"anchor": ["p", "q", "r"], "positive": ["cat", "dog", "bird"]})
    assert objective.memory.texts == ["cat", "dog", "bird"]

    rows = {"anchor": ["a0", "a1"], "positive": ["dog", "fish"]}
    current = {"anchor": embeddings(2, seed=7).float(), "positive": embeddings(2, seed=8).float()}
    loss = objective.loss(current, rows)

    # Anchor 0's positive is "dog", queued at position 1: that entry is no negative of anchor 0.
    expected = naive_loss_with_memory(current["anchor"], current["positive"], old["positive"], {0: {1}, 1: set()})
    assert float(loss) == pytest.approx(expected, rel=1e-5)


def test_objective_queues_positives_and_negatives():
    objective = InfoNCEObjective(LossConfig(memory=MemoryConfig(size=16)))
    batch = {name: embeddings(2, seed=index).float() for index, name in enumerate(["anchor", "positive", "negative"])}
    objective.after_step(batch, {"anchor": ["a", "b"], "positive": ["p", "q"], "negative": ["n", "m"]})
    assert objective.memory.texts == ["p", "q", "n", "m"]
    torch.testing.assert_close(objective.memory.embeddings, torch.cat([batch["positive"], batch["negative"]]))


def test_memory_gradients_same_in_direct_and_cached_step(make_tiny_model):
    """A queue filled by one step shapes the next step's gradients the same way in both step kinds."""
    reference = {}
    for kind, options in (("direct", {"chunk_size": 3}), ("cached", {"mini_batch_size": 3})):
        chosen = direct_step if kind == "direct" else cached_step
        reference[kind] = _two_steps_with_memory(make_tiny_model(dropout=0.1), chosen, options)
    for name, gradient in reference["direct"].items():
        torch.testing.assert_close(reference["cached"][name], gradient, rtol=1e-5, atol=1e-7, msg=name)


def _two_steps_with_memory(model, step, options):
    objective = InfoNCEObjective(LossConfig(memory=MemoryConfig(size=8)))
    batches = [
        {"anchor": ["the cat", "a dog runs", "red"], "positive": ["a cat", "the dog is running", "the red one"]},
        {"anchor": ["the man plays", "blue", "a woman eats"], "positive": ["a man plays the guitar", "a dog runs", "the woman is eating food"]},
    ]
    model.train()
    torch.manual_seed(0)
    for rows in batches:
        model.zero_grad()
        output = step(Accelerator(cpu=True), model, model, rows, lambda embeddings: objective.loss(embeddings, rows), **options)
        objective.after_step(output.embeddings, rows)
    assert objective.memory.texts[3:] == ["a cat", "the dog is running", "the red one"]
    return {name: parameter.grad.clone() for name, parameter in model.named_parameters() if parameter.grad is not None}
