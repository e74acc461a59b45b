"""Train the STS-B CoSENT recipe with sentence-transformers' trainer and with simtext, in one run, and compare.

Both trainers get the same model and the graded STS-B train pairs in plain
shuffled batches. They also share the loss (CoSENT, scale 20), batch size,
learning rate, warmup, weight decay, gradient clipping, seed and one epoch.
Both models are scored with sentence-transformers' `EmbeddingSimilarityEvaluator`
on the STS-B test set. Training time excludes model loading and evaluation.

    HF_HUB_OFFLINE=1 SIMTEXT_DATA_DIR=../shared/data python eval/bench_cosent.py --output eval/results/bench_cosent.md
"""

from __future__ import annotations

from pathlib import Path

from sentence_transformers import SentenceTransformerTrainer
from sentence_transformers.base.sampler import BatchSamplers
from sentence_transformers.sentence_transformer.losses import CoSENTLoss

import simtext
from bench_train import run_benchmark, train_and_score, training_arguments
from simtext.data import load_training_data


def run_sentence_transformers(recipe, data_dir: Path, work_dir: Path) -> dict:
    datasets = load_training_data(recipe.data.train, data_dir)
    if len(datasets) != 1:
        raise ValueError(f"the benchmark trains on one dataset, but the recipe names {len(datasets)}: {list(datasets)}")
    dataset = next(iter(datasets.values()))  # columns sentence1, sentence2, score; the trainer reads score as the label
    model = simtext.load(recipe.model)
    if recipe.training.max_seq_length is not None:
        model.max_seq_length = recipe.training.max_seq_length
    args = training_arguments(recipe, work_dir, batch_sampler=BatchSamplers.BATCH_SAMPLER)
    loss = CoSENTLoss(model, scale=recipe.loss.scale)
    trainer = SentenceTransformerTrainer(model=model, args=args, train_dataset=dataset, loss=loss)
    return train_and_score(trainer, recipe, len(dataset), data_dir)


if __name__ == "__main__":
    run_benchmark(__doc__, "stsb-cosent", "bench_cosent.py", run_sentence_transformers, loss_name="cosent")
