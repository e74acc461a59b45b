"""Suite files: the shipped suites load, task definitions become task objects, and mistakes name file, field and fix."""

from __future__ import annotations

from pathlib import Path

import pytest

from simtext.evaluation import (
    BUILTIN_TASKS,
    PairClassificationTask,
    RerankingTask,
    RetrievalTask,
    STSTask,
    SuiteError,
    load_suite,
)

SUITES = Path(__file__).resolve().parent.parent / "eval" / "suites"


def write_suite(tmp_path, text):
    path = tmp_path / "suite.yaml"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize("name", ["sts", "retrieval", "pairs", "rerank", "all"])
def test_shipped_suite_loads(name):
    tasks = load_suite(SUITES / f"{name}.yaml")
    assert tasks


def test_shipped_suites_cover_data_layout():
    kinds = {task.name: task.kind for name in ("sts", "retrieval", "pairs", "rerank") for task in load_suite(SUITES / f"{name}.yaml")}

    assert kinds == {
        "stsb-test": "sts",
        "sick-trial": "sts",
        "scifact-test": "retrieval",
        "msrp-test": "pair-classification",
        "paws-dev": "pair-classification",
        "trecqa-test": "reranking",
    }
    assert [task.name for task in load_suite(SUITES / "all.yaml")] == list(kinds)


def test_shipped_suites_read_the_same_files_as_builtins():
    for name in ("sts", "retrieval", "pairs", "rerank"):
        for task in load_suite(SUITES / f"{name}.yaml"):
            builtin = BUILTIN_TASKS[task.name]
            assert getattr(task, "path", getattr(task, "folder", None)) == getattr(builtin, "path", getattr(builtin, "folder", None))


def test_suite_task_definitions(tmp_path):
    path = write_suite(
        tmp_path,
        """
description: mine
tasks:
  - stsb-test
  - name: my-sts
    kind: sts
    path: mine/sts.tsv
    columns: {sentence1: a, sentence2: b, score: gold}
    similarity: [dot, euclidean]
  - name: my-pairs
    kind: pair-classification
    path: /abs/pairs.csv
    columns: {label: is_paraphrase}
    quoting: false
  - name: my-rerank
    kind: reranking
    path: qa.jsonl
    columns: {query: question, document: answer}
  - name: my-beir
    kind: retrieval
    path: beir/nfcorpus
    split: dev
    search: faiss
""",
    )
    tasks = load_suite(path)

    assert tasks[0] is BUILTIN_TASKS["stsb-test"]
    assert tasks[1] == STSTask("my-sts", "mine/sts.tsv", "a", "b", "gold", ("cosine", "dot", "euclidean"))
    assert tasks[2] == PairClassificationTask("my-pairs", "/abs/pairs.csv", label_column="is_paraphrase", quoting=False)
    assert tasks[3] == RerankingTask("my-rerank", "qa.jsonl", "question", "answer")
    assert tasks[4] == RetrievalTask("my-beir", "beir/nfcorpus", "dev", "faiss")


@pytest.mark.parametrize(
    "text, field, hint",
    [
        ("tasks: [stsb-tset]", "tasks[0]", "did you mean 'stsb-test'"),
        ("tasks: []", "tasks", "non-empty list"),
        ("task: [stsb-test]", "task", "only `description` and `tasks`"),
        ("tasks:\n  - {name: x, path: a.csv}", "tasks[0].kind", "missing; set it to one of sts"),
        ("tasks:\n  - {name: x, kind: nli, path: a.csv}", "tasks[0].kind", "found 'nli'"),
        ("tasks:\n  - {name: x, kind: sts}", "tasks[0].path", "expected a non-empty string"),
        ("tasks:\n  - {name: x, kind: sts, path: a.csv, split: dev}", "tasks[0].split", "unknown field for kind sts"),
        ("tasks:\n  - {name: x, kind: sts, path: a.csv, columns: {label: y}}", "tasks[0].columns.label", "use sentence1, sentence2, score"),
        ("tasks:\n  - {name: x, kind: sts, path: a.csv, similarity: [manhattan]}", "tasks[0].similarity", "use cosine, dot, euclidean"),
        ("tasks:\n  - {name: x, kind: retrieval, path: d, search: annoy}", "tasks[0].search", "expected exact or faiss"),
        ("tasks:\n  - {name: x, kind: reranking, path: a.csv, quoting: maybe}", "tasks[0].quoting", "expected true or false"),
        ("tasks:\n  - stsb-test\n  - stsb-test", "tasks[1].name", "used twice"),
        ("tasks: [stsb-test", "file", "invalid YAML"),
    ],
)
def test_suite_error_names_file_field_and_fix(tmp_path, text, field, hint):
    path = write_suite(tmp_path, text)

    with pytest.raises(SuiteError) as error:
        load_suite(path)
    message = str(error.value)
    assert message.startswith(f"{path}: {field}: "), message
    assert hint in message


def test_missing_suite_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="Suite file .*absent.yaml not found"):
        load_suite(tmp_path / "absent.yaml")
