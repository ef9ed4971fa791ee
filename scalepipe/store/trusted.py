"""The exact types a scikit-learn artifact may hold before skops is allowed to load it.

skops rebuilds objects by importing the module and name that each node of the file
names, and some nodes call what they import (a constructor "from reduce", a loss).
Trusting a prefix such as "numpy." therefore trusts functions too: a crafted file
naming `numpy.testing._private.utils.runstring` runs any string on load. So the
artifact's schema is read here first, without constructing anything, and every type
and every node kind it names must be one of the exact names below: the classes that
scalepipe's recipes produce (and a StandardScaler pipeline in front of a linear
model), their internal types, and numpy's array and dtype types. Anything else is
refused with UnsafeModelError naming it.
"""

from __future__ import annotations

import io
import json
import zipfile
from typing import Any

from scalepipe.store.errors import UnsafeModelError

NUMPY_DTYPES = (
    "bool", "bool_", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64",
    "float16", "float32", "float64", "intp", "uintp",
)  # fmt: skip
BIT_GENERATORS = ("PCG64", "PCG64DXSM", "MT19937", "Philox", "SFC64")
SKOPS_TYPES = frozenset(
    {
        # The recipes' estimators, a scaler pipeline in front of them, and their parts.
        "sklearn.linear_model._base.LinearRegression",
        "sklearn.linear_model._logistic.LogisticRegression",
        "sklearn.ensemble._hist_gradient_boosting.gradient_boosting.HistGradientBoostingClassifier",
        "sklearn.ensemble._hist_gradient_boosting.gradient_boosting.HistGradientBoostingRegressor",
        "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
        "sklearn.ensemble._hist_gradient_boosting.binning._BinMapper",
        "sklearn.preprocessing._label.LabelEncoder",
        "sklearn.preprocessing._data.StandardScaler",
        "sklearn.pipeline.Pipeline",
        "sklearn._loss.loss.HalfBinomialLoss",
        "sklearn._loss.loss.HalfSquaredError",
        "sklearn._loss._loss.CyHalfBinomialLoss",
        "sklearn._loss._loss.CyHalfSquaredError",
        "sklearn._loss.link.IdentityLink",
        "sklearn._loss.link.LogitLink",
        "sklearn._loss.link.Interval",
        # numpy's containers, scalar/dtype types and the random generator's classes.
        "numpy.ndarray",
        "numpy.random._generator.Generator",
        *(f"numpy.{dtype}" for dtype in NUMPY_DTYPES),
        *(f"numpy.random.{bits}" for bits in BIT_GENERATORS),
        # Plain data.
        *(
            f"builtins.{kind}"
            for kind in ("dict", "list", "tuple", "str", "int", "float", "bool", "NoneType")
        ),
    }
)
# Node kinds that only rebuild data or call the type they name (itself checked above).
# FunctionNode, MethodNode, PartialNode, OperatorFuncNode and the general
# ConstructorFromReduceNode hand back or call arbitrary callables: never allowed.
SKOPS_LOADERS = frozenset(
    {
        "DictNode",
        "ListNode",
        "TupleNode",
        "JsonNode",
        "TypeNode",
        "ObjectNode",
        "NdArrayNode",
        "LossNode",
        "RandomGeneratorNode",
    }
)
SCHEMA_FILE = "schema.json"
MAX_SCHEMA_BYTES = 64 << 20


def check_skops(data: bytes) -> list[str]:
    """Refuse an artifact that names anything outside the allowlist; nothing is constructed.

    Returns the names skops must be told to trust (a subset of SKOPS_TYPES).
    """
    schema = _schema(data)
    named: set[str] = set()
    loaders: set[str] = set()
    _collect(schema, named, loaders)
    unsafe = sorted((named - SKOPS_TYPES) | {f"node {kind}" for kind in loaders - SKOPS_LOADERS})
    if unsafe:
        raise UnsafeModelError(
            "the skops artifact names types scalepipe does not load: " + ", ".join(unsafe)
        )
    import skops.io

    declared = skops.io.get_untrusted_types(data=data)
    beyond = sorted(set(declared) - SKOPS_TYPES)
    if beyond:
        raise UnsafeModelError(
            "the skops artifact names types scalepipe does not load: " + ", ".join(beyond)
        )
    return list(declared)


def _schema(data: bytes) -> Any:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            info = archive.getinfo(SCHEMA_FILE)
            if info.file_size > MAX_SCHEMA_BYTES:
                raise UnsafeModelError(
                    f"the skops artifact's {SCHEMA_FILE} is {info.file_size:,} bytes unpacked, "
                    f"over the {MAX_SCHEMA_BYTES:,}-byte limit"
                )
            return json.loads(archive.read(info))
    except (zipfile.BadZipFile, KeyError, ValueError) as error:
        raise UnsafeModelError(f"the skops artifact is unreadable: {error}") from None


def _collect(node: Any, named: set[str], loaders: set[str]) -> None:
    stack = [node]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            if "__loader__" in item:
                loaders.add(str(item["__loader__"]))
            if "__class__" in item or "__module__" in item:
                named.add(f"{item.get('__module__')}.{item.get('__class__')}")
            if item.get("__loader__") == "RandomGeneratorNode":
                named.add(f"numpy.random.{_bit_generator(item)}")
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


def _bit_generator(node: dict[str, Any]) -> str:
    try:
        state = node["content"]["bit_generator"]["content"]
        return str(json.loads(state["bit_generator"]["content"]))
    except (KeyError, TypeError, ValueError):
        return "<missing bit generator>"
