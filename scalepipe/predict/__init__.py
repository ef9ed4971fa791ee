"""The Predictor: load a published model and predict safely and fast."""

from scalepipe.predict.inputs import InvalidInput
from scalepipe.predict.predictor import Predictor

__all__ = ["InvalidInput", "Predictor"]
