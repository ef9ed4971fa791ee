"""The signature: the contract between a trained model and every target that serves it.

Ordered feature names with their types, and what the model outputs (the probability
of the positive class, or a value). Training writes it, the store keeps it, the
Predictor validates every input against it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, TypeVar, cast

from scalepipe.errors import SignatureError as SignatureError

if TYPE_CHECKING:
    import pandas as pd

FeatureType = Literal["integer", "float", "boolean"]
OutputKind = Literal["probability", "value"]
_FEATURE_TYPES: tuple[FeatureType, ...] = ("integer", "float", "boolean")
_OUTPUT_KINDS: tuple[OutputKind, ...] = ("probability", "value")
T = TypeVar("T", bound=str)


@dataclass(frozen=True)
class Feature:
    name: str
    type: FeatureType


@dataclass(frozen=True)
class Signature:
    features: tuple[Feature, ...]
    output: OutputKind
    target: str

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(feature.name for feature in self.features)

    @classmethod
    def from_frame(
        cls, frame: pd.DataFrame, features: tuple[str, ...], target: str, output: OutputKind
    ) -> Signature:
        missing = [name for name in features if name not in frame.columns]
        if missing:
            raise SignatureError(f"the training data lacks feature(s) {', '.join(missing)}")
        return cls(
            features=tuple(Feature(name, _feature_type(frame[name])) for name in features),
            output=output,
            target=target,
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "features": [{"name": f.name, "type": f.type} for f in self.features],
            "output": self.output,
            "target": self.target,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Signature:
        try:
            features = tuple(
                Feature(str(item["name"]), _checked(item["type"], _FEATURE_TYPES, "feature type"))
                for item in data["features"]
            )
            output = _checked(data["output"], _OUTPUT_KINDS, "output kind")
            return cls(features=features, output=output, target=str(data["target"]))
        except (KeyError, TypeError) as error:
            raise SignatureError(f"malformed signature: missing or wrong {error}") from error


def _feature_type(column: pd.Series) -> FeatureType:
    import pandas as pd

    if pd.api.types.is_bool_dtype(column):
        return "boolean"
    if pd.api.types.is_integer_dtype(column):
        return "integer"
    if pd.api.types.is_float_dtype(column):
        return "float"
    raise SignatureError(f"feature {column.name!r} must be numeric or boolean, got {column.dtype}")


def _checked(value: object, allowed: tuple[T, ...], what: str) -> T:
    if value not in allowed:
        raise SignatureError(f"unknown {what} {value!r}; expected one of {', '.join(allowed)}")
    return cast(T, value)  # type: ignore[redundant-cast]
