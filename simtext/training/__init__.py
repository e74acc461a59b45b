"""Recipe schema, the Accelerate training loop, and the run directory around it."""

from simtext.training.loop import TrainingResult, train
from simtext.training.recipe import Recipe, RecipeError, load_recipe, recipe_from_dict, recipe_to_dict
from simtext.training.run import run_recipe

__all__ = [
    "Recipe",
    "RecipeError",
    "TrainingResult",
    "load_recipe",
    "recipe_from_dict",
    "recipe_to_dict",
    "run_recipe",
    "train",
]
