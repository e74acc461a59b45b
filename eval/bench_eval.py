"""Evaluate all-MiniLM-L6-v2 on eval/suites/all.yaml with simtext and with sentence-transformers' evaluators, in one run.

simtext runs the suite's six tasks in one `evaluate` call, which encodes each distinct
text once. sentence-transformers runs its four evaluators one after the other
(`EmbeddingSimilarityEvaluator` for STS-B test and SICK trial,
`InformationRetrievalEvaluator` for SciFact test, `BinaryClassificationEvaluator` for
MSRP test and PAWS dev, `RerankingEvaluator` for TREC QA test), each encoding its own
texts. Both sides get their own copy of the model, loaded before the clock starts;
the times include reading the files. The script counts the texts each side sends to
the encoder and checks that the figures agree. With `--report-dir`, simtext's report
is written too (after the clock stops), to serve as the baseline of a later `simtext eval`.

    HF_HUB_OFFLINE=1 SIMTEXT_DATA_DIR=../shared/data python eval/bench_eval.py --output eval/results/bench_eval.md
"""

from __future__ import annotations

import argparse
import csv
import json
import logging
import os
import time
from pathlib import Path

from sentence_transformers.sentence_transformer.evaluation import (
    BinaryClassificationEvaluator,
    EmbeddingSimilarityEvaluator,
    InformationRetrievalEvaluator,
    RerankingEvaluator,
)

import simtext
from simtext.evaluation import evaluate, load_suite, write_outputs
from simtext.evaluation.tasks import resolve_data_dir
from bench_machine import describe_machine

logger = logging.getLogger("bench_eval")
ROOT = Path(__file__).resolve().parent.parent
MODEL = "sentence-transformers/all-MiniLM-L6-v2"
BATCH_SIZE = 64

# simtext metric name: sentence-transformers metric key, per task.
METRIC_KEYS = {
    "stsb-test": {"spearman": "stsb-test_spearman_cosine", "pearson": "stsb-test_pearson_cosine"},
    "sick-trial": {"spearman": "sick-trial_spearman_cosine", "pearson": "sick-trial_pearson_cosine"},
    "scifact-test": {
        metric: f"scifact-test_cosine_{metric}"
        for metric in ("ndcg@10", "mrr@10", "recall@1", "recall@10", "recall@100", "map@100")
    },
    "msrp-test": {metric: f"msrp-test_cosine_{metric}" for metric in ("ap", "accuracy", "f1")},
    "paws-dev": {metric: f"paws-dev_cosine_{metric}" for metric in ("ap", "accuracy", "f1")},
    "trecqa-test": {"map": "trecqa-test_map", "mrr@10": "trecqa-test_mrr@10"},
}


def count_encoded(model) -> list[int]:
    """Make `model.encode` count the texts it receives; return the one-element counter list."""
    counter = [0]
    original_encode = model.encode

    # encode_query and encode_document pass the texts as the keyword argument `inputs`.
    def counting_encode(inputs, **kwargs):
        counter[0] += 1 if isinstance(inputs, str) else len(inputs)
        return original_encode(inputs, **kwargs)

    model.encode = counting_encode  # encode_query and encode_document call it too
    return counter


def read_rows(path: Path, delimiter: str = ",", quoting: int = csv.QUOTE_MINIMAL) -> list[dict]:
    with path.open(newline="", encoding="utf-8-sig") as handle:
        return list(csv.DictReader(handle, delimiter=delimiter, quoting=quoting))


def sentence_transformers_evaluators(data_dir: Path) -> list:
    """Build the four kinds of evaluator over the six tasks, reading the files as a user of sentence-transformers would."""
    evaluators = []
    for name, path, columns in (
        ("stsb-test", data_dir / "stsb" / "test.csv", ("sentence1", "sentence2", "score")),
        ("sick-trial", data_dir / "sick" / "trial.tsv", ("sentence_A", "sentence_B", "relatedness_score")),
    ):
        tsv = path.suffix == ".tsv"
        rows = read_rows(path, "\t" if tsv else ",", csv.QUOTE_NONE if tsv else csv.QUOTE_MINIMAL)
        evaluators.append(EmbeddingSimilarityEvaluator(
            [row[columns[0]] for row in rows], [row[columns[1]] for row in rows], [float(row[columns[2]]) for row in rows],
            batch_size=BATCH_SIZE, similarity_fn_names=["cosine"], name=name, write_csv=False,
        ))

    folder = data_dir / "scifact"
    with (folder / "corpus.jsonl").open(encoding="utf-8") as handle:
        corpus = {doc["_id"]: (doc["title"] + " " + doc["text"]).strip() for doc in map(json.loads, handle)}
    with (folder / "queries.jsonl").open(encoding="utf-8") as handle:
        queries = {query["_id"]: query["text"] for query in map(json.loads, handle)}
    relevant: dict[str, set[str]] = {}
    for row in read_rows(folder / "qrels" / "test.tsv", "\t"):
        if int(row["score"]) > 0:
            relevant.setdefault(row["query-id"], set()).add(row["corpus-id"])
    evaluators.append(InformationRetrievalEvaluator(
        {query_id: queries[query_id] for query_id in relevant}, corpus, relevant,
        mrr_at_k=[10], ndcg_at_k=[10], accuracy_at_k=[1], precision_recall_at_k=[1, 10, 100], map_at_k=[100],
        batch_size=BATCH_SIZE, name="scifact-test", write_csv=False,
    ))

    for name, path, columns in (
        ("msrp-test", data_dir / "msrp" / "test.tsv", ("#1 String", "#2 String", "Quality")),
        ("paws-dev", data_dir / "paws" / "dev.tsv", ("sentence1", "sentence2", "label")),
    ):
        rows = read_rows(path, "\t", csv.QUOTE_NONE)
        evaluators.append(BinaryClassificationEvaluator(
            [row[columns[0]] for row in rows], [row[columns[1]] for row in rows], [int(row[columns[2]]) for row in rows],
            batch_size=BATCH_SIZE, similarity_fn_names=["cosine"], name=name, write_csv=False,
        ))

    samples: dict[str, dict] = {}
    for row in read_rows(data_dir / "trecqa" / "test.csv"):
        sample = samples.setdefault(row["qtext"], {"query": row["qtext"], "positive": [], "negative": []})
        sample["positive" if int(row["label"]) > 0 else "negative"].append(row["atext"])
    evaluators.append(RerankingEvaluator(list(samples.values()), at_k=10, batch_size=BATCH_SIZE, name="trecqa-test", write_csv=False))
    return evaluators


def run_simtext(data_dir: Path, report_dir: Path | None) -> dict:
    model = simtext.load(MODEL)
    counter = count_encoded(model)
    start = time.perf_counter()
    report = evaluate(
        model, load_suite(ROOT / "eval" / "suites" / "all.yaml"), data_dir, batch_size=BATCH_SIZE, show_progress_bar=False, model_name=MODEL
    )
    seconds = time.perf_counter() - start
    logger.info("simtext: %d texts encoded in %.0f s", counter[0], seconds)
    if report_dir is not None:
        write_outputs(report, report_dir)
    return {"seconds": seconds, "texts": counter[0], "figures": report["tasks"]}


def run_sentence_transformers(data_dir: Path) -> dict:
    model = simtext.load(MODEL)
    counter = count_encoded(model)
    start = time.perf_counter()
    figures: dict = {}
    for evaluator in sentence_transformers_evaluators(data_dir):
        figures.update(evaluator(model))
    seconds = time.perf_counter() - start
    logger.info("sentence-transformers: %d texts encoded in %.0f s", counter[0], seconds)
    return {"seconds": seconds, "texts": counter[0], "figures": figures}


def format_table(simtext_run: dict, st_run: dict, command: str) -> str:
    lines = [
        "| implementation | texts sent to the encoder | time (s) |",
        "|---|---:|---:|",
        f"| sentence-transformers 4 evaluators | {st_run['texts']:,} | {st_run['seconds']:.0f} |",
        f"| simtext eval, all.yaml | {simtext_run['texts']:,} | {simtext_run['seconds']:.0f} |",
        "",
        f"sentence-transformers / simtext time: **{st_run['seconds'] / simtext_run['seconds']:.2f}**",
        "",
        "| task | metric | simtext | sentence-transformers | difference |",
        "|---|---|---:|---:|---:|",
    ]
    largest = 0.0
    for task, keys in METRIC_KEYS.items():
        for metric, key in keys.items():
            ours, theirs = simtext_run["figures"][task][metric], float(st_run["figures"][key])
            largest = max(largest, abs(ours - theirs))
            lines.append(f"| {task} | {metric} | {ours:.4f} | {theirs:.4f} | {ours - theirs:+.1e} |")
    lines += [
        "",
        f"Largest difference: {largest:.1e}",
        "",
        f"Command: `{command}`",
        describe_machine(),
    ]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", help="benchmark data folder (default: SIMTEXT_DATA_DIR)")
    parser.add_argument("--output", default=str(ROOT / "eval" / "results" / "bench_eval.md"), help="Markdown file for the results table")
    parser.add_argument("--report-dir", help="also write simtext's report.json, report.md and plots here, for use as a --baseline")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    data_dir = resolve_data_dir(args.data_dir)
    if data_dir is None:
        parser.error("set --data-dir or SIMTEXT_DATA_DIR to the benchmark data folder")
    simtext_run = run_simtext(data_dir, Path(args.report_dir) if args.report_dir else None)
    st_run = run_sentence_transformers(data_dir)

    command = "HF_HUB_OFFLINE=1 SIMTEXT_DATA_DIR=DATA python eval/bench_eval.py --output eval/results/bench_eval.md"
    table = format_table(simtext_run, st_run, command)
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    Path(args.output).write_text(table, encoding="utf-8")
    logger.info("Wrote %s\n%s", args.output, table)


if __name__ == "__main__":
    main()
