"""The cached (GradCache) step against the direct step: same loss and parameter gradients, dropout on."""

from __future__ import annotations

import pytest
import torch
from accelerate import Accelerator

from simtext.losses import info_nce_loss
from simtext.training import steps
from simtext.training.steps import cached_step, direct_step

ANCHORS = [
    "the cat sat on the mat in the small red house by the park",
    "a dog",
    "the man plays the guitar",
    "a woman eats food in the park on a big blue day",
    "the cat",
    "a small dog runs in the park",
    "red",
    "the woman plays",
]
POSITIVES = [
    "a cat sits on a mat in a red house",
    "the dog runs",
    "a man is playing a guitar in the house",
    "the woman is eating",
    "cats",
    "the small dog is running near the park on a day",
    "the red one",
    "a woman plays the piano",
]
NEGATIVES = [
    "a horse",
    "the children are swimming in the water by the beach",
    "blue",
    "the man sits",
    "a big tree in the city",
    "she reads",
    "the boy is cooking food in the room with the old man",
    "dogs",
]


def columns(with_negatives: bool) -> dict[str, list[str]]:
    result = {"anchor": ANCHORS, "positive": POSITIVES}
    if with_negatives:
        result["negative"] = NEGATIVES
    return result


def info_nce(symmetric: bool):
    def loss_fn(embeddings):
        negatives = embeddings["negative"].unsqueeze(1) if "negative" in embeddings else None  # (batch, 1, dim)
        return info_nce_loss(embeddings["anchor"], embeddings["positive"], negatives, scale=20.0, symmetric=symmetric)

    return loss_fn


def run_step(model, step, seed: int, **kwargs):
    """Run one step from a fixed seed with dropout on; return the loss and every parameter's gradient."""
    model.train()
    model.zero_grad()
    torch.manual_seed(seed)
    output = step(Accelerator(cpu=True), model, model, **kwargs)
    gradients = {name: parameter.grad.clone() for name, parameter in model.named_parameters() if parameter.grad is not None}
    return output.loss, gradients


def assert_same_gradients(gradients, expected, rtol=1e-5, atol=1e-7):
    assert gradients.keys() == expected.keys()
    for name in expected:
        torch.testing.assert_close(gradients[name], expected[name], rtol=rtol, atol=atol, msg=name)


@pytest.mark.parametrize("sort_by_length", [True, False])
@pytest.mark.parametrize("with_negatives, symmetric", [(False, False), (True, False), (False, True), (True, True)])
def test_cached_step_matches_direct_step(make_tiny_model, sort_by_length, with_negatives, symmetric):
    kwargs = {"columns": columns(with_negatives), "loss_fn": info_nce(symmetric), "sort_by_length": sort_by_length}

    expected_loss, expected = run_step(make_tiny_model(dropout=0.1), direct_step, 3, chunk_size=5, **kwargs)
    loss, gradients = run_step(make_tiny_model(dropout=0.1), cached_step, 3, mini_batch_size=5, **kwargs)

    torch.testing.assert_close(loss, expected_loss, rtol=1e-5, atol=0)
    assert_same_gradients(gradients, expected)


def test_direct_step_draws_dropout(make_tiny_model):
    """Guard for the test above: with dropout on, another seed gives another loss."""
    kwargs = {"columns": columns(True), "loss_fn": info_nce(False), "chunk_size": 5}
    first, _ = run_step(make_tiny_model(dropout=0.1), direct_step, 3, **kwargs)
    second, _ = run_step(make_tiny_model(dropout=0.1), direct_step, 4, **kwargs)
    assert abs(float(first) - float(second)) > 1e-4


def test_cached_step_needs_dropout_replay(make_tiny_model, monkeypatch):
    kwargs = {"columns": columns(True), "loss_fn": info_nce(False)}
    _, expected = run_step(make_tiny_model(dropout=0.1), direct_step, 3, chunk_size=5, **kwargs)

    monkeypatch.setattr(steps.RngState, "restore", lambda self: None)
    _, gradients = run_step(make_tiny_model(dropout=0.1), cached_step, 3, mini_batch_size=5, **kwargs)

    with pytest.raises(AssertionError):
        assert_same_gradients(gradients, expected)


@pytest.mark.parametrize("mini_batch_size", [1, 3, 16, 64])
def test_cached_step_matches_one_pass_without_dropout(make_tiny_model, mini_batch_size):
    """Without dropout, chunking and sorting change nothing but float round-off, whatever the chunk size."""
    kwargs = {"columns": columns(True), "loss_fn": info_nce(True)}
    expected_loss, expected = run_step(make_tiny_model(dropout=0.0), direct_step, 0, **kwargs)
    loss, gradients = run_step(make_tiny_model(dropout=0.0), cached_step, 0, mini_batch_size=mini_batch_size, **kwargs)

    torch.testing.assert_close(loss, expected_loss, rtol=1e-5, atol=0)
    assert_same_gradients(gradients, expected, rtol=1e-4, atol=1e-6)


def test_cached_step_chunks_pad_to_own_length(tiny_model, monkeypatch):
    widths = []
    forward = tiny_model.forward

    def recording_forward(features, **kwargs):
        widths.append(features["input_ids"].shape[1])
        return forward(features, **kwargs)

    monkeypatch.setattr(tiny_model, "forward", recording_forward)
    run_step(tiny_model, cached_step, 0, columns=columns(False), loss_fn=info_nce(False), mini_batch_size=4)

    texts = ANCHORS + POSITIVES
    lengths = sorted(int(length) for length in tiny_model.preprocess(texts)["attention_mask"].sum(dim=1))
    chunk_widths = [lengths[end - 1] for end in range(4, len(texts) + 1, 4)]
    # Each chunk is embedded twice: once without and once with gradients.
    assert widths == chunk_widths + chunk_widths


def test_step_output_keeps_input_order(tiny_model):
    tiny_model.eval()
    output = direct_step(Accelerator(cpu=True), tiny_model, tiny_model, columns(True), info_nce(False), chunk_size=3)
    expected = tiny_model.encode(NEGATIVES, convert_to_tensor=True)
    torch.testing.assert_close(output.embeddings["negative"], expected, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("sort_by_length", [True, False])
def test_token_cap_bounds_chunks(tiny_model, sort_by_length):
    from simtext.training.embedding import plan_chunks

    lengths = tiny_model.preprocess(ANCHORS + POSITIVES + NEGATIVES)["attention_mask"].sum(dim=1)
    chunks = plan_chunks(len(lengths), lengths, 6, sort_by_length, max_tokens=40)

    assert sorted(torch.cat(chunks).tolist()) == list(range(len(lengths)))
    for chunk in chunks:
        assert len(chunk) <= 6
        assert len(chunk) == 1 or len(chunk) * int(lengths[chunk].max()) <= 40
    assert any(len(chunk) < 6 for chunk in chunks[:-1])


def test_cached_step_with_token_cap_matches_one_pass(make_tiny_model):
    kwargs = {"columns": columns(True), "loss_fn": info_nce(False)}
    expected_loss, expected = run_step(make_tiny_model(dropout=0.0), direct_step, 0, **kwargs)
    loss, gradients = run_step(make_tiny_model(dropout=0.0), cached_step, 0, mini_batch_size=8, max_tokens=30, **kwargs)

    torch.testing.assert_close(loss, expected_loss, rtol=1e-5, atol=0)
    assert_same_gradients(gradients, expected, rtol=1e-4, atol=1e-6)


def test_cached_step_tokenizes_in_slices(tiny_model, monkeypatch):
    # A padded whole batch (ids and the tokenizer's encodings) grows with the batch size, so the step tokenizes slices and chunks.
    from simtext.training import embedding

    sizes = []
    preprocess = tiny_model.preprocess

    def recording_preprocess(texts, **kwargs):
        sizes.append(len(texts))
        return preprocess(texts, **kwargs)

    monkeypatch.setattr(embedding, "LENGTH_SLICE", 5)
    monkeypatch.setattr(tiny_model, "preprocess", recording_preprocess)
    run_step(tiny_model, cached_step, 0, columns=columns(True), loss_fn=info_nce(False), mini_batch_size=4)

    assert max(sizes) == 5
    # Every text is tokenized twice: once to count its tokens, once in its chunk.
    assert sum(sizes) == 2 * len(ANCHORS + POSITIVES + NEGATIVES)
