"""Epoch planning: no text twice in a batch, every row once per epoch, seeded and proportional interleaving.

Each check recounts batches from the raw rows with `collections.Counter` rather
than trusting the planner's own bookkeeping.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from collections import Counter

import pytest
from datasets import Dataset, Value

from simtext.data import PlannedBatch, example_texts, no_duplicate_batches, plan_epoch
from simtext.data import batching as batching_module


def repeated_pairs(n: int, prefix: str = "") -> dict[str, list[str]]:
    """Return `n` (anchor, positive) rows drawn from few distinct texts.

    There are 12 anchors and 45 positives, and every fifth row takes another
    row's anchor as its positive, so texts repeat within and across columns.
    """
    anchors = [f"{prefix}anchor {i % 12}" for i in range(n)]
    positives = [f"{prefix}anchor {(i + 1) % 12}" if i % 5 == 0 else f"{prefix}positive {i % 45}" for i in range(n)]
    return {"anchor": anchors, "positive": positives}


def unique_pairs(n: int, prefix: str = "") -> dict[str, list[str]]:
    return {"anchor": [f"{prefix}a{i}" for i in range(n)], "positive": [f"{prefix}p{i}" for i in range(n)]}


def texts_of(rows: dict[str, list[str]]) -> list[frozenset[str]]:
    return example_texts(Dataset.from_dict(rows))


def max_text_count(rows: dict[str, list[str]], indices) -> int:
    """Return how often the most frequent text occurs in the rows `indices`, counting each row's texts once."""
    counts = Counter(text for index in indices for text in {rows[column][index] for column in rows})
    return max(counts.values())


# no_duplicate_batches


@pytest.mark.parametrize("seed", range(5))
def test_batches_no_text_twice(seed):
    rows = repeated_pairs(300)

    batches = no_duplicate_batches(texts_of(rows), batch_size=8, rng=random.Random(seed))

    for batch in batches:
        assert max_text_count(rows, batch) == 1, f"a text occurs twice in batch {batch}"


@pytest.mark.parametrize("seed", range(5))
def test_batches_every_row_once(seed):
    rows = repeated_pairs(300)

    batches = no_duplicate_batches(texts_of(rows), batch_size=8, rng=random.Random(seed))

    assert Counter(index for batch in batches for index in batch) == Counter(range(300))


@pytest.mark.parametrize("seed", range(5))
def test_batches_full_until_tail(seed):
    rows = repeated_pairs(300)

    batches = no_duplicate_batches(texts_of(rows), batch_size=8, rng=random.Random(seed))
    sizes = [len(batch) for batch in batches]

    assert max(sizes) == 8
    assert min(sizes) >= 1
    # Rows that wait for a later batch must not shrink the batches while 12 anchors
    # still leave room: the first 28 batches (224 of 300 rows) are full.
    assert sizes[:28] == [8] * 28


def test_batches_keep_last_partial():
    batches = no_duplicate_batches(texts_of(unique_pairs(10)), batch_size=4, rng=random.Random(0))

    assert [len(batch) for batch in batches] == [4, 4, 2]


def test_batches_shuffled_by_rng():
    texts = texts_of(unique_pairs(40))

    first = no_duplicate_batches(texts, batch_size=8, rng=random.Random(0))
    again = no_duplicate_batches(texts, batch_size=8, rng=random.Random(0))
    other = no_duplicate_batches(texts, batch_size=8, rng=random.Random(1))

    assert first == again
    assert first != other
    assert first[0] != (0, 1, 2, 3, 4, 5, 6, 7)


def test_batches_shared_text_every_row():
    rows = {"anchor": ["same question"] * 5, "positive": [f"answer {i}" for i in range(5)]}

    batches = no_duplicate_batches(texts_of(rows), batch_size=4, rng=random.Random(0))

    assert sorted(len(batch) for batch in batches) == [1, 1, 1, 1, 1]
    assert Counter(index for batch in batches for index in batch) == Counter(range(5))


def test_batches_row_with_equal_texts():
    # A row whose anchor equals its positive must not block itself.
    rows = {"anchor": ["x", "y", "z"], "positive": ["x", "w", "v"]}

    batches = no_duplicate_batches(texts_of(rows), batch_size=3, rng=random.Random(0))

    assert [len(batch) for batch in batches] == [3]


def test_batches_empty_dataset():
    assert no_duplicate_batches([], batch_size=4, rng=random.Random(0)) == []


@pytest.mark.parametrize("batch_size", [0, -1])
def test_batches_reject_small_size(batch_size):
    with pytest.raises(ValueError) as caught:
        no_duplicate_batches([frozenset({"a"})], batch_size=batch_size, rng=random.Random(0))

    assert f"batch_size must be at least 1, got {batch_size}" in str(caught.value)


# example_texts


def test_example_texts_uses_text_columns():
    dataset = Dataset.from_dict(
        {"anchor": ["a", "b"], "positive": ["p", "q"], "negative": ["n", "a"], "score": [1.0, 2.0]}
    )

    assert example_texts(dataset) == [frozenset({"a", "p", "n"}), frozenset({"b", "q", "a"})]


def test_example_texts_skips_string_label():
    dataset = Dataset.from_dict(
        {"sentence1": ["a", "b"], "sentence2": ["c", "d"], "label": ["ENTAILMENT", "ENTAILMENT"]}
    )

    assert example_texts(dataset) == [frozenset({"a", "c"}), frozenset({"b", "d"})]


def test_example_texts_reads_large_string():
    dataset = Dataset.from_dict({"anchor": ["a"], "positive": ["p"]}).cast_column("anchor", Value("large_string"))

    assert example_texts(dataset) == [frozenset({"a", "p"})]


# plan_epoch


def two_datasets() -> dict[str, dict[str, list[str]]]:
    # The datasets share no text, so each batch's texts show which dataset it came from.
    return {"paraphrases": repeated_pairs(400, prefix="para "), "nli": repeated_pairs(200, prefix="nli ")}


def plan_two(seed: int = 0, epoch: int = 0, batch_size: int = 10) -> tuple[dict, list[PlannedBatch]]:
    rows = two_datasets()
    texts = {name: texts_of(columns) for name, columns in rows.items()}
    return rows, plan_epoch(texts, batch_size, seed, epoch)


def test_plan_no_text_twice():
    rows, plan = plan_two()

    for batch in plan:
        assert max_text_count(rows[batch.dataset], batch.indices) == 1, f"a text occurs twice in {batch}"


def test_plan_every_row_once():
    rows, plan = plan_two()

    for name, columns in rows.items():
        used = Counter(index for batch in plan if batch.dataset == name for index in batch.indices)
        assert used == Counter(range(len(columns["anchor"]))), f"dataset {name!r}"


def test_plan_batch_from_one_dataset():
    rows, plan = plan_two()

    for batch in plan:
        prefix = "para " if batch.dataset == "paraphrases" else "nli "
        texts = [rows[batch.dataset][column][index] for index in batch.indices for column in ("anchor", "positive")]
        assert all(text.startswith(prefix) for text in texts), f"{batch} mixes datasets"


def test_plan_same_seed_and_epoch():
    _, first = plan_two(seed=7, epoch=3)
    _, again = plan_two(seed=7, epoch=3)

    assert first == again


def test_plan_differs_across_epochs():
    _, epoch0 = plan_two(seed=7, epoch=0)
    _, epoch1 = plan_two(seed=7, epoch=1)

    assert epoch0 != epoch1
    assert [batch.dataset for batch in epoch0] != [batch.dataset for batch in epoch1]


def test_plan_differs_across_seeds():
    _, seed7 = plan_two(seed=7, epoch=0)
    _, seed8 = plan_two(seed=8, epoch=0)

    assert seed7 != seed8


# Loads batching.py by path: importing the `simtext` package would load torch, which takes seconds.
PLAN_SCRIPT = """
import importlib.util, json, sys
spec = importlib.util.spec_from_file_location("batching", sys.argv[1])
batching = sys.modules["batching"] = importlib.util.module_from_spec(spec)
spec.loader.exec_module(batching)
texts = {
    "b": [frozenset({f"b{i}", f"b{i % 7}"}) for i in range(50)],
    "a": [frozenset({f"a{i}"}) for i in range(30)],
}
print(json.dumps([[batch.dataset, list(batch.indices)] for batch in batching.plan_epoch(texts, 4, 11, 2)]))
"""


def test_plan_same_in_new_process():
    # A resumed run rebuilds the plan in a new process, where string hashing is salted differently.
    environment = {**os.environ, "PYTHONHASHSEED": "12345"}
    process = subprocess.run(
        [sys.executable, "-c", PLAN_SCRIPT, batching_module.__file__], env=environment, capture_output=True, text=True
    )
    assert process.returncode == 0, process.stderr
    texts = {
        "b": [frozenset({f"b{i}", f"b{i % 7}"}) for i in range(50)],
        "a": [frozenset({f"a{i}"}) for i in range(30)],
    }

    in_this_process = [[batch.dataset, list(batch.indices)] for batch in plan_epoch(texts, 4, 11, 2)]

    assert json.loads(process.stdout) == in_this_process


@pytest.mark.parametrize("seed", range(5))
def test_plan_interleaves_in_proportion(seed):
    _, plan = plan_two(seed=seed)
    names = [batch.dataset for batch in plan]

    # 400 and 200 rows in batches of 10; the texts leave room for full batches until the tail.
    assert 40 <= names.count("paraphrases") <= 45
    assert 20 <= names.count("nli") <= 25

    # Batches are spread over the epoch: every quarter contains both datasets,
    # and in each half the larger dataset has roughly its 2/3 share of the batches.
    quarter = len(names) // 4
    for start in range(0, 4 * quarter, quarter):
        assert set(names[start : start + quarter]) == {"paraphrases", "nli"}, f"quarter at batch {start}"
    half = len(names) // 2
    for part in (names[:half], names[half:]):
        assert 0.45 <= part.count("paraphrases") / len(part) <= 0.9


def test_plan_keeps_partial_batches():
    texts = {"a": texts_of(unique_pairs(10, "a")), "b": texts_of(unique_pairs(7, "b"))}

    plan = plan_epoch(texts, batch_size=4, seed=0, epoch=0)

    assert sorted(len(batch.indices) for batch in plan if batch.dataset == "a") == [2, 4, 4]
    assert sorted(len(batch.indices) for batch in plan if batch.dataset == "b") == [3, 4]


def test_plan_single_dataset_covers_rows():
    texts = {"only": texts_of(unique_pairs(25))}

    plan = plan_epoch(texts, batch_size=8, seed=1, epoch=0)

    assert {batch.dataset for batch in plan} == {"only"}
    assert Counter(index for batch in plan for index in batch.indices) == Counter(range(25))
