"""Fast tests of simtext.evaluation on a tiny encoder and small files written to tmp_path."""

from __future__ import annotations

import csv
import json
import math

import numpy as np
import pytest
import torch
from scipy.stats import pearsonr, spearmanr
from sentence_transformers.sentence_transformer.evaluation import InformationRetrievalEvaluator

from simtext.data.readers import DataError
from simtext.evaluation import (
    BUILTIN_TASKS,
    STSTask,
    evaluate,
    evaluate_retrieval,
    evaluate_sts,
    exact_search,
    read_beir,
    read_sts_pairs,
    retrieval_metrics,
    write_report,
)

STS_ROWS = [
    ("A man is playing the guitar.", "A man plays a guitar.", 4.8),
    ("A woman is cooking food.", "A woman cuts food in the house.", 3.2),
    ("A dog is running on the grass.", "A cat is sitting on the table.", 0.6),
    ("The boy is reading, writing and talking.", "A boy is reading.", 2.5),
    ("Two children are swimming in the water.", "Children swim near the beach.", 3.9),
    ("A man is playing the guitar.", "A woman is playing the piano.", 1.7),
    ("The old horse is eating grass.", "A young horse eats grass near the road.", 3.1),
    ("A girl in a red shirt is dancing.", "A girl in a blue shirt is singing.", 1.9),
    ("People are walking down the street.", "Many people walk through the city.", 3.6),
    ("A small dog is jumping over the ball.", "The dog jumps.", 3.3),
    ("The cell protein levels increase.", "The car is black.", 0.0),
    ("A man is riding a bike.", "A man rides a bike on the road.", 4.4),
]

CORPUS = [
    ("d01", "Cancer risk", "Patients with the gene have a high risk of cancer."),
    ("d02", "Brain cells", "The protein levels in brain cells increase with age."),
    ("d03", "Drug response", "Treatment with the drug reduced blood levels in mice."),
    ("d04", "", "A dog is running on the grass near the beach."),
    ("d05", "Music", "A man is playing the guitar and a woman the piano."),
    ("d06", "Food", "The woman is cooking food in the house."),
    ("d07", "Horses", "The old horse is eating grass near the road."),
    ("d08", "City", "Many people walk down the street of the city."),
    ("d09", "Children", "Two children are swimming in the water."),
    ("d10", "Gene expression", "Gene expression is associated with the disease."),
    ("d11", "Cars", "The black car is on the road."),
    ("d12", "Reading", "The girl is reading and writing at the table."),
]
QUERIES = [
    ("q1", "What is the cancer risk of patients?"),
    ("q2", "protein levels in brain cells"),
    ("q3", "a man playing guitar"),
    ("q4", "children swimming in water"),
    ("q5", "a horse eating grass"),
    ("q6", "This query has no judgments and is left out."),
]
QRELS = [
    ("q1", "d01", 1),
    ("q1", "d10", 1),
    ("q2", "d02", 1),
    ("q3", "d05", 1),
    ("q3", "d11", 0),
    ("q4", "d09", 1),
    ("q4", "d04", 1),
    ("q4", "d12", 1),
    ("q5", "d07", 1),
]


def write_sts_csv(path, rows, header=("sentence1", "sentence2", "score")):
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def write_beir(folder, corpus=CORPUS, queries=QUERIES, qrels=QRELS, split="test"):
    (folder / "qrels").mkdir(parents=True, exist_ok=True)
    with (folder / "corpus.jsonl").open("w", encoding="utf-8") as handle:
        for doc_id, title, text in corpus:
            handle.write(json.dumps({"_id": doc_id, "title": title, "text": text}) + "\n")
    with (folder / "queries.jsonl").open("w", encoding="utf-8") as handle:
        for query_id, text in queries:
            handle.write(json.dumps({"_id": query_id, "text": text}) + "\n")
    lines = ["query-id\tcorpus-id\tscore"] + [f"{query_id}\t{doc_id}\t{score}" for query_id, doc_id, score in qrels]
    (folder / "qrels" / f"{split}.tsv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return folder


@pytest.fixture
def builtin_layout(tmp_path):
    """A data directory with small stand-ins for stsb/test.csv, sick/trial.tsv and scifact/."""
    write_sts_csv(tmp_path / "stsb" / "test.csv", STS_ROWS)
    sick_lines = ["pair_ID\tsentence_A\tsentence_B\trelatedness_score\tentailment_judgment"]
    for index, (first, second, score) in enumerate(STS_ROWS):
        sick_lines.append(f"{index}\t{first}\t{second}\t{1 + score * 0.8:.1f}\tNEUTRAL")
    (tmp_path / "sick").mkdir()
    (tmp_path / "sick" / "trial.tsv").write_text("\n".join(sick_lines) + "\n", encoding="utf-8")
    write_beir(tmp_path / "scifact")
    return tmp_path


# STS


def test_sts_matches_direct_scipy(tiny_model, tmp_path):
    pairs = read_sts_pairs(write_sts_csv(tmp_path / "sts.csv", STS_ROWS))
    metrics = evaluate_sts(tiny_model, pairs, batch_size=4)

    first = tiny_model.encode([row[0] for row in STS_ROWS], convert_to_numpy=True).astype(np.float64)
    second = tiny_model.encode([row[1] for row in STS_ROWS], convert_to_numpy=True).astype(np.float64)
    cosine = (first * second).sum(axis=1) / (np.linalg.norm(first, axis=1) * np.linalg.norm(second, axis=1))
    gold = [row[2] for row in STS_ROWS]

    assert metrics["spearman"] == pytest.approx(spearmanr(gold, cosine).statistic, abs=1e-6)
    assert metrics["pearson"] == pytest.approx(pearsonr(gold, cosine).statistic, abs=1e-6)


def test_sts_encodes_each_sentence_once(tiny_model, tmp_path):
    pairs = read_sts_pairs(write_sts_csv(tmp_path / "sts.csv", STS_ROWS))
    encoded: list[str] = []
    original_encode = tiny_model.encode

    def recording_encode(texts, **kwargs):
        encoded.extend(texts)
        return original_encode(texts, **kwargs)

    tiny_model.encode = recording_encode
    evaluate_sts(tiny_model, pairs)

    distinct = {text for row in STS_ROWS for text in row[:2]}
    assert len(distinct) < 2 * len(STS_ROWS)
    assert sorted(encoded) == sorted(distinct)


def test_sts_reads_quoted_commas(tmp_path):
    pairs = read_sts_pairs(write_sts_csv(tmp_path / "sts.csv", STS_ROWS))
    assert len(pairs) == len(STS_ROWS)
    assert pairs.sentences1[3] == "The boy is reading, writing and talking."
    assert pairs.scores[0] == 4.8


# Retrieval metrics and search


def test_retrieval_metrics_by_hand():
    rankings = [["d2", "d1", "d4", "d3"], ["d1", "d2"], ["d7"]]
    relevant = [{"d1", "d3"}, {"d9"}, {"d7"}]
    metrics = retrieval_metrics(rankings, relevant)

    # Query 1 finds its 2 relevant documents at ranks 2 and 4, query 2 finds none, and query 3 finds its one at rank 1.
    ndcg_1 = (1 / math.log2(3) + 1 / math.log2(5)) / (1 + 1 / math.log2(3))
    assert metrics["ndcg@10"] == pytest.approx((ndcg_1 + 0 + 1) / 3)
    assert metrics["mrr@10"] == pytest.approx((1 / 2 + 0 + 1) / 3)
    assert metrics["recall@1"] == pytest.approx((0 + 0 + 1) / 3)
    assert metrics["recall@10"] == pytest.approx((1 + 0 + 1) / 3)
    assert metrics["recall@100"] == pytest.approx((1 + 0 + 1) / 3)
    assert metrics["map@100"] == pytest.approx(((1 / 2 + 2 / 4) / 2 + 0 + 1) / 3)


def test_retrieval_metrics_cutoffs():
    # One relevant document at rank 11: outside nDCG@10, MRR@10 and Recall@10, inside the @100 metrics.
    ranking = [f"n{rank}" for rank in range(1, 11)] + ["hit"]
    metrics = retrieval_metrics([ranking], [{"hit"}])

    assert metrics["ndcg@10"] == 0.0
    assert metrics["mrr@10"] == 0.0
    assert metrics["recall@10"] == 0.0
    assert metrics["recall@100"] == 1.0
    assert metrics["map@100"] == pytest.approx(1 / 11)


def _reference_top_k(queries, documents, k):
    scores = torch.nn.functional.normalize(queries, dim=-1) @ torch.nn.functional.normalize(documents, dim=-1).T
    indices = []
    for row in scores.tolist():
        indices.append(sorted(range(len(row)), key=lambda index: (-row[index], index))[:k])
    return torch.tensor(indices)


@pytest.mark.parametrize("chunk_size", [1, 7, 40, 1000])
def test_exact_search_chunks_match_full_sort(chunk_size):
    generator = torch.Generator().manual_seed(0)
    documents = torch.randn(103, 8, generator=generator)
    # Exact ties across chunk borders: copies, and a scaled copy that has the same cosine.
    documents[50] = documents[3]
    documents[90] = documents[3] * 2.5
    documents[60:70] = documents[10]
    queries = torch.cat([torch.randn(4, 8, generator=generator), documents[3:4], documents[10:11]])

    scores, indices = exact_search(queries, documents, k=10, chunk_size=chunk_size)
    _, full_indices = exact_search(queries, documents, k=10, chunk_size=len(documents))

    assert scores.shape == (6, 10)
    assert torch.equal(indices, _reference_top_k(queries, documents, 10))
    assert torch.equal(indices, full_indices)
    assert torch.all(scores[:, :-1] >= scores[:, 1:])


def test_exact_search_caps_k_at_corpus_size():
    documents = torch.randn(5, 4)
    scores, indices = exact_search(documents[:2], documents, k=100, chunk_size=2)

    assert indices.shape == (2, 5)
    assert indices[0, 0].item() == 0
    assert scores[0, 0].item() == pytest.approx(1.0)


def test_exact_search_rejects_bad_arguments():
    with pytest.raises(ValueError, match="k=0"):
        exact_search(torch.randn(2, 4), torch.randn(5, 4), k=0)
    with pytest.raises(ValueError, match="chunk_size=0"):
        exact_search(torch.randn(2, 4), torch.randn(5, 4), k=3, chunk_size=0)


def test_retrieval_matches_st_evaluator(tiny_model, tmp_path):
    data = read_beir(write_beir(tmp_path / "beir"))
    metrics = evaluate_retrieval(tiny_model, data, batch_size=64, chunk_size=5)

    evaluator = InformationRetrievalEvaluator(
        data.queries,
        data.documents,
        data.relevant,
        mrr_at_k=[10],
        ndcg_at_k=[10],
        accuracy_at_k=[1],
        precision_recall_at_k=[1, 10, 100],
        map_at_k=[100],
        batch_size=64,
        write_csv=False,
    )
    expected = evaluator(tiny_model)

    for metric in ("ndcg@10", "mrr@10", "recall@1", "recall@10", "recall@100", "map@100"):
        assert metrics[metric] == pytest.approx(expected[f"cosine_{metric}"], abs=1e-6), metric


def test_beir_reading(tmp_path):
    data = read_beir(write_beir(tmp_path / "beir"))

    assert list(data.queries) == ["q1", "q2", "q3", "q4", "q5"]
    assert data.relevant["q3"] == {"d05"}
    assert data.relevant["q4"] == {"d09", "d04", "d12"}
    assert data.documents["d01"] == "Cancer risk Patients with the gene have a high risk of cancer."
    assert data.documents["d04"] == "A dog is running on the grass near the beach."


# Input errors


def test_unknown_task_lists_known_tasks(tiny_model, tmp_path):
    with pytest.raises(ValueError, match="Unknown evaluation task 'stsb-tset'") as error:
        evaluate(tiny_model, ["stsb-tset"], tmp_path)
    for name in BUILTIN_TASKS:
        assert name in str(error.value)


def test_missing_file_names_path_and_fix(tiny_model, tmp_path):
    with pytest.raises(FileNotFoundError) as error:
        evaluate(tiny_model, ["stsb-test"], tmp_path)
    message = str(error.value)
    assert str(tmp_path / "stsb" / "test.csv") in message
    assert "--data-dir" in message
    assert "SIMTEXT_DATA_DIR" in message


def test_missing_beir_file_names_path(tiny_model, tmp_path):
    write_beir(tmp_path / "scifact")
    (tmp_path / "scifact" / "qrels" / "test.tsv").unlink()
    with pytest.raises(FileNotFoundError, match="qrels/test.tsv"):
        evaluate(tiny_model, ["scifact-test"], tmp_path)


def test_missing_data_dir_names_variable(tiny_model, monkeypatch):
    monkeypatch.delenv("SIMTEXT_DATA_DIR", raising=False)
    with pytest.raises(ValueError, match="SIMTEXT_DATA_DIR"):
        evaluate(tiny_model, ["stsb-test"])


def test_nonexistent_data_dir(tiny_model, tmp_path):
    with pytest.raises(FileNotFoundError, match="not-there"):
        evaluate(tiny_model, ["stsb-test"], tmp_path / "not-there")


def test_empty_sentence_names_line_and_column(tmp_path):
    rows = STS_ROWS[:2] + [("A man is eating.", "  ", 2.0)] + STS_ROWS[2:]
    path = write_sts_csv(tmp_path / "sts.csv", rows)
    with pytest.raises(DataError, match=r"line 4, column 'sentence2': the text is empty") as error:
        read_sts_pairs(path)
    assert str(path) in str(error.value)


def test_non_numeric_score_names_line_and_column(tmp_path):
    rows = STS_ROWS[:4] + [("A man is eating.", "A man eats.", "high")] + STS_ROWS[4:]
    path = write_sts_csv(tmp_path / "sts.csv", rows)
    with pytest.raises(DataError, match=r"line 6, column 'score': expected a finite number, found 'high'"):
        read_sts_pairs(path)


def test_missing_column_names_columns(tmp_path):
    path = write_sts_csv(tmp_path / "sts.csv", STS_ROWS, header=("sentence1", "sentence2", "label"))
    with pytest.raises(DataError, match="missing column\\(s\\) 'score'"):
        read_sts_pairs(path)


def test_constant_gold_scores_rejected(tmp_path):
    rows = [(first, second, 3.0) for first, second, _ in STS_ROWS]
    with pytest.raises(DataError, match="correlation is undefined"):
        read_sts_pairs(write_sts_csv(tmp_path / "sts.csv", rows))


def test_beir_empty_query_names_line(tmp_path):
    queries = QUERIES[:2] + [("q3", "")] + QUERIES[3:]
    folder = write_beir(tmp_path / "beir", queries=queries)
    with pytest.raises(DataError, match=r"queries.jsonl, line 3, column 'text': the text is empty"):
        read_beir(folder)


def test_beir_duplicate_document_id(tmp_path):
    folder = write_beir(tmp_path / "beir", corpus=CORPUS + [("d03", "Again", "A second d03.")])
    with pytest.raises(DataError, match=r"corpus.jsonl, line 13, column '_id': duplicate _id 'd03'"):
        read_beir(folder)


def test_beir_non_numeric_qrels_score(tmp_path):
    folder = write_beir(tmp_path / "beir", qrels=QRELS + [("q5", "d08", "yes")])
    with pytest.raises(DataError, match=r"test.tsv, line 11, column 'score'"):
        read_beir(folder)


def test_bad_data_fails_before_encoding(make_tiny_model, builtin_layout):
    (builtin_layout / "scifact" / "queries.jsonl").write_text('{"_id": "q1"}\n', encoding="utf-8")
    model = make_tiny_model()

    def failing_encode(*args, **kwargs):
        raise AssertionError("encode was called before all task data was checked")

    model.encode = failing_encode
    with pytest.raises(DataError, match="missing column"):
        evaluate(model, ["stsb-test", "scifact-test"], builtin_layout)


# Report


def test_report_files(tiny_model, builtin_layout, tmp_path):
    tiny_model.train()
    report = evaluate(tiny_model, ["stsb-test", "sick-trial", "scifact-test"], builtin_layout, batch_size=8)
    json_path, markdown_path = write_report(report, tmp_path / "run" / "eval")

    assert tiny_model.training
    assert json_path == tmp_path / "run" / "eval" / "report.json"
    saved = json.loads(json_path.read_text(encoding="utf-8"))
    assert set(saved["tasks"]) == {"stsb-test", "sick-trial", "scifact-test"}
    assert set(saved["tasks"]["stsb-test"]) == {"spearman", "pearson"}
    assert set(saved["tasks"]["scifact-test"]) == {"ndcg@10", "mrr@10", "recall@1", "recall@10", "recall@100", "map@100"}
    for task, metrics in saved["tasks"].items():
        for metric, value in metrics.items():
            assert isinstance(value, float), (task, metric)
            assert -1.0 <= value <= 1.0, (task, metric)
    assert saved["tasks"]["scifact-test"]["recall@100"] == 1.0
    assert saved["details"]["stsb-test"]["pairs"] == len(STS_ROWS)
    assert saved["details"]["scifact-test"]["queries"] == 5
    assert saved["details"]["scifact-test"]["documents"] == len(CORPUS)

    markdown = markdown_path.read_text(encoding="utf-8")
    spearman = saved["tasks"]["stsb-test"]["spearman"]
    assert f"| stsb-test | spearman | {100 * spearman:.2f} |" in markdown
    assert "| scifact-test | ndcg@10 |" in markdown


def test_custom_task_object(tiny_model, tmp_path):
    path = write_sts_csv(tmp_path / "mine.csv", STS_ROWS, header=("a", "b", "gold"))
    task = STSTask("my-sts", str(path), "a", "b", "gold")
    report = evaluate(tiny_model, [task], model_name="tiny")

    assert report["model"] == "tiny"
    assert set(report["tasks"]["my-sts"]) == {"spearman", "pearson"}


def test_report_json_writes_nan_as_null(tmp_path):
    from simtext.evaluation import write_report

    report = {"model": "m", "tasks": {"stsb-test": {"spearman": float("nan"), "pearson": 0.5}}}
    json_path, _ = write_report(report, tmp_path)
    text = json_path.read_text()
    assert "NaN" not in text
    assert json.loads(text)["tasks"]["stsb-test"]["spearman"] is None
