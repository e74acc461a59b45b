"""Score models on MSRP test pair classification with sentence-transformers' `BinaryClassificationEvaluator`.

The figures are those of cosine similarity as the pair score: average
precision, and the accuracy and F1 at their best thresholds. The script
replaces a built-in `msrp-test` evaluation task until simtext has one.

    HF_HUB_OFFLINE=1 SIMTEXT_DATA_DIR=../shared/data python eval/msrp_ap.py sentence-transformers/all-MiniLM-L6-v2 runs/pairs-contrastive/model
"""

from __future__ import annotations

import argparse
import logging
import os
from pathlib import Path

from sentence_transformers.sentence_transformer.evaluation import BinaryClassificationEvaluator

import simtext
from simtext.data import Source, load_source

logger = logging.getLogger("msrp_ap")

MSRP_TEST = Source(path="msrp/test.tsv", columns={"sentence1": "#1 String", "sentence2": "#2 String", "label": "Quality"})


def msrp_test_scores(model, data_dir: Path) -> dict[str, float]:
    """Return cosine average precision, best accuracy and best F1 on MSRP test, as fractions."""
    rows = load_source(MSRP_TEST, data_dir)
    evaluator = BinaryClassificationEvaluator(
        rows["sentence1"], rows["sentence2"], rows["label"], batch_size=64, write_csv=False, similarity_fn_names=["cosine"]
    )
    results = evaluator(model)
    return {metric: results[f"cosine_{metric}"] for metric in ("ap", "accuracy", "f1")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("models", nargs="+", help="model directories or Hub ids")
    parser.add_argument("--data-dir", default=os.environ.get("SIMTEXT_DATA_DIR"), help="data directory (default: SIMTEXT_DATA_DIR)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if not args.data_dir:
        parser.error("set --data-dir or SIMTEXT_DATA_DIR")

    lines = ["| model | average precision | best accuracy | best F1 |", "|---|---|---|---|"]
    for name in args.models:
        scores = msrp_test_scores(simtext.load(name), Path(args.data_dir))
        lines.append(f"| {name} | {scores['ap']:.4f} | {scores['accuracy']:.4f} | {scores['f1']:.4f} |")
    logger.info("MSRP test, cosine similarity:\n%s", "\n".join(lines))


if __name__ == "__main__":
    main()
