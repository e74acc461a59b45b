"""simtext.evaluation on real benchmark files with all-MiniLM-L6-v2, against sentence-transformers' evaluators.

The reference figures were measured with sentence-transformers 6.3.0 on CPU. The
SciFact test encodes its 5,183 abstracts twice (once per implementation), which
takes about 15 minutes on 2 CPU cores.
"""

from __future__ import annotations

import csv
import json

import pytest
from sentence_transformers.sentence_transformer.evaluation import (
    EmbeddingSimilarityEvaluator,
    InformationRetrievalEvaluator,
)

from simtext.evaluation import evaluate

pytestmark = pytest.mark.real_data

RETRIEVAL_METRICS = ("ndcg@10", "mrr@10", "recall@1", "recall@10", "recall@100", "map@100")


@pytest.fixture(scope="module")
def reference_model(minilm):
    """A second copy of all-MiniLM-L6-v2 for sentence-transformers' evaluators.

    The evaluators store their figures in the model card data of the model they run,
    so they get their own copy and leave the shared `minilm` untouched.
    """
    from simtext.models import DEFAULT_MODEL, load

    return load(DEFAULT_MODEL)


def test_stsb_test_matches_reference(minilm, reference_model, data_dir):
    metrics = evaluate(minilm, ["stsb-test"], data_dir)["tasks"]["stsb-test"]

    with (data_dir / "stsb" / "test.csv").open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    evaluator = EmbeddingSimilarityEvaluator(
        [row["sentence1"] for row in rows],
        [row["sentence2"] for row in rows],
        [float(row["score"]) for row in rows],
        batch_size=64,
        similarity_fn_names=["cosine"],
        name="stsb-test",
        write_csv=False,
    )
    expected = evaluator(reference_model)

    assert abs(metrics["spearman"] - 0.8203) < 5e-5
    assert metrics["spearman"] == pytest.approx(expected["stsb-test_spearman_cosine"], abs=1e-4)
    assert metrics["pearson"] == pytest.approx(expected["stsb-test_pearson_cosine"], abs=1e-4)


def test_scifact_test_matches_st_evaluator(minilm, reference_model, data_dir):
    metrics = evaluate(minilm, ["scifact-test"], data_dir)["tasks"]["scifact-test"]

    folder = data_dir / "scifact"
    with (folder / "corpus.jsonl").open(encoding="utf-8") as handle:
        documents = [json.loads(line) for line in handle]
    corpus = {document["_id"]: (document["title"] + " " + document["text"]).strip() for document in documents}
    with (folder / "queries.jsonl").open(encoding="utf-8") as handle:
        queries = {query["_id"]: query["text"] for query in map(json.loads, handle)}
    relevant: dict[str, set[str]] = {}
    with (folder / "qrels" / "test.tsv").open(newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle, delimiter="\t"):
            if int(row["score"]) > 0:
                relevant.setdefault(row["query-id"], set()).add(row["corpus-id"])

    evaluator = InformationRetrievalEvaluator(
        queries,
        corpus,
        relevant,
        mrr_at_k=[10],
        ndcg_at_k=[10],
        accuracy_at_k=[1],
        precision_recall_at_k=[1, 10, 100],
        map_at_k=[100],
        batch_size=64,
        name="scifact-test",
        write_csv=False,
    )
    expected = evaluator(reference_model)

    assert abs(metrics["ndcg@10"] - 0.6492) < 5e-5
    for metric in RETRIEVAL_METRICS:
        assert metrics[metric] == pytest.approx(expected[f"scifact-test_cosine_{metric}"], abs=1e-4), metric
