"""Fast tests of pair classification, reranking, STS similarity functions and shared encoding on a tiny encoder.

Figures are checked against sentence-transformers' evaluators on the same model and
against brute-force formulas written out here, never against simtext's own output.
"""

from __future__ import annotations

import csv

import numpy as np
import pytest
import torch
from scipy.stats import pearsonr, spearmanr
from sentence_transformers.sentence_transformer.evaluation import (
    BinaryClassificationEvaluator,
    EmbeddingSimilarityEvaluator,
    RerankingEvaluator,
)

from simtext.data.readers import DataError
from simtext.evaluation import (
    PairClassificationTask,
    RerankingTask,
    STSTask,
    evaluate,
    evaluate_pairs,
    evaluate_reranking,
    evaluate_sts,
    metric_names,
    pair_classification_metrics,
    read_labelled_pairs,
    read_reranking,
    read_sts_pairs,
    reranking_metrics,
)
from simtext.evaluation.retrieval import recall_curve, retrieval_metrics

PAIR_ROWS = [
    ("A man is playing the guitar.", "A man plays a guitar.", 1),
    ("A woman is cooking food.", "A woman cuts food in the house.", 0),
    ("A dog is running on the grass.", "A dog runs on the grass.", 1),
    ("The boy is reading.", "A boy is reading a book.", 1),
    ("Two children are swimming in the water.", "Children swim near the beach.", 0),
    ("A man is playing the guitar.", "A woman is playing the piano.", 0),
    ("The old horse is eating grass.", "An old horse eats grass.", 1),
    ("A girl in a red shirt is dancing.", "A girl in a blue shirt is singing.", 0),
    ("People are walking down the street.", "Many people walk through the city.", 1),
    ("The cell protein levels increase.", "The car is black.", 0),
]

RERANK_ROWS = [
    ("what is the man playing ?", "A man is playing the guitar.", 1),
    ("what is the man playing ?", "The cell protein levels increase.", 0),
    ("what is the man playing ?", "A woman is cooking food.", 0),
    ("what is the man playing ?", "The man plays a guitar on the street.", 1),
    ("where do the children swim ?", "Children swim near the beach.", 1),
    ("where do the children swim ?", "The car is black.", 0),
    ("where do the children swim ?", "A dog is running on the grass.", 0),
    ("what does the horse eat ?", "The old horse is eating grass.", 1),
    ("what does the horse eat ?", "The horse eats grass near the road.", 1),
    ("who is dancing ?", "A girl in a red shirt is dancing.", 1),
    ("who is dancing ?", "People are walking down the street.", 0),
    ("who is dancing ?", "A man is playing the guitar.", 0),
]

STS_ROWS = [
    ("A man is playing the guitar.", "A man plays a guitar.", 48),
    ("A woman is cooking food.", "A woman cuts food in the house.", 32),
    ("A dog is running on the grass.", "A cat is sitting on the table.", 6),
    ("Two children are swimming in the water.", "Children swim near the beach.", 39),
    ("The old horse is eating grass.", "A young horse eats grass near the road.", 31),
    ("The cell protein levels increase.", "The car is black.", 0),
    ("A man is riding a bike.", "A man rides a bike on the road.", 44),
]


def write_rows(path, header, rows, delimiter=","):
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, delimiter=delimiter)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def cosine_rows(model, first, second):
    a = model.encode(first, convert_to_numpy=True).astype(np.float64)
    b = model.encode(second, convert_to_numpy=True).astype(np.float64)
    return (a * b).sum(axis=1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))


def brute_force_average_precision(labels, scores):
    """Average precision with tied scores counted as one threshold: sum over thresholds of Δrecall × precision."""
    labels, scores = np.asarray(labels), np.asarray(scores)
    total = 0.0
    previous_recall = 0.0
    for threshold in sorted(set(scores.tolist()), reverse=True):
        predicted = scores >= threshold
        true_positives = (predicted & (labels == 1)).sum()
        recall = true_positives / (labels == 1).sum()
        total += (recall - previous_recall) * true_positives / predicted.sum()
        previous_recall = recall
    return total


def brute_force_best(labels, scores):
    """Best accuracy and F1 over every threshold `score >= t`, t ranging over the scores and above the highest."""
    labels, scores = np.asarray(labels), np.asarray(scores)
    best_accuracy, best_f1 = (labels == 0).mean(), 0.0
    for threshold in scores:
        predicted = scores >= threshold
        best_accuracy = max(best_accuracy, (predicted == (labels == 1)).mean())
        true_positives = (predicted & (labels == 1)).sum()
        if true_positives:
            precision, recall = true_positives / predicted.sum(), true_positives / (labels == 1).sum()
            best_f1 = max(best_f1, 2 * precision * recall / (precision + recall))
    return best_accuracy, best_f1


# Pair classification


def test_pair_metrics_by_brute_force():
    labels = [1, 0, 1, 1, 0, 0, 1, 0]
    scores = np.array([0.9, 0.8, 0.8, 0.7, 0.4, 0.3, 0.2, 0.1], dtype=np.float32)
    metrics = pair_classification_metrics(scores, labels)

    accuracy, f1 = brute_force_best(labels, scores)
    assert metrics["ap"] == pytest.approx(brute_force_average_precision(labels, scores))
    assert metrics["accuracy"] == pytest.approx(accuracy)
    assert metrics["f1"] == pytest.approx(f1)
    # The F1 threshold lies between the score groups it separates.
    predicted = scores >= metrics["f1_threshold"]
    assert metrics["precision"] == pytest.approx((predicted & (np.array(labels) == 1)).sum() / predicted.sum())


def test_pairs_match_st_evaluator(tiny_model, tmp_path):
    path = write_rows(tmp_path / "pairs.tsv", ["id", "sentence1", "sentence2", "label"], [(i, *row) for i, row in enumerate(PAIR_ROWS)], "\t")
    metrics = evaluate_pairs(tiny_model, read_labelled_pairs(path), batch_size=4)

    evaluator = BinaryClassificationEvaluator(
        [row[0] for row in PAIR_ROWS], [row[1] for row in PAIR_ROWS], [row[2] for row in PAIR_ROWS],
        similarity_fn_names=["cosine"], write_csv=False,
    )
    expected = evaluator(tiny_model)
    for metric in ("ap", "accuracy", "accuracy_threshold", "f1", "f1_threshold", "precision", "recall"):
        assert metrics[metric] == pytest.approx(expected[f"cosine_{metric}"], abs=1e-6), metric

    cosine = cosine_rows(tiny_model, [row[0] for row in PAIR_ROWS], [row[1] for row in PAIR_ROWS])
    labels = [row[2] for row in PAIR_ROWS]
    assert metrics["ap"] == pytest.approx(brute_force_average_precision(labels, cosine), abs=1e-6)
    assert metrics["accuracy"] == pytest.approx(brute_force_best(labels, cosine)[0])


def test_pair_label_must_be_binary(tmp_path):
    rows = [("a dog", "a cat", 1), ("a man", "a boy", 2)]
    path = write_rows(tmp_path / "pairs.csv", ["sentence1", "sentence2", "label"], rows)

    with pytest.raises(DataError, match="line 3") as error:
        read_labelled_pairs(path)
    assert "expected label 0 or 1, found '2'" in str(error.value)


def test_pair_labels_need_both_classes(tmp_path):
    path = write_rows(tmp_path / "pairs.csv", ["sentence1", "sentence2", "label"], [("a", "b", 1), ("c", "d", 1)])

    with pytest.raises(DataError, match="pairs of both labels"):
        read_labelled_pairs(path)


# Reranking


def test_reranking_metrics_by_hand():
    # Query 1 ranks its relevant candidates 1st and 3rd of 4; query 2 ranks its one relevant candidate 1st.
    scores = [np.array([0.9, 0.5, 0.8, 0.1]), np.array([0.3, 0.7])]
    relevance = [[1, 1, 0, 0], [0, 1]]
    metrics = reranking_metrics(scores, relevance)

    # Sorted query 1: 0.9 (rel 1), 0.8 (rel 0), 0.5 (rel 1), 0.1 (rel 0).
    ap_1 = (1 / 1 + 2 / 3) / 2
    assert metrics["map"] == pytest.approx((ap_1 + 1.0) / 2)
    assert metrics["mrr@10"] == pytest.approx((1.0 + 1.0) / 2)


def test_reranking_mrr_cutoff():
    scores = [np.arange(12, 0, -1, dtype=float)]
    relevance = [[0] * 10 + [1, 0]]  # the relevant candidate is 11th

    assert reranking_metrics(scores, relevance)["mrr@10"] == 0.0


def test_reranking_matches_st_evaluator(tiny_model, tmp_path):
    path = write_rows(tmp_path / "rerank.csv", ["qtext", "label", "atext"], [(q, label, a) for q, a, label in RERANK_ROWS])
    data = read_reranking(path, "qtext", "atext", "label")
    metrics = evaluate_reranking(tiny_model, data, batch_size=4)

    samples: dict[str, dict] = {}
    for query, answer, label in RERANK_ROWS:
        sample = samples.setdefault(query, {"query": query, "positive": [], "negative": []})
        sample["positive" if label else "negative"].append(answer)
    expected = RerankingEvaluator(list(samples.values()), at_k=10, write_csv=False)(tiny_model)

    assert data.skipped == 1  # the horse question has no irrelevant candidate
    assert len(data) == 3
    assert metrics["map"] == pytest.approx(expected["map"], abs=1e-6)
    assert metrics["mrr@10"] == pytest.approx(expected["mrr@10"], abs=1e-6)


def test_reranking_without_usable_query(tmp_path):
    path = write_rows(tmp_path / "rerank.csv", ["query", "document", "label"], [("q", "a", 1), ("q", "b", 1)])

    with pytest.raises(DataError, match="no query has both"):
        read_reranking(path)


# STS similarity functions


def test_sts_all_similarities_match_st_evaluator(tiny_model, tmp_path):
    path = write_rows(tmp_path / "sts.csv", ["sentence1", "sentence2", "score"], STS_ROWS)
    metrics = evaluate_sts(tiny_model, read_sts_pairs(path), similarity_functions=("cosine", "dot", "euclidean"))

    evaluator = EmbeddingSimilarityEvaluator(
        [row[0] for row in STS_ROWS], [row[1] for row in STS_ROWS], [row[2] for row in STS_ROWS],
        similarity_fn_names=["cosine", "dot", "euclidean"], write_csv=False,
    )
    expected = evaluator(tiny_model)
    assert metrics["spearman"] == pytest.approx(expected["spearman_cosine"], abs=1e-6)
    assert metrics["pearson"] == pytest.approx(expected["pearson_cosine"], abs=1e-6)
    for function in ("dot", "euclidean"):
        assert metrics[f"spearman_{function}"] == pytest.approx(expected[f"spearman_{function}"], abs=1e-6)
        assert metrics[f"pearson_{function}"] == pytest.approx(expected[f"pearson_{function}"], abs=1e-6)

    first = tiny_model.encode([row[0] for row in STS_ROWS], convert_to_numpy=True).astype(np.float64)
    second = tiny_model.encode([row[1] for row in STS_ROWS], convert_to_numpy=True).astype(np.float64)
    gold = [row[2] for row in STS_ROWS]
    assert metrics["pearson_dot"] == pytest.approx(pearsonr(gold, (first * second).sum(axis=1)).statistic, abs=1e-5)
    distance = np.linalg.norm(first - second, axis=1)
    assert metrics["spearman_euclidean"] == pytest.approx(spearmanr(gold, -distance).statistic, abs=1e-6)


def test_metric_names_of_new_kinds():
    assert metric_names(PairClassificationTask("p", "p.tsv"))[:2] == ("ap", "accuracy")
    assert metric_names(RerankingTask("r", "r.csv")) == ("map", "mrr@10")
    assert metric_names(STSTask("s", "s.csv", similarity_functions=("cosine", "dot"))) == (
        "spearman", "pearson", "spearman_dot", "pearson_dot",
    )


def test_recall_curve_agrees_with_metrics():
    rankings = [[f"d{index}" for index in range(120)], ["d5", "d1"]]
    relevant = [{"d0", "d50", "d110"}, {"d1", "d9"}]
    curve = recall_curve(rankings, relevant)
    metrics = retrieval_metrics(rankings, relevant)

    assert len(curve) == 100
    # The curve is stored rounded to 6 decimals.
    assert curve[0] == pytest.approx(metrics["recall@1"], abs=1e-6)
    assert curve[9] == pytest.approx(metrics["recall@10"], abs=1e-6)
    assert curve[99] == pytest.approx(metrics["recall@100"], abs=1e-6)
    assert curve[1] == pytest.approx((1 / 3 + 1 / 2) / 2, abs=1e-6)


def test_faiss_search_matches_exact_search():
    pytest.importorskip("faiss")
    from simtext.evaluation.faiss_search import faiss_search
    from simtext.evaluation.search import exact_search

    generator = torch.Generator().manual_seed(1)
    documents = torch.randn(300, 16, generator=generator)
    queries = torch.randn(7, 16, generator=generator)
    faiss_scores, faiss_indices = faiss_search(queries, documents, k=20, chunk_size=64)
    exact_scores, exact_indices = exact_search(queries, documents, k=20)

    assert torch.equal(faiss_indices, exact_indices)
    assert torch.allclose(faiss_scores, exact_scores, atol=1e-5)


# One encoding per text


def test_shared_text_encoded_once(tiny_model, tmp_path):
    # The same sentences appear in an STS file (twice within it), a pair file and a reranking file.
    shared = "A man is playing the guitar."
    sts = write_rows(tmp_path / "sts.csv", ["sentence1", "sentence2", "score"], [(shared, "A man plays a guitar.", 4), (shared, "The car is black.", 0), ("A dog runs.", shared, 1)])
    pairs = write_rows(tmp_path / "pairs.csv", ["sentence1", "sentence2", "label"], [(shared, "A man plays a guitar.", 1), ("A dog runs.", "The car is black.", 0)])
    rerank = write_rows(tmp_path / "rerank.csv", ["query", "document", "label"], [("what is played ?", shared, 1), ("what is played ?", "The car is black.", 0)])
    tasks = [STSTask("sts", str(sts)), PairClassificationTask("pairs", str(pairs)), RerankingTask("rerank", str(rerank))]

    encoded: list[str] = []
    original_encode = tiny_model.encode

    def recording_encode(inputs, **kwargs):
        encoded.extend([inputs] if isinstance(inputs, str) else inputs)
        return original_encode(inputs, **kwargs)

    tiny_model.encode = recording_encode  # encode_query and encode_document call it too
    report = evaluate(tiny_model, tasks, tmp_path)

    distinct = {shared, "A man plays a guitar.", "The car is black.", "A dog runs.", "what is played ?"}
    assert sorted(encoded) == sorted(distinct)
    assert encoded.count(shared) == 1
    assert report["encoding"]["texts"] == len(distinct)
    assert set(report["tasks"]) == {"sts", "pairs", "rerank"}


def test_encoding_sorted_longest_first(tiny_model, tmp_path):
    rows = [("a b", "a b c d e f g", 1), ("a b c d", "a", 0), ("a b c", "a b c d e", 2)]
    path = write_rows(tmp_path / "sts.csv", ["sentence1", "sentence2", "score"], rows)
    calls: list[list[str]] = []
    original_encode = tiny_model.encode

    def recording_encode(inputs, **kwargs):
        calls.append(list(inputs))
        return original_encode(inputs, **kwargs)

    tiny_model.encode = recording_encode
    evaluate(tiny_model, [STSTask("sts", str(path))], tmp_path)

    assert len(calls) == 1
    assert [len(text) for text in calls[0]] == sorted((len(text) for text in calls[0]), reverse=True)


def test_query_prompt_keeps_roles_apart(tiny_model):
    from simtext.evaluation import EmbeddingCache

    tiny_model.prompts = {"query": "query: ", "document": ""}
    cache = EmbeddingCache(tiny_model, batch_size=4)
    text = "A man is playing the guitar."

    as_text = cache.get("text", [text])
    as_query = cache.get("query", [text])

    assert cache.roles_differ
    assert cache.encoded_count == 2
    assert torch.allclose(as_query, tiny_model.encode_query([text], convert_to_tensor=True), atol=1e-6)
    assert not torch.allclose(as_text, as_query)


def test_roles_shared_without_prompts(tiny_model):
    from simtext.evaluation import EmbeddingCache

    cache = EmbeddingCache(tiny_model, batch_size=4)
    cache.get("query", ["a dog runs"])
    cache.get("document", ["a dog runs"])

    assert not cache.roles_differ
    assert cache.encoded_count == 1


def test_token_budget_batches(tiny_model):
    from simtext.evaluation import EmbeddingCache

    texts = [" ".join(["word"] * count) for count in (1, 2, 3, 5, 8, 13, 21, 34)] + ["a", "b c", "d e f"]
    calls: list[list[str]] = []
    original_encode = tiny_model.encode

    def recording_encode(inputs, **kwargs):
        calls.append(list(inputs))
        assert kwargs["batch_size"] == len(inputs)
        return original_encode(inputs, **kwargs)

    tiny_model.encode = recording_encode
    budgeted = EmbeddingCache(tiny_model, token_budget=40).get("text", texts)
    del tiny_model.encode
    plain = EmbeddingCache(tiny_model, batch_size=4).get("text", texts)

    token_counts = [len(tiny_model.tokenizer(text)["input_ids"]) for text in texts]
    for call in calls:
        longest = max(token_counts[texts.index(text)] for text in call)
        assert len(call) == 1 or len(call) * longest <= 40, call
    assert len(calls) > 1
    assert sorted(text for call in calls for text in call) == sorted(texts)
    assert torch.allclose(budgeted, plain, atol=1e-5)
