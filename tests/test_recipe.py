"""Recipe loading and validation: the shipped recipe, unknown keys, wrong types, bad values, overrides."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

from simtext.data import NliTriplets, Source
from simtext.training.recipe import RecipeError, apply_override, load_recipe, recipe_from_dict, recipe_to_dict

RECIPES = Path(__file__).resolve().parent.parent / "recipes"

MINIMAL = {
    "data": {"train": {"pairs": [{"path": "pairs.csv", "columns": {"anchor": "a", "positive": "b"}}]}},
}


def write_recipe(tmp_path: Path, raw, name: str = "recipe.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(raw) if not isinstance(raw, str) else raw, encoding="utf-8")
    return path


def minimal_with(**sections) -> dict:
    """Return the minimal valid recipe with some sections replaced or added."""
    raw = copy.deepcopy(MINIMAL)
    raw.update(sections)
    return raw


# The shipped recipe


def test_paraphrase_recipe_validates():
    recipe = load_recipe(RECIPES / "paraphrase-mnrl.yaml")

    assert recipe.model == "sentence-transformers/all-MiniLM-L6-v2"
    assert list(recipe.data.train) == ["paraphrases", "nli"]
    assert [source.path for source in recipe.data.train["paraphrases"]] == [
        "stsb/train.csv",
        "msrp/train.tsv",
        "sick/train.tsv",
    ]
    assert recipe.training.batch_size == 64
    assert recipe.training.learning_rate == pytest.approx(2e-5)
    assert recipe.training.mixed_precision == "no"
    assert recipe.loss.name == "infonce"
    assert recipe.evaluation.tasks == ["stsb-test", "scifact-test"]


def test_paraphrase_recipe_source_types():
    recipe = load_recipe(RECIPES / "paraphrase-mnrl.yaml")
    stsb, msrp, _ = recipe.data.train["paraphrases"]
    snli = recipe.data.train["nli"][0]

    assert isinstance(stsb, Source)
    # A single filter string in YAML becomes a one-element list.
    assert stsb.filter == ["score >= 4"]
    assert msrp.columns == {"anchor": "#1 String", "positive": "#2 String"}
    assert isinstance(snli.nli_triplets, NliTriplets)
    assert snli.nli_triplets.no_gold == ["-"]


def test_recipe_dict_round_trip():
    recipe = load_recipe(RECIPES / "paraphrase-mnrl.yaml")

    assert recipe_from_dict(recipe_to_dict(recipe)) == recipe


def test_minimal_recipe_gets_defaults(tmp_path):
    recipe = load_recipe(write_recipe(tmp_path, MINIMAL))

    assert recipe.seed == 42
    assert recipe.training.epochs == 1
    assert recipe.training.max_steps is None
    assert recipe.data.train["pairs"][0].split == "train"


# Unknown keys


def test_unknown_top_level_key(tmp_path):
    path = write_recipe(tmp_path, minimal_with(trainng={"batch_size": 8}))

    with pytest.raises(RecipeError) as caught:
        load_recipe(path)
    message = str(caught.value)
    assert str(path) in message
    assert "trainng: unknown key" in message
    assert "Did you mean 'training'?" in message


def test_unknown_nested_key(tmp_path):
    path = write_recipe(tmp_path, minimal_with(training={"bach_size": 8}))

    with pytest.raises(RecipeError) as caught:
        load_recipe(path)
    message = str(caught.value)
    assert "training.bach_size: unknown key" in message
    assert "Did you mean 'batch_size'?" in message


def test_unknown_source_key(tmp_path):
    raw = minimal_with(data={"train": {"pairs": [{"path": "pairs.csv", "colums": {"anchor": "a"}}]}})

    with pytest.raises(RecipeError) as caught:
        load_recipe(write_recipe(tmp_path, raw))
    message = str(caught.value)
    assert "data.train.pairs[0].colums: unknown key" in message
    assert "Did you mean 'columns'?" in message


def test_unknown_key_without_close_match(tmp_path):
    with pytest.raises(RecipeError) as caught:
        load_recipe(write_recipe(tmp_path, minimal_with(loss={"zzz": 1})))
    message = str(caught.value)
    assert "loss.zzz: unknown key" in message
    assert "Did you mean" not in message
    assert "Known keys: name, scale, symmetric" in message


# Wrong types


@pytest.mark.parametrize(
    ("sections", "expected"),
    [
        ({"training": {"batch_size": "big"}}, "training.batch_size: expected int, found str 'big'"),
        ({"training": {"epochs": True}}, "training.epochs: expected int, found bool True"),
        ({"training": {"learning_rate": "fast"}}, "training.learning_rate: expected float, found str 'fast'"),
        ({"seed": 1.5}, "seed: expected int, found float 1.5"),
        ({"loss": {"symmetric": "maybe"}}, "loss.symmetric: expected bool, found str 'maybe'"),
        ({"evaluation": {"tasks": 3}}, "evaluation.tasks: expected a list, found int 3"),
        ({"training": 3}, "training: expected a mapping, found int 3"),
        ({"data": {"train": {"pairs": {"path": "pairs.csv"}}}}, "data.train.pairs: expected a list"),
    ],
)
def test_wrong_type_names_path(tmp_path, sections, expected):
    with pytest.raises(RecipeError) as caught:
        load_recipe(write_recipe(tmp_path, minimal_with(**sections)))

    assert expected in str(caught.value)


def test_unquoted_no_suggests_quoting(tmp_path):
    # YAML 1.1 reads an unquoted `no` as False.
    text = yaml.safe_dump(MINIMAL) + "training:\n  mixed_precision: no\n"

    with pytest.raises(RecipeError) as caught:
        load_recipe(write_recipe(tmp_path, text))
    message = str(caught.value)
    assert "training.mixed_precision: expected str, found bool False" in message
    assert 'quote the value, for example "no"' in message


def test_float_accepts_exponent_string(tmp_path):
    # PyYAML reads 2e-5 (no dot in the mantissa) as the string "2e-5".
    text = yaml.safe_dump(MINIMAL) + "training:\n  learning_rate: 2e-5\n"

    recipe = load_recipe(write_recipe(tmp_path, text))

    assert recipe.training.learning_rate == pytest.approx(2e-5)


# Bad values


@pytest.mark.parametrize(
    ("override", "expected"),
    [
        ("training.mixed_precision=fp8", "training.mixed_precision: invalid value 'fp8'; use one of: no, fp16, bf16"),
        ("loss.name=triplet", "loss.name: unknown loss 'triplet'"),
        ("training.batch_size=0", "training.batch_size: must be positive, got 0"),
        ("training.learning_rate=-1e-5", "training.learning_rate: must be positive"),
        ("training.learning_rate=nan", "training.learning_rate: must be positive, got nan"),
        ("training.max_steps=-5", "training.max_steps: must be positive, got -5"),
        ("training.eval_every=0", "training.eval_every: must be positive, got 0"),
        ("training.max_grad_norm=0", "training.max_grad_norm: must be positive"),
        ("training.max_seq_length=0", "training.max_seq_length: must be positive, got 0"),
        ("training.weight_decay=-0.1", "training.weight_decay: must be at least 0, got -0.1"),
        ("training.warmup_ratio=1", "training.warmup_ratio: must be in [0, 1), got 1.0"),
        ("training.epochs=0", "training.epochs: must be at least 1, got 0"),
        ("evaluation.batch_size=0", "evaluation.batch_size: must be positive, got 0"),
        ("evaluation.best_metric=spearman", "evaluation.best_metric: invalid value 'spearman'; expected TASK/METRIC"),
        ("data.train={}", "data.train: no training data"),
        ("data.train.pairs=[]", "data.train.pairs: the dataset has no sources"),
        ("data.train.pairs=[{path: a.csv, hub: org/name}]", "data.train.pairs[0]: set exactly one of `path`"),
        ("data.train.pairs=[{split: train}]", "data.train.pairs[0]: set exactly one of `path`"),
        ("loss.cached.mini_batch_size=0", "loss.cached.mini_batch_size: must be positive, got 0"),
        ("loss.cached=true", "loss.cached: expected a mapping, found bool True"),
        ("loss.cached.chunk=4", "loss.cached.chunk: unknown key."),
        ("loss.memory.size=-1", "loss.memory.size: must be positive, got -1"),
        ("loss.memory={sise: 10}", "loss.memory.sise: unknown key. Did you mean 'size'?"),
    ],
)
def test_bad_value_names_path(tmp_path, override, expected):
    path = write_recipe(tmp_path, MINIMAL)

    with pytest.raises(RecipeError) as caught:
        load_recipe(path, [override])

    assert expected in str(caught.value)


def test_zero_epochs_allowed_with_max_steps(tmp_path):
    recipe = load_recipe(write_recipe(tmp_path, MINIMAL), ["training.epochs=0", "training.max_steps=10"])

    assert recipe.training.max_steps == 10


# Files


def test_missing_recipe_file(tmp_path):
    path = tmp_path / "absent.yaml"

    with pytest.raises(FileNotFoundError) as caught:
        load_recipe(path)

    assert str(path) in str(caught.value)


def test_non_mapping_yaml(tmp_path):
    path = write_recipe(tmp_path, "- model\n- seed\n")

    with pytest.raises(RecipeError) as caught:
        load_recipe(path)
    message = str(caught.value)
    assert str(path) in message
    assert "expected a mapping of recipe fields at the top level, found list" in message


def test_invalid_yaml_syntax(tmp_path):
    path = write_recipe(tmp_path, "training: [\n")

    with pytest.raises(RecipeError) as caught:
        load_recipe(path)
    message = str(caught.value)
    assert str(path) in message
    assert "invalid YAML" in message


def test_empty_recipe_needs_data(tmp_path):
    with pytest.raises(RecipeError) as caught:
        load_recipe(write_recipe(tmp_path, ""))

    assert "data.train: no training data" in str(caught.value)


# Overrides


def test_override_replaces_value():
    recipe = load_recipe(RECIPES / "paraphrase-mnrl.yaml", ["training.batch_size=32"])

    assert recipe.training.batch_size == 32


def test_override_values_parsed_as_yaml(tmp_path):
    overrides = [
        "training.learning_rate=2e-5",
        "evaluation.tasks=[stsb-dev]",
        "loss.symmetric=true",
        "training.max_grad_norm=null",
        "evaluation.best_metric=stsb-dev/spearman",
    ]

    recipe = load_recipe(write_recipe(tmp_path, MINIMAL), overrides)

    assert recipe.training.learning_rate == pytest.approx(2e-5)
    assert recipe.evaluation.tasks == ["stsb-dev"]
    assert recipe.loss.symmetric is True
    assert recipe.training.max_grad_norm is None
    assert recipe.evaluation.best_metric == "stsb-dev/spearman"


def test_override_no_stays_text(tmp_path):
    recipe = load_recipe(write_recipe(tmp_path, MINIMAL), ["training.mixed_precision=no"])

    assert recipe.training.mixed_precision == "no"


def test_override_adds_dotted_new_keys(tmp_path):
    overrides = [
        "training.max_steps=100",
        "data.train.extra=[{path: extra.tsv, columns: {anchor: q, positive: d}, filter: 'label == 1'}]",
    ]

    recipe = load_recipe(write_recipe(tmp_path, {"data": MINIMAL["data"]}), overrides)

    assert recipe.training.max_steps == 100
    assert list(recipe.data.train) == ["pairs", "extra"]
    assert recipe.data.train["extra"][0].path == "extra.tsv"
    assert recipe.data.train["extra"][0].filter == ["label == 1"]


def test_override_creates_nested_mappings():
    raw: dict = {}

    apply_override(raw, "training.batch_size = 16")

    assert raw == {"training": {"batch_size": 16}}


def test_override_value_keeps_equals_sign():
    raw: dict = {}

    apply_override(raw, "evaluation.best_metric=a=b/c")

    assert raw["evaluation"]["best_metric"] == "a=b/c"


def test_override_unknown_key_suggests(tmp_path):
    with pytest.raises(RecipeError) as caught:
        load_recipe(write_recipe(tmp_path, MINIMAL), ["training.bach_size=32"])
    message = str(caught.value)
    assert "training.bach_size: unknown key" in message
    assert "Did you mean 'batch_size'?" in message


def test_bad_override_value_names_override(tmp_path):
    with pytest.raises(RecipeError) as caught:
        load_recipe(write_recipe(tmp_path, MINIMAL), ["training.epochs=2", "training.batch_size=abc"])
    message = str(caught.value)
    assert message.startswith("--set training.batch_size=abc: training.batch_size: expected int")


def test_bad_file_value_names_file(tmp_path):
    path = write_recipe(tmp_path, MINIMAL)
    path.write_text(path.read_text() + "seed: abc\n")
    with pytest.raises(RecipeError) as caught:
        load_recipe(path, ["training.batch_size=8"])
    assert str(caught.value).startswith(f"{path}: seed: expected int")


@pytest.mark.parametrize("override", ["training.batch_size", "=32", "  =1"])
def test_override_without_key_value(override):
    with pytest.raises(RecipeError) as caught:
        apply_override({}, override)

    assert "expected KEY=VALUE" in str(caught.value)


def test_override_into_scalar_rejected():
    raw = {"training": {"batch_size": 8}}

    with pytest.raises(RecipeError) as caught:
        apply_override(raw, "training.batch_size.max=1")

    assert "'batch_size' is not a mapping" in str(caught.value)


def test_best_metric_task_must_be_evaluated(tmp_path):
    with pytest.raises(RecipeError, match="evaluation.best_metric: task 'stsb-dev' is not evaluated"):
        load_recipe(write_recipe(tmp_path, MINIMAL), ["evaluation.tasks=[stsb-test]", "evaluation.best_metric=stsb-dev/spearman"])


def test_unknown_evaluation_task_rejected(tmp_path):
    with pytest.raises(RecipeError, match=r"evaluation.tasks\[1\]: unknown task 'stsb-tst'"):
        load_recipe(write_recipe(tmp_path, MINIMAL), ["evaluation.tasks=[stsb-test, stsb-tst]"])


def test_best_metric_unknown_metric_rejected(tmp_path):
    overrides = ["evaluation.tasks=[stsb-dev]", "evaluation.best_metric=stsb-dev/spearmann"]
    with pytest.raises(RecipeError, match="task 'stsb-dev' has no metric 'spearmann'; use one of: spearman, pearson"):
        load_recipe(write_recipe(tmp_path, MINIMAL), overrides)


def test_override_invalid_yaml_rejected(tmp_path):
    with pytest.raises(RecipeError, match=r"override 'training.batch_size=\[4': the value is not valid YAML"):
        load_recipe(write_recipe(tmp_path, MINIMAL), ["training.batch_size=[4"])


def test_duplicate_recipe_key_rejected(tmp_path):
    path = tmp_path / "recipe.yaml"
    path.write_text("seed: 1\ntraining:\n  epochs: 1\ntraining:\n  epochs: 2\n")
    with pytest.raises(RecipeError, match="duplicate key 'training'"):
        load_recipe(path)
    assert "line 4" in str(pytest.raises(RecipeError, load_recipe, path).value)


def test_cached_and_memory_options_parse(tmp_path):
    path = write_recipe(tmp_path, MINIMAL)
    recipe = load_recipe(path, ["loss.cached={mini_batch_size: 8}", "loss.memory.size=100"])

    assert recipe.loss.cached.mini_batch_size == 8
    assert recipe.loss.cached.sort_by_length is True
    assert recipe.loss.memory.size == 100


def test_cached_step_excludes_embed_chunk_size(tmp_path):
    path = write_recipe(tmp_path, MINIMAL)
    with pytest.raises(RecipeError, match="training.embed_chunk_size: the cached step chunks"):
        load_recipe(path, ["loss.cached.mini_batch_size=8", "training.embed_chunk_size=16"])


def test_cached_recipe_validates():
    recipe = load_recipe(RECIPES / "paraphrase-cached.yaml")

    assert recipe.training.batch_size == 1024
    assert recipe.loss.cached.mini_batch_size == 32
    assert recipe.training.embed_chunk_size is None

def test_new_task_kinds_in_recipe(tmp_path):
    path = write_recipe(tmp_path, MINIMAL)
    overrides = ["evaluation.tasks=[msrp-test, paws-dev, trecqa-test]", "evaluation.best_metric=trecqa-test/mrr@10"]

    recipe = load_recipe(path, overrides)

    assert recipe.evaluation.tasks == ["msrp-test", "paws-dev", "trecqa-test"]
    with pytest.raises(RecipeError, match="task 'msrp-test' has no metric 'spearman'; use one of: ap, accuracy"):
        load_recipe(path, ["evaluation.tasks=[msrp-test]", "evaluation.best_metric=msrp-test/spearman"])
