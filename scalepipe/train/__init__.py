"""Training recipes (linear, logistic, mlp, gbm), held-out metrics and plots."""

from scalepipe.train.recipes import RECIPES, Recipe
from scalepipe.train.run import TrainedModel, TrainingError, train, train_frame

__all__ = ["RECIPES", "Recipe", "TrainedModel", "TrainingError", "train", "train_frame"]
