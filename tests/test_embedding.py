"""Length-sorted chunked embedding equals one forward pass, in values and in gradients."""

from __future__ import annotations

import pytest
import torch

from simtext.training.embedding import embed_texts

TEXTS = [
    "the cat sat on the mat in the small red house by the park",
    "a dog",
    "the man plays the guitar",
    "a woman eats food in the park on a big blue day",
    "the cat",
    "a small dog runs in the park",
    "red",
    "the woman plays",
    "a big man sits on the red mat in the house",
]


def parameter_gradients(model) -> dict[str, torch.Tensor]:
    return {name: parameter.grad.clone() for name, parameter in model.named_parameters() if parameter.grad is not None}


@pytest.mark.parametrize("chunk_size", [1, 2, 4, 8, 100])
def test_chunked_embeddings_match_single_pass(tiny_model, chunk_size):
    tiny_model.eval()
    expected = embed_texts(tiny_model, tiny_model, TEXTS, torch.device("cpu"))
    embeddings = embed_texts(tiny_model, tiny_model, TEXTS, torch.device("cpu"), chunk_size)
    assert embeddings.shape == expected.shape
    torch.testing.assert_close(embeddings, expected, rtol=1e-5, atol=1e-6)


def test_chunked_gradients_match_single_pass(tiny_model):
    tiny_model.eval()
    weights = torch.linspace(-1, 1, steps=len(TEXTS)).unsqueeze(1)

    (weights * embed_texts(tiny_model, tiny_model, TEXTS, torch.device("cpu"))).sum().backward()
    expected = parameter_gradients(tiny_model)
    tiny_model.zero_grad()
    (weights * embed_texts(tiny_model, tiny_model, TEXTS, torch.device("cpu"), chunk_size=3)).sum().backward()
    gradients = parameter_gradients(tiny_model)

    assert gradients.keys() == expected.keys()
    for name in expected:
        torch.testing.assert_close(gradients[name], expected[name], rtol=1e-4, atol=1e-6, msg=name)


def test_chunks_pad_to_their_own_length(tiny_model, monkeypatch):
    widths = []
    forward = tiny_model.forward

    def recording_forward(features, **kwargs):
        widths.append(features["input_ids"].shape[1])
        return forward(features, **kwargs)

    monkeypatch.setattr(tiny_model, "forward", recording_forward)
    embed_texts(tiny_model, tiny_model, TEXTS, torch.device("cpu"), chunk_size=3)

    lengths = sorted(int(length) for length in tiny_model.preprocess(TEXTS)["attention_mask"].sum(dim=1))
    assert widths == [lengths[2], lengths[5], lengths[8]]
