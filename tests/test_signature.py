"""The signature's own forms: JSON Schema (the OpenAPI document, the app to come), Arrow
(batch sources and sinks) and an example record."""

from __future__ import annotations

import jsonschema
import pyarrow as pa
import pytest

from scalepipe.signature import Feature, Signature
from tests import models

SIGNATURE = Signature(
    (Feature("age", "integer"), Feature("weight", "float"), Feature("smoker", "boolean")),
    "value",
    "birth_weight",
)


def test_the_example_is_valid_and_text_is_valid_only_when_accepted() -> None:
    strict = SIGNATURE.to_json_schema()
    lenient = SIGNATURE.to_json_schema(accept_text=True)
    jsonschema.validate(SIGNATURE.example(), strict)
    jsonschema.validate(SIGNATURE.example(), lenient)
    as_text = {"age": "31", "weight": "7.5", "smoker": 0}
    jsonschema.validate(as_text, lenient)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(as_text, strict)
    with pytest.raises(jsonschema.ValidationError, match="'weight' is a required property"):
        jsonschema.validate({"age": 1, "smoker": True}, lenient)


def test_the_books_request_is_valid_for_the_games_signature() -> None:
    schema = models.fitted("logistic").signature.to_json_schema(accept_text=True)
    jsonschema.validate(models.BOOK_REQUEST, schema)


def test_the_arrow_schema_types_each_feature() -> None:
    assert SIGNATURE.to_arrow_schema() == pa.schema(
        [
            pa.field("age", pa.int64(), nullable=False),
            pa.field("weight", pa.float64(), nullable=False),
            pa.field("smoker", pa.bool_(), nullable=False),
        ]
    )
