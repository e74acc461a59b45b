"""Read a retrieval data set in the BEIR layout: corpus.jsonl, queries.jsonl and qrels/<split>.tsv in one folder."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from simtext.data.readers import DataError, Table, read_table
from simtext.evaluation.fields import id_value, number_value, require_columns, text_value

logger = logging.getLogger(__name__)


@dataclass
class RetrievalData:
    """Queries, documents and relevance judgments of one retrieval split.

    `queries` holds only the queries that have at least one relevant document in
    the split, in the order of queries.jsonl. `relevant` maps each of them to its
    relevant document ids, which may include ids missing from `documents`.
    """

    source: str
    queries: dict[str, str]
    documents: dict[str, str]
    relevant: dict[str, set[str]]


def read_beir(folder: str | Path, split: str = "test") -> RetrievalData:
    """Read `folder` in the BEIR layout, keeping the queries judged in `qrels/<split>.tsv`.

    A document's text is its title and text joined with a space and stripped, as BEIR's
    sentence-transformers wrapper and sentence-transformers' `InformationRetrievalEvaluator`
    examples build it. Qrels rows with score 0 or less mark a document as not relevant.
    Raises `FileNotFoundError` for a missing file and `DataError` for a bad row.
    """
    folder = Path(folder)
    for path in (folder / "corpus.jsonl", folder / "queries.jsonl", folder / "qrels" / f"{split}.tsv"):
        if not path.is_file():
            raise FileNotFoundError(
                f"BEIR file {path} not found. A BEIR folder contains corpus.jsonl, queries.jsonl and qrels/{split}.tsv."
            )

    documents = _read_documents(folder / "corpus.jsonl")
    all_queries = _read_queries(folder / "queries.jsonl")
    relevant = _read_qrels(folder / "qrels" / f"{split}.tsv")

    unknown_queries = [query_id for query_id in relevant if query_id not in all_queries]
    if unknown_queries:
        logger.warning(
            "%s: %d judged queries are missing from queries.jsonl and are not evaluated (first: %r).",
            folder, len(unknown_queries), unknown_queries[0],
        )
    unknown_documents = {doc_id for doc_ids in relevant.values() for doc_id in doc_ids if doc_id not in documents}
    if unknown_documents:
        logger.warning(
            "%s: %d relevant document ids are missing from corpus.jsonl. They still count as relevant, so recall "
            "cannot reach 1 (first: %r).",
            folder, len(unknown_documents), sorted(unknown_documents)[0],
        )

    queries = {query_id: text for query_id, text in all_queries.items() if relevant.get(query_id)}
    if not queries:
        raise DataError(str(folder / "qrels" / f"{split}.tsv"), "no judged query with a relevant document is in queries.jsonl")
    return RetrievalData(str(folder), queries, documents, relevant)


def _read_documents(path: Path) -> dict[str, str]:
    table = read_table(path, format="jsonl")
    require_columns(table, ["_id", "text"])
    documents: dict[str, str] = {}
    for index, row in enumerate(table.rows):
        doc_id = _unique_id(table, index, documents)
        title = row.get("title") or ""
        if not isinstance(title, str):
            raise table.error(index, f"expected a string title, found {title!r}", "title")
        text = row.get("text")
        if not isinstance(text, str):
            raise table.error(index, f"expected text, found {text!r}", "text")
        document = (title + " " + text).strip()
        if not document:
            raise table.error(index, "both title and text are empty; remove the document or fill in its text", "text")
        documents[doc_id] = document
    return documents


def _read_queries(path: Path) -> dict[str, str]:
    table = read_table(path, format="jsonl")
    require_columns(table, ["_id", "text"])
    queries: dict[str, str] = {}
    for index in range(len(table)):
        query_id = _unique_id(table, index, queries)
        queries[query_id] = text_value(table, index, "text")
    return queries


def _unique_id(table: Table, index: int, seen: dict[str, str]) -> str:
    item_id = id_value(table, index, "_id")
    if item_id in seen:
        raise table.error(index, f"duplicate _id {item_id!r}; every _id must be unique", "_id")
    return item_id


def _read_qrels(path: Path) -> dict[str, set[str]]:
    table = read_table(path, format="tsv")
    require_columns(table, ["query-id", "corpus-id", "score"])
    relevant: dict[str, set[str]] = {}
    for index in range(len(table)):
        query_id = id_value(table, index, "query-id")
        doc_id = id_value(table, index, "corpus-id")
        judged = relevant.setdefault(query_id, set())
        if number_value(table, index, "score") > 0:
            judged.add(doc_id)
    return relevant
