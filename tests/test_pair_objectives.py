"""Pair objectives (contrastive, online contrastive, CoSENT): recipe fields, label mapping, steps and training."""

from __future__ import annotations

import copy
import json
import logging
from pathlib import Path

import pytest
import torch
import yaml
from accelerate import Accelerator
from datasets import Dataset

import simtext
from simtext.data import DataError, Source, load_source, load_training_data, plan_epoch
from simtext.training import run_recipe
from simtext.training.loop import batch_texts
from simtext.training.objectives import build_objective
from simtext.training.recipe import LossConfig, RecipeError, load_recipe, recipe_from_dict
from simtext.training.steps import cached_step, direct_step

RECIPES = Path(__file__).resolve().parent.parent / "recipes"

LABELLED = {
    "data": {
        "train": {
            "pairs": [
                {
                    "path": "pairs.tsv",
                    "columns": {"sentence1": "a", "sentence2": "b", "label": "judgment"},
                    "labels": {"ENTAILMENT": 1, "CONTRADICTION": 0},
                }
            ]
        }
    },
    "loss": {"name": "online_contrastive"},
}


def labelled_recipe(**loss) -> dict:
    raw = copy.deepcopy(LABELLED)
    raw["loss"].update(loss)
    return raw


# Recipe fields


def test_contrastive_recipe_fills_defaults():
    recipe = recipe_from_dict(labelled_recipe())

    assert recipe.loss.margin == 0.5
    assert recipe.loss.distance == "cosine"
    assert recipe.data.train["pairs"][0].labels == {"ENTAILMENT": 1, "CONTRADICTION": 0}


def test_cosent_recipe_has_no_margin():
    recipe = recipe_from_dict(labelled_recipe(name="cosent", scale=10))

    assert recipe.loss.margin is None
    assert recipe.loss.distance is None
    assert recipe.loss.scale == 10.0


@pytest.mark.parametrize(
    ("loss", "expected"),
    [
        ({"margin": 0}, "loss.margin: must be positive, got 0"),
        ({"margin": "wide"}, "loss.margin: expected float, found str 'wide'"),
        ({"distance": "manhattan"}, "loss.distance: invalid value 'manhattan'; use one of: cosine, euclidean"),
        ({"name": "cosent", "margin": 0.3}, "loss.margin: loss 'cosent' takes no margin"),
        ({"name": "infonce", "distance": "cosine"}, "loss.distance: loss 'infonce' takes no distance"),
        ({"name": "cosent", "symmetric": True}, "loss.symmetric: loss 'cosent' has no symmetric form"),
        ({"name": "contrastive", "memory": {"size": 8}}, "loss.memory: loss 'contrastive' takes no memory queue"),
        ({"name": "triplet"}, "loss.name: unknown loss 'triplet'; use one of: infonce, contrastive, online_contrastive, cosent"),
    ],
)
def test_bad_loss_options_name_field(loss, expected):
    with pytest.raises(RecipeError) as caught:
        recipe_from_dict(labelled_recipe(**loss))

    assert expected in str(caught.value)


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"labels": {}}, "data.train.pairs[0].labels: `labels` is empty"),
        ({"labels": {"ENTAILMENT": "yes"}}, "data.train.pairs[0].labels.ENTAILMENT: expected int, found str 'yes'"),
        ({"columns": {"anchor": "a", "positive": "b"}}, "data.train.pairs[0].labels: `labels` maps the values of the `label` column, but `columns` maps no `label`"),
        ({"columns": {}, "nli_triplets": {}}, "data.train.pairs[0].labels: `labels` does not apply to nli_triplets"),
    ],
)
def test_bad_label_mapping_names_field(change, expected):
    raw = labelled_recipe()
    raw["data"]["train"]["pairs"][0].update(change)

    with pytest.raises(RecipeError) as caught:
        recipe_from_dict(raw)

    assert expected in str(caught.value)


@pytest.mark.parametrize("name", ["stsb-cosent", "pairs-contrastive"])
def test_shipped_pair_recipes_validate(name):
    recipe = load_recipe(RECIPES / f"{name}.yaml")

    assert recipe.evaluation.tasks == ["stsb-test", "sick-trial", "msrp-test"]
    assert recipe.training.batch_size == 16


# Label mapping in a source


def write(directory: Path, name: str, text: str) -> Path:
    path = directory / name
    path.write_text(text, encoding="utf-8")
    return path


def judgments(path: str, labels) -> Source:
    return Source(path=path, columns={"sentence1": "a", "sentence2": "b", "label": "judgment"}, labels=labels)


def test_label_mapping_skips_and_counts_others(tmp_path, caplog):
    text = "a\tb\tjudgment\nw\tx\tENTAILMENT\ny\tz\tNEUTRAL\nu\tv\tCONTRADICTION\ns\tt\tNEUTRAL\n"
    write(tmp_path, "sick.tsv", text)

    with caplog.at_level(logging.INFO, logger="simtext.data.sources"):
        dataset = load_source(judgments("sick.tsv", {"ENTAILMENT": 1, "CONTRADICTION": 0}), tmp_path)

    assert dataset["label"] == [1, 0]
    assert dataset["sentence1"] == ["w", "u"]
    assert "Read 2 rows from sick.tsv (0 filtered out, 2 skipped because `labels` does not map their label: 'NEUTRAL': 2)" in caplog.text


def test_label_mapping_matches_numbers_as_text(tmp_path):
    rows = [{"a": "w", "b": "x", "judgment": 1.0}, {"a": "y", "b": "z", "judgment": 2}, {"a": "u", "b": "v", "judgment": "0"}]
    write(tmp_path, "pairs.jsonl", "\n".join(json.dumps(row) for row in rows) + "\n")

    dataset = load_source(judgments("pairs.jsonl", {"1": 1, "0": 0}), tmp_path)

    assert dataset["label"] == [1, 0]


def test_label_mapping_with_filter(tmp_path):
    write(tmp_path, "sick.tsv", "a\tb\tjudgment\tscore\nw\tx\tENTAILMENT\t4\ny\tz\tENTAILMENT\t2\nu\tv\tCONTRADICTION\t1\n")
    source = judgments("sick.tsv", {"ENTAILMENT": 1, "CONTRADICTION": 0})
    source.filter = ["score >= 2"]

    dataset = load_source(source, tmp_path)

    assert dataset["label"] == [1, 1]


def test_label_mapping_nothing_matches(tmp_path):
    path = write(tmp_path, "sick.tsv", "a\tb\tjudgment\nw\tx\tENTAILMENT\ny\tz\tNEUTRAL\n")

    with pytest.raises(DataError) as caught:
        load_source(judgments("sick.tsv", {"entailment": 1}), tmp_path)

    message = str(caught.value)
    assert message.startswith(f"{path}, column 'judgment': no row has a label that `labels` maps ('entailment')")
    assert "the values found are 'ENTAILMENT', 'NEUTRAL'" in message


def test_label_mapping_empty_label_names_line(tmp_path):
    path = write(tmp_path, "sick.tsv", "a\tb\tjudgment\nw\tx\tENTAILMENT\ny\tz\t \n")

    with pytest.raises(DataError) as caught:
        load_source(judgments("sick.tsv", {"ENTAILMENT": 1}), tmp_path)

    assert str(caught.value).startswith(f"{path}, line 3, column 'judgment': expected a label")


def test_label_mapping_without_label_column(tmp_path):
    write(tmp_path, "pairs.tsv", "a\tb\nw\tx\n")
    source = Source(path="pairs.tsv", columns={"anchor": "a", "positive": "b"}, labels={"1": 1})

    with pytest.raises(ValueError, match="pairs.tsv: `labels` maps the values of the `label` column"):
        load_source(source, tmp_path)


# Objectives: column and label checks


def objective(name: str):
    return build_objective(LossConfig(name=name))


@pytest.mark.parametrize(
    ("name", "columns", "expected"),
    [
        ("contrastive", ["sentence1", "sentence2", "score"], "For graded scores use loss cosent"),
        ("online_contrastive", ["anchor", "positive"], "Anchor-positive pairs have no dissimilar pairs; use loss infonce"),
        ("cosent", ["sentence1", "sentence2", "label"], "map the label column to `score`"),
        ("cosent", ["anchor", "positive", "negative"], "Anchor-positive pairs have no grades"),
    ],
)
def test_objective_rejects_wrong_kind(name, columns, expected):
    with pytest.raises(ValueError) as caught:
        objective(name).check_columns("train", columns)

    message = str(caught.value)
    assert message.startswith(f"data.train.train: loss {name!r} needs columns sentence1, sentence2, ")
    assert expected in message


def test_contrastive_rejects_text_labels():
    dataset = Dataset.from_dict({"sentence1": ["a", "b"], "sentence2": ["c", "d"], "label": ["ENTAILMENT", "NEUTRAL"]})

    with pytest.raises(ValueError) as caught:
        objective("contrastive").check_rows("sick", dataset)

    assert "data.train.sick: loss 'contrastive' needs labels 1 (similar) and 0 (dissimilar), found 'ENTAILMENT', 'NEUTRAL'" in str(caught.value)
    assert "labels: {ENTAILMENT: 1, CONTRADICTION: 0}" in str(caught.value)


def test_contrastive_accepts_binary_labels():
    dataset = Dataset.from_dict({"sentence1": ["a", "b"], "sentence2": ["c", "d"], "label": [1, 0]})

    objective("contrastive").check_rows("msrp", dataset)


def test_pair_objectives_keep_batches_full():
    # Every row shares its first text, which the InfoNCE planner would put in 12 batches of one.
    dataset = Dataset.from_dict(
        {"sentence1": ["the same text"] * 12, "sentence2": [f"other {index}" for index in range(12)], "score": [1.0] * 12}
    )

    plan = plan_epoch({"graded": batch_texts(objective("cosent"), dataset)}, 4, seed=0, epoch=0)

    assert [len(batch.indices) for batch in plan] == [4, 4, 4]
    assert sorted(index for batch in plan for index in batch.indices) == list(range(12))


# Direct and cached steps

SENTENCES = [
    "the cat sits on the red mat",
    "a dog runs in the park",
    "the man plays the guitar in the small house",
    "a woman eats food",
    "the children play with a ball on the beach",
    "a young girl is reading",
    "the big dog",
    "two men are riding bikes across the city street",
]
ROWS = {
    "sentence1": SENTENCES,
    "sentence2": [SENTENCES[(index + 3) % 8] + " today" for index in range(8)],
    "score": [4.8, 0.2, 3.1, 2.5, 5.0, 1.0, 3.8, 0.0],
    "label": [1, 0, 1, 1, 0, 0, 1, 0],
}


def step_gradients(make_tiny_model, name: str, cached: bool) -> tuple[float, dict[str, torch.Tensor]]:
    """Run one step of the objective on ROWS and return the loss and parameter gradients."""
    model = make_tiny_model(dropout=0.0, seed=3)
    model.train()
    accelerator = Accelerator(cpu=True)
    loss_objective = objective(name)
    columns = {column: ROWS[column] for column in loss_objective.text_columns(list(ROWS))}

    def loss_fn(embeddings):
        return loss_objective.loss(embeddings, ROWS)

    if cached:
        output = cached_step(accelerator, model, model, columns, loss_fn, mini_batch_size=3)
    else:
        output = direct_step(accelerator, model, model, columns, loss_fn)
    gradients = {key: parameter.grad.clone() for key, parameter in model.named_parameters() if parameter.grad is not None}
    return output.loss.item(), gradients


@pytest.mark.parametrize("name", ["cosent", "online_contrastive", "contrastive"])
def test_cached_step_equals_direct_step(make_tiny_model, name):
    direct_loss, direct = step_gradients(make_tiny_model, name, cached=False)
    cached_loss, cached = step_gradients(make_tiny_model, name, cached=True)

    assert direct_loss > 0
    assert cached_loss == pytest.approx(direct_loss, rel=1e-5)
    assert direct.keys() == cached.keys()
    for key in direct:
        torch.testing.assert_close(cached[key], direct[key], rtol=1e-4, atol=1e-6, msg=key)


# Training on a tiny encoder

WORDS = "the a cat dog man woman plays runs sits eats in on park house guitar food red blue small big".split()


def write_pair_data(data_dir: Path) -> None:
    """Write a SICK-style labelled TSV, an STS-style graded CSV and an STS-B style test file."""
    generator = torch.Generator().manual_seed(1)

    def sentence():
        picks = torch.randint(len(WORDS), (5,), generator=generator).tolist()
        return " ".join(WORDS[index] for index in picks)

    judgments_lines = ["pair_ID\tsentence_A\tsentence_B\tentailment_judgment"]
    graded_lines = ["sentence1,sentence2,score"]
    for index in range(30):
        first = sentence()
        judgment = ["ENTAILMENT", "NEUTRAL", "CONTRADICTION"][index % 3]
        second = first + " too" if judgment == "ENTAILMENT" else sentence()
        judgments_lines.append(f"{index}\t{first}\t{second}\t{judgment}")
        graded_lines.append(f"{first},{second},{(index * 7) % 6}")
    (data_dir / "sick.tsv").write_text("\n".join(judgments_lines) + "\n")
    (data_dir / "graded.csv").write_text("\n".join(graded_lines) + "\n")

    (data_dir / "stsb").mkdir()
    test_lines = ["sentence1,sentence2,score"] + [f"{sentence()},{sentence()},{index % 6}" for index in range(20)]
    (data_dir / "stsb" / "test.csv").write_text("\n".join(test_lines) + "\n")


def pair_recipe(path: Path, model_dir: Path, loss: dict) -> Path:
    if loss["name"] == "cosent":
        source = {"path": "graded.csv", "columns": {"sentence1": "sentence1", "sentence2": "sentence2", "score": "score"}}
    else:
        source = {
            "path": "sick.tsv",
            "columns": {"sentence1": "sentence_A", "sentence2": "sentence_B", "label": "entailment_judgment"},
            "labels": {"ENTAILMENT": 1, "CONTRADICTION": 0},
        }
    recipe = {
        "model": str(model_dir),
        "seed": 3,
        "data": {"train": {"pairs": [source]}},
        "loss": loss,
        "training": {"epochs": 1, "batch_size": 8, "learning_rate": 1e-3, "log_every": 2},
        "evaluation": {"tasks": ["stsb-test"], "batch_size": 16},
    }
    path.write_text(yaml.safe_dump(recipe))
    return path


@pytest.fixture
def pair_workspace(tmp_path, tiny_model):
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    write_pair_data(data_dir)
    model_dir = simtext.save(tiny_model, tmp_path / "tiny")
    return tmp_path, data_dir, model_dir


def test_online_contrastive_logs_kept_pairs(pair_workspace, caplog):
    tmp_path, data_dir, model_dir = pair_workspace
    recipe = pair_recipe(tmp_path / "recipe.yaml", model_dir, {"name": "online_contrastive", "margin": 0.5})

    with caplog.at_level(logging.INFO, logger="simtext.training.loop"):
        result = run_recipe(recipe, data_dir=data_dir, output_dir=tmp_path / "run")

    # 20 of the 30 rows are ENTAILMENT or CONTRADICTION: batches of 8, 8 and 4.
    assert result.examples == 20
    assert result.steps == 3
    logged = [entry for entry in result.history if "loss" in entry]
    assert [entry["step"] for entry in logged] == [2, 3]
    assert all(0 <= entry["kept_pairs"] <= 8 for entry in logged)
    assert all(0 <= entry["kept_fraction"] <= 1 for entry in logged)
    assert "kept_pairs" in caplog.text
    assert (tmp_path / "run" / "report.json").is_file()


@pytest.mark.parametrize("loss", [{"name": "cosent", "scale": 20}, {"name": "contrastive", "distance": "euclidean", "margin": 2.0}])
def test_pair_loss_trains_and_changes_weights(pair_workspace, loss):
    tmp_path, data_dir, model_dir = pair_workspace
    recipe = pair_recipe(tmp_path / "recipe.yaml", model_dir, loss)

    result = run_recipe(recipe, data_dir=data_dir, output_dir=tmp_path / "run", overrides=["training.embed_chunk_size=4"])

    sentences = ["the cat sits on the red house", "a dog runs"]
    before = simtext.load(str(model_dir)).encode(sentences, convert_to_tensor=True)
    after = simtext.load(str(result.model_dir)).encode(sentences, convert_to_tensor=True)
    assert not torch.allclose(before, after, atol=1e-4)
    effective = yaml.safe_load((tmp_path / "run" / "recipe.yaml").read_text())
    assert effective["loss"]["name"] == loss["name"]


# The shipped recipes on the real data


@pytest.mark.real_data
def test_pairs_contrastive_recipe_data(data_dir):
    recipe = load_recipe(RECIPES / "pairs-contrastive.yaml")

    datasets = load_training_data(recipe.data.train, data_dir)

    sick = datasets["sick"]
    msrp = datasets["msrp"]
    assert set(sick["label"]) == {0, 1}
    # SICK train has 1,299 ENTAILMENT and 665 CONTRADICTION pairs; NEUTRAL pairs are skipped.
    assert sum(sick["label"]) == 1299
    assert len(sick) == 1299 + 665
    assert len(msrp) == 3576
    assert set(msrp["label"]) == {0, 1}
