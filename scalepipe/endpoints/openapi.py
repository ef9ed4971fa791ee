"""The OpenAPI document and the docs page, generated from the served models' signatures."""

from __future__ import annotations

import html
from typing import TYPE_CHECKING, Any

from scalepipe.endpoints.routes import ROUTES, Route
from scalepipe.version import __version__

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
    signature = predictor.signature
    return signature.to_json_schema(accept_text=True) | {"example": signature.example()}


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


def _responses(
    ok: dict[str, Any], media: str, error_schema: dict[str, Any], takes_media: bool = False
) -> dict[str, Any]:
    error = {"content": {"application/json": {"schema": error_schema}}}
    errors = _ERRORS | (_STATUS_ERRORS if takes_media else {})
    answers: dict[str, Any] = {"200": {"description": "OK", "content": {media: {"schema": ok}}}}
    return answers | {status: {"description": text, **error} for status, text in errors.items()}


_BOOK_ANSWER = {
    "type": "object",
    "properties": {"response": {"type": "string"}, "success": {"type": "boolean"}},
}
_OBJECT = {"type": "object"}
_MLFLOW_ERROR = {
    "type": "object",
    "properties": {"error_code": {"type": "string"}, "message": {"type": "string"}},
    "required": ["error_code", "message"],
}
_V2_ERROR = {"type": "object", "properties": {"error": {"type": "string"}}, "required": ["error"]}
_STATUS_ERRORS = {"415": "a content type the route does not take"}


def _batch_schema(predictor: Predictor) -> dict[str, Any]:
    features = _features_schema(predictor)
    row = {
        "type": "array",
        "items": {
            "anyOf": [{"type": "number"}, {"type": "boolean"}, {"type": "null"}, _NUMBER_TEXT]
        },
    }
    rows = {"type": "array", "items": row}
    records = {"type": "array", "items": features}
    one_of = [
        {
            "type": "object",
            "properties": {"instances": {"anyOf": [records, rows]}},
            "required": ["instances"],
        },
        {
            "type": "object",
            "properties": {"inputs": {"anyOf": [records, rows, {"type": "object"}]}},
            "required": ["inputs"],
        },
        {
            "type": "object",
            "properties": {"dataframe_records": records},
            "required": ["dataframe_records"],
        },
        {
            "type": "object",
            "properties": {
                "dataframe_split": {
                    "type": "object",
                    "properties": {
                        "columns": {"type": "array", "items": {"type": "string"}},
                        "data": rows,
                    },
                    "required": ["data"],
                }
            },
            "required": ["dataframe_split"],
        },
    ]
    return {"oneOf": one_of}


def _tensor_request(predictor: Predictor) -> dict[str, Any]:
    tensor = {
        "type": "object",
        "properties": {
            "name": {"type": "string"},
            "shape": {"type": "array", "items": {"type": "integer", "minimum": 0}},
            "datatype": {"type": "string", "enum": ["BOOL", "INT32", "INT64", "FP32", "FP64"]},
            "data": {"type": "array"},
        },
        "required": ["name", "shape", "datatype", "data"],
    }
    return {
        "type": "object",
        "properties": {"id": {"type": "string"}, "inputs": {"type": "array", "items": tensor}},
        "required": ["inputs"],
    }


_PREDICTIONS = {
    "type": "object",
    "properties": {"predictions": {"type": "array", "items": {"type": "number"}}},
    "required": ["predictions"],
}
_INFER_ANSWER = {
    "type": "object",
    "properties": {
        "model_name": {"type": "string"},
        "model_version": {"type": "string"},
        "outputs": {"type": "array", "items": _OBJECT},
    },
    "required": ["model_name", "outputs"],
}
_RELOAD_ANSWER = {
    "type": "object",
    "properties": {"reloaded": _OBJECT, "models": _OBJECT},
    "required": ["reloaded", "models"],
}


def _json_body(schema: dict[str, Any]) -> dict[str, Any]:
    return {"required": True, "content": {"application/json": {"schema": schema}}}


def _operation(
    route: Route, method: str, predictor: Predictor | None, first: Predictor
) -> dict[str, Any]:
    """One route's method: its summary, request and answers."""
    subject = predictor or first
    operation: dict[str, Any] = {"summary": route.summary.replace("{name}", subject.name)}
    answer: dict[str, Any] = _OBJECT
    media = "application/json"
    if route.action == "book_predict":
        answer = _BOOK_ANSWER
        if method == "GET":
            operation["parameters"] = [
                {"name": name, "in": "query", "required": True, "schema": _NUMBER_TEXT}
                for name in first.signature.names
            ]
        else:
            operation["requestBody"] = _json_body(_features_schema(first))
    elif route.action == "echo":
        answer = _ECHO
        if method == "GET":
            operation["parameters"] = [{"name": "msg", "in": "query", "schema": {"type": "string"}}]
        else:
            operation["requestBody"] = _json_body({"type": "object", "properties": {"msg": {}}})
    elif route.action == "predict":
        operation["requestBody"] = _json_body(_batch_schema(subject))
        answer = _PREDICTIONS
    elif route.action in ("invocations", "endpoint_invocations"):
        csv_text = {
            "type": "string",
            "example": ",".join(subject.signature.names)
            + "\n"
            + ",".join("1" for _ in subject.signature.names),
        }
        operation["requestBody"] = {
            "required": True,
            "content": {
                "application/json": {"schema": _batch_schema(subject)},
                "text/csv": {"schema": csv_text},
            },
        }
        answer = _PREDICTIONS
    elif route.action == "v2_infer":
        operation["requestBody"] = _json_body(_tensor_request(subject))
        answer = _INFER_ANSWER
    elif route.action == "reload":
        answer = _RELOAD_ANSWER
    elif route.action == "prometheus" or route.action == "version":
        answer, media = {"type": "string"}, "text/plain"
    elif route.action == "docs":
        answer, media = {"type": "string"}, "text/html"
    error = {"v2": _V2_ERROR, "mlflow": _MLFLOW_ERROR}.get(route.error_style, _ERROR)
    operation["responses"] = _responses(answer, media, error, route.protocol == "mlflow")
    if route.open:
        operation["security"] = []
    return operation


def openapi_document(predictors: list[Predictor]) -> dict[str, Any]:
    """Every route of endpoints/routes.py; a model's routes once per served model."""
    first = predictors[0]
    paths: dict[str, Any] = {}
    for route in ROUTES:
        subjects: list[Predictor | None] = list(predictors) if route.parameters else [None]
        for predictor in subjects:
            path = route.template
            if predictor is not None:
                path = path.replace("{name}", predictor.name).replace(
                    "{version}", str(predictor.version)
                )
            operations = paths.setdefault(path, {})
            for method in route.methods:
                operations[method.lower()] = _operation(route, method, predictor, first)
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
