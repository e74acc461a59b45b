"""simtext.evaluation on real benchmark files with all-MiniLM-L6-v2, against sentence-transformers' evaluators.

The reference figures were measured with sentence-transformers 6.3.0 on CPU. The
SciFact test encodes its 5,183 abstracts twice (once per implementation), which
takes about 15 minutes on 2 CPU cores.

The STS, pair-classification and reranking tests share one simtext run over their
five files, which encodes each distinct text once. sentence-transformers' evaluators
then get those embeddings, looked up by text from what the model returned, instead
of encoding the texts a second time: the comparison covers the metric definitions,
and the reference figures cover the encoding.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
import torch
from sentence_transformers.sentence_transformer.evaluation import (
    BinaryClassificationEvaluator,
    EmbeddingSimilarityEvaluator,
    InformationRetrievalEvaluator,
    RerankingEvaluator,
)

from simtext.evaluation import evaluate, load_suite

pytestmark = pytest.mark.real_data

RETRIEVAL_METRICS = ("ndcg@10", "mrr@10", "recall@1", "recall@10", "recall@100", "map@100")
PAIR_METRICS = ("ap", "accuracy", "accuracy_threshold", "f1", "f1_threshold", "precision", "recall")
SUITES = Path(__file__).resolve().parent.parent / "eval" / "suites"
@pytest.fixture(scope="module")
def reference_model(minilm):
    """A second copy of all-MiniLM-L6-v2 for sentence-transformers' evaluators.

    The evaluators store their figures in the model card data of the model they run,
    so they get their own copy and leave the shared `minilm` untouched.
    """
    from simtext.models import DEFAULT_MODEL, load

    return load(DEFAULT_MODEL)


@pytest.fixture(scope="module")
def shared_run(minilm, data_dir):
    """Evaluate the STS, pair and reranking suites in one simtext run; return the report and a lookup model.

    The lookup model is another copy of all-MiniLM-L6-v2 whose `encode` returns the
    embeddings that `minilm.encode` returned during the run, looked up by text, and
    fails on any text that simtext did not encode.
    """
    from simtext.models import DEFAULT_MODEL, load

    embeddings: dict[str, torch.Tensor] = {}
    original_encode = minilm.encode

    def recording_encode(inputs, **kwargs):
        output = original_encode(inputs, **kwargs)
        embeddings.update(zip(inputs, output.cpu()))
        return output

    tasks = [task for name in ("sts", "pairs", "rerank") for task in load_suite(SUITES / f"{name}.yaml")]
    minilm.encode = recording_encode
    try:
        report = evaluate(minilm, tasks, data_dir)
    finally:
        del minilm.encode

    # encode_query and encode_document pass the texts as the keyword argument `inputs`.
    def lookup_encode(inputs, convert_to_tensor=False, **kwargs):
        rows = torch.stack([embeddings[text] for text in ([inputs] if isinstance(inputs, str) else inputs)])
        return rows if convert_to_tensor else rows.numpy()

    lookup_model = load(DEFAULT_MODEL)
    lookup_model.encode = lookup_encode  # encode_query and encode_document call it too
    return report, lookup_model


def read_rows(path, delimiter=",", quoting=csv.QUOTE_MINIMAL):
    with path.open(newline="", encoding="utf-8-sig") as handle:
        return list(csv.DictReader(handle, delimiter=delimiter, quoting=quoting))


@pytest.mark.parametrize(
    "task, file, columns, reference",
    [
        ("stsb-test", "stsb/test.csv", ("sentence1", "sentence2", "score"), 0.8203),
        ("sick-trial", "sick/trial.tsv", ("sentence_A", "sentence_B", "relatedness_score"), 0.7980),
    ],
)
def test_sts_matches_st_evaluator(shared_run, data_dir, task, file, columns, reference):
    report, lookup_model = shared_run
    metrics = report["tasks"][task]
    rows = read_rows(data_dir / file, "\t" if file.endswith(".tsv") else ",", csv.QUOTE_NONE if file.endswith(".tsv") else csv.QUOTE_MINIMAL)
    evaluator = EmbeddingSimilarityEvaluator(
        [row[columns[0]] for row in rows],
        [row[columns[1]] for row in rows],
        [float(row[columns[2]]) for row in rows],
        batch_size=64,
        similarity_fn_names=["cosine", "dot", "euclidean"],
        name=task,
        write_csv=False,
    )
    expected = evaluator(lookup_model)

    assert abs(metrics["spearman"] - reference) < 5e-5
    assert metrics["spearman"] == pytest.approx(expected[f"{task}_spearman_cosine"], abs=1e-4)
    assert metrics["pearson"] == pytest.approx(expected[f"{task}_pearson_cosine"], abs=1e-4)
    for function in ("dot", "euclidean"):
        assert metrics[f"spearman_{function}"] == pytest.approx(expected[f"{task}_spearman_{function}"], abs=1e-4)
        assert metrics[f"pearson_{function}"] == pytest.approx(expected[f"{task}_pearson_{function}"], abs=1e-4)


@pytest.mark.parametrize(
    "task, file, columns, reference",
    [
        ("msrp-test", "msrp/test.tsv", ("#1 String", "#2 String", "Quality"), {"ap": 0.8369, "accuracy": 0.7252, "f1": 0.8184}),
        ("paws-dev", "paws/dev.tsv", ("sentence1", "sentence2", "label"), {"ap": 0.5910}),
    ],
)
def test_pairs_match_st_evaluator(shared_run, data_dir, task, file, columns, reference):
    report, lookup_model = shared_run
    metrics = report["tasks"][task]
    rows = read_rows(data_dir / file, "\t", csv.QUOTE_NONE)
    evaluator = BinaryClassificationEvaluator(
        [row[columns[0]] for row in rows],
        [row[columns[1]] for row in rows],
        [int(row[columns[2]]) for row in rows],
        batch_size=64,
        similarity_fn_names=["cosine"],
        name=task,
        write_csv=False,
    )
    expected = evaluator(lookup_model)

    for metric, value in reference.items():
        assert abs(metrics[metric] - value) < 5e-5, metric
    for metric in PAIR_METRICS:
        assert metrics[metric] == pytest.approx(expected[f"{task}_cosine_{metric}"], abs=1e-4), metric


def test_trecqa_matches_st_evaluator(shared_run, data_dir):
    report, lookup_model = shared_run
    metrics = report["tasks"]["trecqa-test"]
    samples: dict[str, dict] = {}
    for row in read_rows(data_dir / "trecqa" / "test.csv"):
        sample = samples.setdefault(row["qtext"], {"query": row["qtext"], "positive": [], "negative": []})
        sample["positive" if int(row["label"]) > 0 else "negative"].append(row["atext"])
    evaluator = RerankingEvaluator(list(samples.values()), at_k=10, batch_size=64, name="trecqa-test", write_csv=False)
    expected = evaluator(lookup_model)

    assert abs(metrics["map"] - 0.7443) < 5e-5
    assert abs(metrics["mrr@10"] - 0.7966) < 5e-5
    assert metrics["map"] == pytest.approx(expected["trecqa-test_map"], abs=1e-4)
    assert metrics["mrr@10"] == pytest.approx(expected["trecqa-test_mrr@10"], abs=1e-4)


def test_shared_run_encodes_fewer_texts_than_tasks_hold(shared_run):
    report, _ = shared_run
    texts_in_tasks = sum(
        2 * details.get("pairs", 0) + details.get("queries", 0) + details.get("candidates", 0)
        for details in report["details"].values()
    )
    assert report["encoding"]["texts"] < texts_in_tasks


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
