"""The Open Inference Protocol (KServe V2, also spoken by Triton and MLServer): typed tensors
in, typed tensors out.

An inference request carries `inputs: [{name, shape, datatype, data}]`, either one
tensor per feature (shape [n] or [n, 1], named after the feature) or one 2-D tensor of
shape [n, features] in the signature's order. `data` is JSON (flat or nested, row-major)
or, with Triton's binary extension, raw little-endian bytes after the JSON header
(`parameters.binary_data_size` on the input, the header's length in the
`Inference-Header-Content-Length` HTTP header). The answer is one output tensor, named
"probability" or "prediction", as JSON, or as binary when the request asks for it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from scalepipe.errors import InvalidInput, MalformedRequest
from scalepipe.predict.requests import Columns, Rows
from scalepipe.signature import Signature

DATATYPES = {
    "BOOL": "?",
    "UINT8": "<u1",
    "UINT16": "<u2",
    "UINT32": "<u4",
    "UINT64": "<u8",
    "INT8": "<i1",
    "INT16": "<i2",
    "INT32": "<i4",
    "INT64": "<i8",
    "FP16": "<f2",
    "FP32": "<f4",
    "FP64": "<f8",
}
FEATURE_DATATYPE = {"integer": "INT64", "float": "FP64", "boolean": "BOOL"}
HEADER_LENGTH = b"inference-header-content-length"


@dataclass(frozen=True)
class InferRequest:
    batch: Rows | Columns
    id: str | None
    binary_output: bool


def output_name(signature: Signature) -> str:
    return "probability" if signature.output == "probability" else "prediction"


def metadata(name: str, version: int, signature: Signature) -> dict[str, Any]:
    """The model metadata answer: one input tensor per feature, one output tensor."""
    return {
        "name": name,
        "versions": [str(version)],
        "platform": "scalepipe",
        "inputs": [
            {"name": f.name, "datatype": FEATURE_DATATYPE[f.type], "shape": [-1]}
            for f in signature.features
        ],
        "outputs": [{"name": output_name(signature), "datatype": "FP64", "shape": [-1]}],
    }


def split_binary(body: bytes, header_length: bytes | None) -> tuple[bytes, bytes]:
    """The JSON header and the binary tensor data of a request (no binary part: b"")."""
    if header_length is None:
        return body, b""
    if not header_length.isdigit() or int(header_length) > len(body):
        raise MalformedRequest(
            "Inference-Header-Content-Length must be a length within the body, "
            f"got {header_length.decode('latin-1')!r}"
        )
    size = int(header_length)
    return body[:size], body[size:]


def infer_request(body: Any, binary: bytes, signature: Signature) -> InferRequest:
    if not isinstance(body, dict):
        raise MalformedRequest("an inference request must be a JSON object with 'inputs'")
    inputs = body.get("inputs")
    if not isinstance(inputs, list) or not inputs:
        raise MalformedRequest("'inputs' must be a non-empty list of tensors")
    request_id = body.get("id")
    if request_id is not None and not isinstance(request_id, str):
        raise MalformedRequest("'id' must be a string")
    tensors = []
    offset = 0
    for index, tensor in enumerate(inputs):
        name, array, used = _tensor(tensor, index, binary, offset)
        offset += used
        tensors.append((name, array))
    if offset != len(binary):
        raise MalformedRequest(
            f"the binary data holds {len(binary)} bytes; the inputs use {offset}"
        )
    return InferRequest(
        _batch(tensors, signature), request_id, _binary_output(body, output_name(signature))
    )


def _tensor(tensor: Any, index: int, binary: bytes, offset: int) -> tuple[str, Any, int]:
    import numpy as np

    if not isinstance(tensor, dict):
        raise MalformedRequest(f"input {index} must be an object")
    name = tensor.get("name")
    shape = tensor.get("shape")
    datatype = tensor.get("datatype")
    if not isinstance(name, str):
        raise MalformedRequest(f"input {index} needs a 'name'")
    if (
        not isinstance(shape, list)
        or not 1 <= len(shape) <= 2
        or not all(type(n) is int and n >= 0 for n in shape)
    ):
        raise MalformedRequest(f"input {name!r}: 'shape' must be [rows] or [rows, columns]")
    if datatype not in DATATYPES:
        raise MalformedRequest(
            f"input {name!r}: datatype {datatype!r} is not a number type; "
            f"use one of {', '.join(DATATYPES)}"
        )
    dtype = np.dtype(DATATYPES[datatype])
    count = math.prod(shape)
    parameters = tensor.get("parameters") or {}
    if not isinstance(parameters, dict):
        raise MalformedRequest(f"input {name!r}: 'parameters' must be an object")
    size = parameters.get("binary_data_size")
    if size is not None:
        if type(size) is not int or size != count * dtype.itemsize:
            raise MalformedRequest(
                f"input {name!r}: binary_data_size must be {count * dtype.itemsize} "
                f"for shape {shape} of {datatype}"
            )
        if offset + size > len(binary):
            raise MalformedRequest(f"input {name!r}: the binary data ends early")
        array = np.frombuffer(binary, dtype=dtype, count=count, offset=offset)
        return name, array.reshape(shape), size
    data = tensor.get("data")
    if isinstance(data, np.ndarray):  # read straight from the body (jsoncodec.loads_numeric)
        array = data
    elif isinstance(data, list):
        try:
            array = np.array(data)
        except (TypeError, ValueError, OverflowError):
            raise MalformedRequest(
                f"input {name!r}: 'data' must be numbers, nested evenly"
            ) from None
    else:
        raise MalformedRequest(f"input {name!r}: 'data' must be a list (or binary data)")
    if array.dtype.kind not in "biuf" or (dtype.kind == "b") != (array.dtype.kind == "b"):
        raise InvalidInput(f"input {name!r} must hold {datatype} values", name)
    if array.size != count:
        raise MalformedRequest(f"input {name!r}: 'data' holds {array.size} values; shape {shape}")
    return name, array.reshape(shape), 0


def _batch(tensors: list[tuple[str, Any]], signature: Signature) -> Rows | Columns:
    names = signature.names
    if len(tensors) == 1 and tensors[0][1].ndim == 2 and tensors[0][0] not in names:
        name, matrix = tensors[0]
        if matrix.shape[1] != len(names):
            raise InvalidInput(
                f"input {name!r} must have {len(names)} columns ({', '.join(names)}), "
                f"got shape {list(matrix.shape)}"
            )
        return Rows(matrix)
    columns: dict[str, Any] = {}
    for name, array in tensors:
        if name not in names:
            raise InvalidInput(
                f"unknown input {name!r}: send one tensor per feature ({', '.join(names)}) "
                f"or one tensor of shape [rows, {len(names)}]",
                name,
            )
        if array.ndim == 2 and array.shape[1] != 1:
            raise InvalidInput(f"input {name!r} must have shape [rows] or [rows, 1]", name)
        columns[name] = array.reshape(-1)
    lengths = {len(column) for column in columns.values()}
    if len(lengths) > 1:
        raise MalformedRequest("the input tensors differ in their number of rows")
    return Columns(columns)


def _binary_output(body: dict[str, Any], output: str) -> bool:
    parameters = body.get("parameters") or {}
    wanted = bool(isinstance(parameters, dict) and parameters.get("binary_data_output"))
    outputs = body.get("outputs")
    if outputs is None:
        return wanted
    if not isinstance(outputs, list):
        raise MalformedRequest("'outputs' must be a list")
    for requested in outputs:
        if not isinstance(requested, dict) or requested.get("name") != output:
            name = requested.get("name") if isinstance(requested, dict) else requested
            raise MalformedRequest(f"unknown output {name!r}; this model answers {output!r}")
        options = requested.get("parameters") or {}
        if isinstance(options, dict) and "binary_data" in options:
            wanted = bool(options["binary_data"])
    return wanted


def infer_response(
    name: str,
    version: int,
    signature: Signature,
    scores: Sequence[float],
    request: InferRequest,
) -> tuple[dict[str, Any], bytes]:
    """The answer's JSON and, when binary output was asked for, its raw bytes."""
    output: dict[str, Any] = {
        "name": output_name(signature),
        "datatype": "FP64",
        "shape": [len(scores)],
    }
    raw = b""
    if request.binary_output:
        import numpy as np

        raw = np.asarray(scores, dtype="<f8").tobytes()
        output["parameters"] = {"binary_data_size": len(raw)}
    else:
        output["data"] = scores
    answer: dict[str, Any] = {
        "model_name": name,
        "model_version": str(version),
        "outputs": [output],
    }
    if request.id is not None:
        answer["id"] = request.id
    return answer, raw
