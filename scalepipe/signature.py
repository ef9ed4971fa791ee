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
_JSON_TYPES = {"integer": "integer", "float": "number", "boolean": "boolean"}
_NUMBER_TEXT = {"type": "string", "pattern": r"^-?[0-9]+(\.[0-9]+)?$"}


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

    def to_json_schema(self, *, accept_text: bool = False) -> dict[str, Any]:
        """A JSON Schema of one record. `accept_text`: also numbers written as text and
        booleans as 0/1, as the Predictor accepts them (the book's clients send "1")."""
        properties: dict[str, Any] = {}
        for feature in self.features:
            schema: dict[str, Any] = {"type": _JSON_TYPES[feature.type]}
            if accept_text:
                forms = [schema, _NUMBER_TEXT, {"type": "boolean"}]
                if feature.type == "boolean":
                    forms.insert(1, {"type": "integer", "enum": [0, 1]})
                schema = {"anyOf": forms}
            properties[feature.name] = schema
        return {
            "type": "object",
            "properties": properties,
            "required": list(self.names),
            "additionalProperties": True,
        }

    def to_arrow_schema(self) -> Any:
        """The features as a pyarrow schema (int64, float64, bool), for batch sources and sinks."""
        import pyarrow as pa

        types = {"integer": pa.int64(), "float": pa.float64(), "boolean": pa.bool_()}
        return pa.schema([pa.field(f.name, types[f.type], nullable=False) for f in self.features])

    def example(self) -> dict[str, Any]:
        """One valid record: what documentation and generated clients show."""
        values: dict[FeatureType, Any] = {"integer": 1, "float": 1.5, "boolean": True}
        return {feature.name: values[feature.type] for feature in self.features}

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
