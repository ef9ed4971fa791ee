"""The OpenAPI document and the docs page, generated from the served models' signatures."""

from __future__ import annotations

import html
from typing import TYPE_CHECKING, Any

from scalepipe import __version__
from scalepipe.serve.auth import OPEN_PATHS

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


_NUMBER_TEXT = {"type": "string", "pattern": r"^-?[0-9]+(\.[0-9]+)?$"}
_ECHO = {
    "type": "object",
    "properties": {"response": {}, "success": {"type": "boolean"}},
    "required": ["success"],
}


def _features_schema(predictor: Predictor) -> dict[str, Any]:
    properties: dict[str, Any] = {}
    for feature in predictor.signature.features:
        number = {"type": "integer" if feature.type == "integer" else "number"}
        properties[feature.name] = {
            "anyOf": [
                number,
                _NUMBER_TEXT,
                {"type": "boolean"},
            ]
        }
    return {
        "type": "object",
        "properties": properties,
        "required": list(predictor.signature.names),
        "additionalProperties": True,
    }


# Every answer the server gives besides 200, on any route: the fuzz test holds the
# server to this list.
_ERRORS = {
    "400": "malformed JSON or request",
    "401": "missing or wrong API key",
    "403": "forbidden here (an admin route without API keys configured)",
    "404": "no such route or model",
    "405": "method not allowed on this route",
    "408": "the request was not complete within the request timeout",
    "413": "body over the limit",
    "422": "invalid features, naming the field",
    "431": "request line and headers over the limit",
    "503": "the worker is at its connection limit",
}


def _responses(ok: dict[str, Any], media: str = "application/json") -> dict[str, Any]:
    error = {"content": {"application/json": {"schema": _ERROR}}}
    answers: dict[str, Any] = {"200": {"description": "OK", "content": {media: {"schema": ok}}}}
    return answers | {status: {"description": text, **error} for status, text in _ERRORS.items()}


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
                    {"name": name, "in": "query", "required": True, "schema": _NUMBER_TEXT}
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
        "/echo": {
            "get": {
                "summary": "The book's echo service: msg from the query",
                "parameters": [{"name": "msg", "in": "query", "schema": {"type": "string"}}],
                "responses": _responses(_ECHO),
            },
            "post": {
                "summary": "The book's echo service: msg from a JSON object",
                "requestBody": {
                    "content": {
                        "application/json": {
                            "schema": {"type": "object", "properties": {"msg": {}}}
                        }
                    }
                },
                "responses": _responses(_ECHO),
            },
        },
        "/metrics": {
            "get": {
                "summary": "Prometheus metrics, summed over the workers",
                "responses": _responses({"type": "string"}, "text/plain"),
            }
        },
        "/openapi.json": {
            "get": {"summary": "This document", "responses": _responses({"type": "object"})}
        },
        "/docs": {
            "get": {
                "summary": "A page describing the served models",
                "responses": _responses({"type": "string"}, "text/html"),
            }
        },
        "/admin/reload": {
            "post": {
                "summary": "Reload every model in every worker (needs API keys configured)",
                "responses": _responses(
                    {
                        "type": "object",
                        "properties": {
                            "reloaded": {"type": "object"},
                            "models": {"type": "object"},
                        },
                        "required": ["reloaded", "models"],
                    }
                ),
            }
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
    for path in OPEN_PATHS & paths.keys():
        for operation in paths[path].values():
            operation["security"] = []
    return {
        "openapi": "3.0.3",
        "info": {"title": "scalepipe model server", "version": __version__},
        "paths": paths,
        "security": [{"bearer": []}, {"apiKey": []}],
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
