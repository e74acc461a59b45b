"""The recipe schema: YAML in, validated dataclasses out, with errors that name the field's path.

The validator is hand-written (it walks the dataclass type hints recursively)
to keep the dependency list short. It rejects unknown keys and wrong types
before any model or data is loaded.
"""

from __future__ import annotations

import dataclasses
import difflib
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from simtext.data.sources import Source, check_label_mapping
from simtext.losses import DISTANCES
from simtext.models import DEFAULT_MODEL


class RecipeError(ValueError):
    """An invalid recipe field, named by its dotted path."""


@dataclass
class DataConfig:
    """Training data: named datasets, each a list of sources with the same canonical columns."""

    train: dict[str, list[Source]] = field(default_factory=dict)


@dataclass
class CachedConfig:
    """GradCache settings: the batch is embedded `mini_batch_size` texts at a time, twice."""

    mini_batch_size: int = 32
    sort_by_length: bool = True  # chunk the batch's texts in token-length order, to cut padding
    # Padded tokens per chunk (texts x longest text); None limits chunks by mini_batch_size only.
    max_tokens: int | None = None


@dataclass
class MemoryConfig:
    """A queue of candidate embeddings from earlier batches, added to every anchor's negatives."""

    size: int = 4096  # embeddings kept


@dataclass
class LossConfig:
    """The training objective and its options."""

    name: str = "infonce"
    scale: float = 20.0  # infonce and cosent
    symmetric: bool = False  # infonce only
    # contrastive and online_contrastive only; None elsewhere. Validation fills in 0.5 and "cosine".
    margin: float | None = None
    distance: str | None = None
    cached: CachedConfig | None = None  # None runs the direct step
    memory: MemoryConfig | None = None  # None uses in-batch negatives only
    # Score every anchor against the candidates of all processes; None gathers when there are several.
    gather_across_processes: bool | None = None


@dataclass
class TrainingConfig:
    """Optimizer, schedule and loop settings."""

    epochs: int = 1
    max_steps: int | None = None  # optimizer steps; overrides epochs when set
    batch_size: int = 64
    learning_rate: float = 2e-5
    warmup_ratio: float = 0.1  # fraction of all steps with linearly rising learning rate
    weight_decay: float = 0.01
    max_grad_norm: float | None = 1.0
    mixed_precision: str = "no"
    log_every: int = 20  # steps between log lines
    eval_every: int | None = None  # steps between evaluations; None evaluates at the end only
    max_seq_length: int | None = None  # tokens; None keeps the model's own limit
    # Texts per forward pass: each column of a batch is sorted by length and embedded in
    # chunks of this size, padded per chunk. The loss still covers the whole batch. None
    # embeds each column in one pass.
    embed_chunk_size: int | None = None
    checkpoint_every: int | None = None  # steps between checkpoints; one is also written at each epoch's end
    keep_checkpoints: int = 2  # newest checkpoints kept; 0 writes none


@dataclass
class EvaluationConfig:
    """Evaluation tasks and which metric picks the best model."""

    tasks: list[str] = field(default_factory=lambda: ["stsb-test"])
    batch_size: int = 64
    # "TASK/METRIC", for example "stsb-dev/spearman"; None keeps the final model.
    best_metric: str | None = None


@dataclass
class Recipe:
    """A complete training run."""

    model: str = DEFAULT_MODEL
    seed: int = 42
    output_dir: str | None = None
    data: DataConfig = field(default_factory=DataConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    training: TrainingConfig = field(default_factory=TrainingConfig)
    evaluation: EvaluationConfig = field(default_factory=EvaluationConfig)


LOSSES = ("infonce", "contrastive", "online_contrastive", "cosent")
PAIR_LABEL_LOSSES = ("contrastive", "online_contrastive")
MIXED_PRECISION = ("no", "fp16", "bf16")


def load_recipe(path: str | Path, overrides: list[str] | None = None) -> Recipe:
    """Read a YAML recipe, apply `KEY=VALUE` overrides (dotted keys), and validate it."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"Recipe {path} not found.")
    try:
        with path.open(encoding="utf-8") as handle:
            # Reading from the file object makes YAML error marks name the file.
            raw = yaml.load(handle, Loader=_UniqueKeyLoader) or {}
    except yaml.YAMLError as error:
        raise RecipeError(f"{path}: invalid YAML: {error}") from None
    if not isinstance(raw, dict):
        raise RecipeError(f"{path}: expected a mapping of recipe fields at the top level, found {type(raw).__name__}")
    for override in overrides or []:
        apply_override(raw, override)
    try:
        return recipe_from_dict(raw)
    except RecipeError as error:
        raise RecipeError(f"{_error_source(path, overrides or [], str(error))}: {error}") from None


def _error_source(path: Path, overrides: list[str], message: str) -> str:
    """Name the `--set` override that wrote the invalid field, else the recipe file."""
    for override in reversed(overrides):
        key = override.split("=", 1)[0].strip()
        if message.startswith((f"{key}:", f"{key}.", f"{key}[")):
            return f"--set {override}"
    return str(path)


class _UniqueKeyLoader(yaml.SafeLoader):
    """A safe YAML loader that rejects a key repeated in one mapping instead of keeping the last value."""

    def construct_mapping(self, node, deep=False):
        seen = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key!r}; merge the two entries into one", key_node.start_mark
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def apply_override(raw: dict, override: str) -> None:
    """Set a dotted key in the raw recipe mapping from `KEY=VALUE`, the value parsed as YAML."""
    key, sep, value = override.partition("=")
    if not sep or not key.strip():
        raise RecipeError(f"invalid override {override!r}; expected KEY=VALUE, for example training.batch_size=32")
    parts = key.strip().split(".")
    target = raw
    for part in parts[:-1]:
        target = target.setdefault(part, {})
        if not isinstance(target, dict):
            raise RecipeError(f"override {override!r}: {part!r} is not a mapping")
    try:
        parsed = yaml.safe_load(value)
    except yaml.YAMLError as error:
        problem = getattr(error, "problem", None) or error
        raise RecipeError(
            f"override {override!r}: the value is not valid YAML ({problem}); quote text values, "
            "for example --set 'model=\"my-org/model\"'"
        ) from None
    # YAML 1.1 reads yes/no/on/off as booleans, but on the command line they are text, as in mixed_precision=no.
    if isinstance(parsed, bool) and value.strip().lower() not in ("true", "false"):
        parsed = value.strip()
    target[parts[-1]] = parsed


def recipe_from_dict(raw: dict) -> Recipe:
    """Validate a raw mapping and return a `Recipe`."""
    recipe = _build(Recipe, raw, "")
    _check_values(recipe)
    return recipe


def recipe_to_dict(recipe: Recipe) -> dict:
    """Return the recipe as plain data, for saving the effective recipe of a run."""
    return dataclasses.asdict(recipe)


def _check_values(recipe: Recipe) -> None:
    if recipe.loss.name not in LOSSES:
        raise RecipeError(f"loss.name: unknown loss {recipe.loss.name!r}; use one of: {', '.join(LOSSES)}")
    if recipe.training.mixed_precision not in MIXED_PRECISION:
        raise RecipeError(
            f"training.mixed_precision: invalid value {recipe.training.mixed_precision!r}; use one of: {', '.join(MIXED_PRECISION)}"
        )

    positive = {
        "training.batch_size": recipe.training.batch_size,
        "training.learning_rate": recipe.training.learning_rate,
        "training.log_every": recipe.training.log_every,
        "loss.scale": recipe.loss.scale,
        "evaluation.batch_size": recipe.evaluation.batch_size,
    }
    # Optional fields are checked only when set; None keeps their default behaviour.
    optional_positive = {
        "training.max_steps": recipe.training.max_steps,
        "training.max_grad_norm": recipe.training.max_grad_norm,
        "training.eval_every": recipe.training.eval_every,
        "training.max_seq_length": recipe.training.max_seq_length,
        "training.embed_chunk_size": recipe.training.embed_chunk_size,
        "training.checkpoint_every": recipe.training.checkpoint_every,
    }
    if recipe.loss.cached is not None:
        optional_positive["loss.cached.mini_batch_size"] = recipe.loss.cached.mini_batch_size
        optional_positive["loss.cached.max_tokens"] = recipe.loss.cached.max_tokens
    if recipe.loss.memory is not None:
        optional_positive["loss.memory.size"] = recipe.loss.memory.size
    positive.update({name: value for name, value in optional_positive.items() if value is not None})
    for name, value in positive.items():
        # Written as `not value > 0` so that NaN is rejected too.
        if not value > 0:
            raise RecipeError(f"{name}: must be positive, got {value}")
    if recipe.training.keep_checkpoints < 0:
        raise RecipeError(f"training.keep_checkpoints: must be at least 0, got {recipe.training.keep_checkpoints}")
    if not recipe.training.weight_decay >= 0:
        raise RecipeError(f"training.weight_decay: must be at least 0, got {recipe.training.weight_decay}")

    if recipe.loss.cached is not None and recipe.training.embed_chunk_size is not None:
        raise RecipeError(
            "training.embed_chunk_size: the cached step chunks the batch by loss.cached.mini_batch_size; "
            "remove one of the two"
        )
    if recipe.loss.memory is not None and recipe.loss.name != "infonce":
        raise RecipeError(f"loss.memory: loss {recipe.loss.name!r} takes no memory queue; only infonce does")
    _check_loss_options(recipe.loss)

    if recipe.training.epochs < 1 and recipe.training.max_steps is None:
        raise RecipeError(f"training.epochs: must be at least 1, got {recipe.training.epochs}")
    if not 0 <= recipe.training.warmup_ratio < 1:
        raise RecipeError(f"training.warmup_ratio: must be in [0, 1), got {recipe.training.warmup_ratio}")

    if not recipe.data.train:
        raise RecipeError("data.train: no training data; name at least one dataset with a list of sources")
    # Source lists are checked here too, so that a bad recipe fails before any data is read.
    for name, sources in recipe.data.train.items():
        if not sources:
            raise RecipeError(f"data.train.{name}: the dataset has no sources; list at least one")
        for index, source in enumerate(sources):
            if (source.path is None) == (source.hub is None):
                raise RecipeError(
                    f"data.train.{name}[{index}]: set exactly one of `path` (a file in the data directory) "
                    "or `hub` (a dataset id)"
                )
            if source.labels is not None:
                try:
                    check_label_mapping(source)
                except ValueError as error:
                    raise RecipeError(f"data.train.{name}[{index}].labels: {error}") from None

    if recipe.evaluation.best_metric is not None and "/" not in recipe.evaluation.best_metric:
        raise RecipeError(
            f"evaluation.best_metric: invalid value {recipe.evaluation.best_metric!r}; expected TASK/METRIC, "
            "for example stsb-dev/spearman"
        )
    from simtext.evaluation.tasks import BUILTIN_TASKS, metric_names

    if recipe.evaluation.best_metric is not None:
        task, _, metric = recipe.evaluation.best_metric.partition("/")
        if task not in recipe.evaluation.tasks:
            raise RecipeError(
                f"evaluation.best_metric: task {task!r} is not evaluated; add it to evaluation.tasks "
                f"(now {recipe.evaluation.tasks})"
            )
        if task in BUILTIN_TASKS and metric not in metric_names(BUILTIN_TASKS[task]):
            raise RecipeError(
                f"evaluation.best_metric: task {task!r} has no metric {metric!r}; use one of: "
                f"{', '.join(metric_names(BUILTIN_TASKS[task]))}"
            )

    for index, name in enumerate(recipe.evaluation.tasks):
        if name not in BUILTIN_TASKS:
            raise RecipeError(
                f"evaluation.tasks[{index}]: unknown task {name!r}; use one of: {', '.join(BUILTIN_TASKS)}"
            )


def _check_loss_options(loss: LossConfig) -> None:
    """Reject options that the chosen loss does not use, check the rest, and fill in the defaults."""
    if loss.symmetric and loss.name != "infonce":
        raise RecipeError(f"loss.symmetric: loss {loss.name!r} has no symmetric form; only infonce does")
    if loss.name not in PAIR_LABEL_LOSSES:
        for option in ("margin", "distance"):
            if getattr(loss, option) is not None:
                raise RecipeError(
                    f"loss.{option}: loss {loss.name!r} takes no {option}; only {' and '.join(PAIR_LABEL_LOSSES)} do"
                )
        return

    if loss.margin is None:
        loss.margin = 0.5
    if loss.distance is None:
        loss.distance = "cosine"
    if not loss.margin > 0:
        raise RecipeError(f"loss.margin: must be positive, got {loss.margin}")
    if loss.distance not in DISTANCES:
        raise RecipeError(f"loss.distance: invalid value {loss.distance!r}; use one of: {', '.join(DISTANCES)}")


def _build(cls: type, raw: Any, path: str) -> Any:
    if not isinstance(raw, dict):
        raise RecipeError(f"{path or 'recipe'}: expected a mapping, found {type(raw).__name__} {raw!r}")
    hints = typing.get_type_hints(cls)
    known = [f.name for f in dataclasses.fields(cls)]
    for key in raw:
        if key not in known:
            close = difflib.get_close_matches(str(key), known, n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            raise RecipeError(f"{_join(path, key)}: unknown key.{hint} Known keys: {', '.join(known)}.")
    values = {key: _convert(hints[key], value, _join(path, key)) for key, value in raw.items()}
    return cls(**values)


def _convert(hint: Any, value: Any, path: str) -> Any:
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)

    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        non_none = [arg for arg in args if arg is not type(None)]
        return _convert(non_none[0], value, path)
    if dataclasses.is_dataclass(hint):
        return _build(hint, value, path)
    if origin is list:
        if isinstance(value, str) and args[0] is str:
            value = [value]
        if not isinstance(value, list):
            raise RecipeError(f"{path}: expected a list, found {type(value).__name__} {value!r}")
        return [_convert(args[0], item, f"{path}[{index}]") for index, item in enumerate(value)]
    if origin is dict:
        if not isinstance(value, dict):
            raise RecipeError(f"{path}: expected a mapping, found {type(value).__name__} {value!r}")
        return {str(key): _convert(args[1], item, _join(path, key)) for key, item in value.items()}
    return _scalar(hint, value, path)


def _scalar(hint: type, value: Any, path: str) -> Any:
    if hint is bool:
        if isinstance(value, bool):
            return value
    elif hint is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif hint is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str):
            # PyYAML reads 2e-5 (no dot) as a string.
            try:
                return float(value)
            except ValueError:
                pass
    elif hint is str:
        if isinstance(value, (str, int, float)) and not isinstance(value, bool):
            return str(value)
        if isinstance(value, bool):
            raise RecipeError(
                f"{path}: expected str, found bool {value!r}. YAML reads unquoted yes/no/on/off/true/false "
                'as booleans; quote the value, for example "no"'
            )
    else:
        return value
    raise RecipeError(f"{path}: expected {hint.__name__}, found {type(value).__name__} {value!r}")


def _join(path: str, key: Any) -> str:
    return f"{path}.{key}" if path else str(key)
