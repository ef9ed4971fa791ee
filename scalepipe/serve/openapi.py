"""The OpenAPI document and the docs page, generated from the served models' signatures."""

from __future__ import annotations

import html
from typing import TYPE_CHECKING, Any

from scalepipe import __version__

if TYPE_CHECKING:
    from scalepipe.predict import Predictor

_ERROR = {
    "type": "object",
    "properties": {
        "success": {"const": False},
        "error": {"type": "string"},
        "field": {"type": "string"},
    },
    "required": ["success", "error"],
}


def _features_schema(predictor: Predictor) -> dict[str, Any]:
    properties: dict[str, Any] = {}
    for feature in predictor.signature.features:
        number = {"type": "integer" if feature.type == "integer" else "number"}
        properties[feature.name] = {
            "anyOf": [
                number,
                {"type": "string", "pattern": r"^-?[0-9]+(\.[0-9]+)?$"},
                {"type": "boolean"},
            ]
        }
    return {
        "type": "object",
        "properties": properties,
        "required": list(predictor.signature.names),
        "additionalProperties": True,
    }


def _responses(ok: dict[str, Any]) -> dict[str, Any]:
    error = {"content": {"application/json": {"schema": _ERROR}}}
    return {
        "200": {"description": "OK", "content": {"application/json": {"schema": ok}}},
        "400": {"description": "malformed JSON", **error},
        "401": {"description": "missing or wrong API key", **error},
        "413": {"description": "body over the limit", **error},
        "422": {"description": "invalid features, naming the field", **error},
    }


def openapi_document(predictors: list[Predictor]) -> dict[str, Any]:
    first = predictors[0]
    book_answer = {
        "type": "object",
        "properties": {"response": {"type": "string"}, "success": {"type": "boolean"}},
    }
    paths: dict[str, Any] = {
        "/": {
            "get": {
                "summary": f"The book's client: {first.name} from query arguments",
                "parameters": [
                    {"name": name, "in": "query", "required": True, "schema": {"type": "string"}}
                    for name in first.signature.names
                ],
                "responses": _responses(book_answer),
            },
            "post": {
                "summary": f"The book's client: {first.name} from a JSON object",
                "requestBody": {
                    "content": {"application/json": {"schema": _features_schema(first)}}
                },
                "responses": _responses(book_answer),
            },
        },
        "/v1/models": {
            "get": {"summary": "The served models", "responses": _responses({"type": "object"})}
        },
        "/healthz": {
            "get": {"summary": "The process is up", "responses": _responses({"type": "object"})}
        },
        "/readyz": {
            "get": {"summary": "The models are loaded", "responses": _responses({"type": "object"})}
        },
    }
    for predictor in predictors:
        features = _features_schema(predictor)
        paths[f"/v1/models/{predictor.name}"] = {
            "get": {
                "summary": f"{predictor.name}: version, signature, metrics",
                "responses": _responses({"type": "object"}),
            }
        }
        paths[f"/v1/models/{predictor.name}/predict"] = {
            "post": {
                "summary": f"Predict with {predictor.name} ({predictor.output})",
                "requestBody": {
                    "content": {
                        "application/json": {
                            "schema": {
                                "oneOf": [
                                    {
                                        "type": "object",
                                        "properties": {
                                            "instances": {"type": "array", "items": features}
                                        },
                                        "required": ["instances"],
                                    },
                                    {
                                        "type": "object",
                                        "properties": {
                                            "dataframe_split": {
                                                "type": "object",
                                                "properties": {
                                                    "columns": {
                                                        "type": "array",
                                                        "items": {"type": "string"},
                                                    },
                                                    "data": {
                                                        "type": "array",
                                                        "items": {"type": "array"},
                                                    },
                                                },
                                                "required": ["columns", "data"],
                                            }
                                        },
                                        "required": ["dataframe_split"],
                                    },
                                ]
                            }
                        }
                    }
                },
                "responses": _responses(
                    {
                        "type": "object",
                        "properties": {
                            "predictions": {"type": "array", "items": {"type": "number"}},
                            "model": {"type": "object"},
                        },
                    }
                ),
            }
        }
    return {
        "openapi": "3.0.3",
        "info": {"title": "scalepipe model server", "version": __version__},
        "paths": paths,
        "components": {
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer"},
                "apiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
            }
        },
    }


def docs_page(predictors: list[Predictor]) -> str:
    """A self-contained page: no scripts or fonts from the network."""
    sections = []
    for predictor in predictors:
        example = ", ".join(f'"{name}": 1' for name in predictor.signature.names)
        features = ", ".join(f"{f.name} ({f.type})" for f in predictor.signature.features)
        sections.append(
            f"<h2>{html.escape(predictor.name)} version {predictor.version}</h2>"
            f"<p>{html.escape(features)} &rarr; {predictor.output}</p>"
            f"<pre>curl -X POST localhost:8000/v1/models/{html.escape(predictor.name)}/predict "
            "-H 'Content-Type: application/json' "
            f"-d '{{\"instances\": [{{{html.escape(example)}}}]}}'</pre>"
        )
    first = predictors[0]
    query = "&amp;".join(f"{html.escape(name)}=1" for name in first.signature.names)
    return (
        "<!doctype html><html><head><meta charset='utf-8'><title>scalepipe model server</title>"
        "<style>body{font-family:sans-serif;max-width:60em;margin:2em auto}pre{background:#f4f4f4;"
        "padding:1em;overflow-x:auto}</style></head><body><h1>scalepipe model server</h1>"
        f"<p>The book's client: <code>GET /?{query}</code> answers "
        '<code>{"response": "0.39", "success": true}</code>. '
        "The machine-readable API: <a href='/openapi.json'>/openapi.json</a>.</p>"
        + "".join(sections)
        + "</body></html>"
    )
