"""One HTTP request and its answer, whatever carried it: an ASGI server, an AWS Lambda
event (API Gateway REST or HTTP API, an Application Load Balancer, a direct invocation) or
a Cloud Functions request."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import unquote_plus

from scalepipe.endpoints import jsoncodec
from scalepipe.types import Header, Response

JSON_TYPE = (b"content-type", b"application/json")
HTML_TYPE = (b"content-type", b"text/html; charset=utf-8")
TEXT_TYPE = (b"content-type", b"text/plain; charset=utf-8")
# How each protocol words an error: scalepipe's and the book's {"success": false, "error"},
# MLflow's {"error_code", "message"}, the Open Inference Protocol's {"error"}.
ErrorStyle = Literal["scalepipe", "mlflow", "v2"]
_MLFLOW_CODES = {
    400: "BAD_REQUEST",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "RESOURCE_DOES_NOT_EXIST",
    422: "INVALID_PARAMETER_VALUE",
}


class HttpError(Exception):
    def __init__(self, status: int, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.field = field


@dataclass(slots=True)
class Request:
    method: str
    path: str
    query: bytes = b""
    headers: Sequence[Header] = ()
    body: bytes = b""
    # Let in by the platform already (a function's direct invocation, authorised by IAM).
    trusted: bool = False
    params: dict[str, str] = field(default_factory=dict)  # from the route's template

    def header(self, name: bytes) -> bytes | None:
        for key, value in self.headers:
            if key == name:
                return value
        return None

    def media_type(self) -> tuple[str, dict[str, str]]:
        """The Content-Type's media type (lower case) and its parameters."""
        raw = self.header(b"content-type")
        if raw is None:
            return "", {}
        kind, *rest = raw.decode("latin-1").split(";")
        parameters = {}
        for item in rest:
            key, _, value = item.partition("=")
            parameters[key.strip().lower()] = value.strip().strip('"')
        return kind.strip().lower(), parameters

    def json(self, *, numeric: bool = False) -> Any:
        """The body as JSON ({} when empty); HttpError(400) when it is not JSON. `numeric`:
        large arrays of plain numbers come back as numpy arrays (jsoncodec.loads_numeric)."""
        if not self.body:
            return {}
        try:
            if numeric:
                return jsoncodec.loads_numeric(self.body)
            return jsoncodec.loads(self.body)
        except jsoncodec.JSONDecodeError as error:
            raise HttpError(400, f"malformed JSON: {error}") from None

    def arguments(self) -> dict[str, Any]:
        """The book's clients: a JSON object in the body (with any method: the book's echo
        client sends one with GET), else the query arguments."""
        if self.body:
            parsed = self.json()
            if not isinstance(parsed, dict):
                raise HttpError(400, "the JSON body must be an object")
            return parsed
        return query_arguments(self.query)


def query_arguments(raw: bytes) -> dict[str, str]:
    if not raw:
        return {}
    text = raw.decode("latin-1")
    encoded = "%" in text or "+" in text
    params = {}
    for pair in text.split("&"):
        if pair:
            name, _, value = pair.partition("=")
            if encoded:
                name, value = unquote_plus(name), unquote_plus(value)
            params[name] = value
    return params


def json_response(status: int, payload: Any, headers: Iterable[Header] = ()) -> Response:
    body = jsoncodec.dumps(payload)
    return status, body, [JSON_TYPE, (b"content-length", str(len(body)).encode()), *headers]


def body_response(
    status: int, body: bytes, content_type: Header, headers: Iterable[Header] = ()
) -> Response:
    return status, body, [content_type, (b"content-length", str(len(body)).encode()), *headers]


def error_response(error: HttpError, style: ErrorStyle = "scalepipe") -> Response:
    payload: dict[str, Any]
    if style == "mlflow":
        code = _MLFLOW_CODES.get(
            error.status, "BAD_REQUEST" if error.status < 500 else "INTERNAL_ERROR"
        )
        payload = {"error_code": code, "message": str(error)}
    elif style == "v2":
        payload = {"error": str(error)}
    else:
        payload = {"success": False, "error": str(error)}
        if error.field is not None:
            payload["field"] = error.field
    return json_response(error.status, payload)


def header_map(headers: Iterable[Header]) -> dict[str, str]:
    """Response headers as the serverless platforms take them (content-length is theirs)."""
    return {name.decode(): value.decode() for name, value in headers if name != b"content-length"}
