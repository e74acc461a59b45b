"""Evaluate sentence-embedding models on similarity (STS) and retrieval tasks, and write reports.

`evaluate(model, ["stsb-test", "scifact-test"], data_dir)` returns a report whose
figures are fractions, and `write_report(report, output_dir)` saves it as JSON and Markdown.
"""

from simtext.evaluation.beir import RetrievalData, read_beir
from simtext.evaluation.report import format_markdown, write_report
from simtext.evaluation.retrieval import evaluate_retrieval, retrieval_metrics
from simtext.evaluation.runner import evaluate
from simtext.evaluation.search import exact_search
from simtext.evaluation.sts import STSPairs, evaluate_sts, read_sts_pairs, sts_metrics
from simtext.evaluation.tasks import BUILTIN_TASKS, RetrievalTask, STSTask, get_task

__all__ = [
    "BUILTIN_TASKS",
    "RetrievalData",
    "RetrievalTask",
    "STSPairs",
    "STSTask",
    "evaluate",
    "evaluate_retrieval",
    "evaluate_sts",
    "exact_search",
    "format_markdown",
    "get_task",
    "read_beir",
    "read_sts_pairs",
    "retrieval_metrics",
    "sts_metrics",
    "write_report",
]
