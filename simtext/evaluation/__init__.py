"""Evaluate sentence-embedding models on STS, retrieval, pair-classification and reranking tasks, and write reports.

`evaluate(model, ["stsb-test", "scifact-test"], data_dir)` returns a report whose
figures are fractions, `evaluate_models(["model-a", "model-b"], suite="eval/suites/all.yaml")`
compares models side by side, and `write_outputs(report, output_dir)` saves the
report as JSON and Markdown together with its plots.
"""

from simtext.evaluation.beir import RetrievalData, read_beir
from simtext.evaluation.compare import evaluate_models, write_outputs
from simtext.evaluation.encoding import EmbeddingCache
from simtext.evaluation.pairs import LabelledPairs, evaluate_pairs, pair_classification_metrics, read_labelled_pairs
from simtext.evaluation.report import format_markdown, read_report, write_report
from simtext.evaluation.reranking import RerankingData, evaluate_reranking, read_reranking, reranking_metrics
from simtext.evaluation.retrieval import evaluate_retrieval, retrieval_metrics
from simtext.evaluation.runner import evaluate
from simtext.evaluation.search import exact_search
from simtext.evaluation.sts import STSPairs, evaluate_sts, read_sts_pairs, sts_metrics
from simtext.evaluation.suites import SuiteError, load_suite
from simtext.evaluation.tasks import (
    BUILTIN_TASKS,
    PairClassificationTask,
    RerankingTask,
    RetrievalTask,
    STSTask,
    get_task,
    metric_names,
)

__all__ = [
    "BUILTIN_TASKS",
    "EmbeddingCache",
    "LabelledPairs",
    "PairClassificationTask",
    "RerankingData",
    "RerankingTask",
    "RetrievalData",
    "RetrievalTask",
    "STSPairs",
    "STSTask",
    "SuiteError",
    "evaluate",
    "evaluate_models",
    "evaluate_pairs",
    "evaluate_reranking",
    "evaluate_retrieval",
    "evaluate_sts",
    "exact_search",
    "format_markdown",
    "get_task",
    "load_suite",
    "metric_names",
    "pair_classification_metrics",
    "read_beir",
    "read_labelled_pairs",
    "read_report",
    "read_reranking",
    "read_sts_pairs",
    "reranking_metrics",
    "retrieval_metrics",
    "sts_metrics",
    "write_outputs",
    "write_report",
]
