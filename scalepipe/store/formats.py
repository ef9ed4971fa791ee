"""Model formats: save a model as an MLflow model directory, load its artifact safely.

scikit-learn models are saved with skops and Keras models as .keras files; both load
without running code from the artifact. Pickle runs code on load, so it is written and
read only when the caller opts in with allow_pickle=True.

Linear and logistic regressions (also behind StandardScaler in a Pipeline) also get
linear.json: their weights with the scaler folded in, so the Predictor can score them
with plain arithmetic and never import scikit-learn.
"""

from __future__ import annotations

import json
import os
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from scalepipe.signature import Signature
from scalepipe.store.card import ArtifactFormat, FastPath
from scalepipe.store.errors import StoreError, UnsafeModelError
from scalepipe.store.trusted import check_skops

LINEAR_FILE = "linear.json"
SKOPS_PATH = "model.skops"
PICKLE_PATH = "model.pkl"
KERAS_PATH = "data/model.keras"
SAFE_KERAS = (3, 11, 3)
PICKLE_WARNING = (
    "pickle runs code from the artifact when it loads; use it only for models you trust"
)


@dataclass(frozen=True)
class SavedArtifact:
    format: ArtifactFormat
    path: str
    fast_path: FastPath | None


def save_mlflow_model(
    model: Any, folder: Path, *, signature: Signature, allow_pickle: bool
) -> SavedArtifact:
    """Write `model` as a valid MLflow model directory in `folder` (which must not exist).

    The signature goes into MLmodel too, so that MLflow's own tools (`mlflow models serve`,
    pyfunc) pick the features by name rather than by position.
    """
    probability = signature.output == "probability"
    if _is_keras(model):
        import mlflow.keras

        mlflow.keras.save_model(
            model,
            str(folder),
            pip_requirements=_requirements("keras", "torch"),
            signature=_mlflow_signature(signature, keras=True),
        )
        return SavedArtifact("keras", KERAS_PATH, None)
    import mlflow.sklearn

    mlflow_signature = _mlflow_signature(signature)
    predict_fn = "predict_proba" if probability and hasattr(model, "predict_proba") else "predict"
    library_types, untrusted = _skops_types(model)
    if untrusted and not allow_pickle:
        raise UnsafeModelError(
            f"the model holds types that scalepipe does not load safely ({untrusted}); "
            "publish it with allow_pickle=True (--allow-pickle) if you trust its code"
        )
    if untrusted or not _is_sklearn(model):
        if not allow_pickle:
            raise UnsafeModelError(
                f"{type(model).__name__} is neither a scikit-learn nor a Keras model; it can only "
                "be stored with pickle: pass allow_pickle=True (--allow-pickle) if you trust it"
            )
        warnings.warn(PICKLE_WARNING, stacklevel=3)
        mlflow.sklearn.save_model(
            model,
            str(folder),
            serialization_format="cloudpickle",
            pip_requirements=_requirements("scikit-learn", "cloudpickle"),
            pyfunc_predict_fn=predict_fn,
            signature=mlflow_signature,
        )
        return SavedArtifact("pickle", PICKLE_PATH, None)
    mlflow.sklearn.save_model(
        model,
        str(folder),
        serialization_format="skops",
        skops_trusted_types=library_types or None,
        pip_requirements=_requirements("scikit-learn", "skops"),
        pyfunc_predict_fn=predict_fn,
        signature=mlflow_signature,
    )
    form = linear_form(model)
    if form is not None:
        (folder / LINEAR_FILE).write_text(json.dumps(form))
    return SavedArtifact("skops", SKOPS_PATH, form["kind"] if form else None)


_MLFLOW_TYPES = {"integer": "long", "float": "double", "boolean": "boolean"}


def _mlflow_signature(signature: Signature, keras: bool = False) -> Any:
    """The features as MLflow's column schema (its types: long, double, boolean); MLflow's
    Keras flavor takes one float32 tensor of the features in the signature's order."""
    import numpy as np
    from mlflow.models.signature import ModelSignature
    from mlflow.types.schema import ColSpec, Schema, TensorSpec

    columns: list[ColSpec | TensorSpec]
    if keras:
        columns = [TensorSpec(np.dtype(np.float32), (-1, len(signature.features)), "features")]
    else:
        columns = [ColSpec(_MLFLOW_TYPES[f.type], f.name) for f in signature.features]
    return ModelSignature(inputs=Schema(columns))


def load_artifact(format: ArtifactFormat, data: bytes, *, allow_pickle: bool = False) -> Any:
    """The model object from its verified artifact bytes."""
    if format == "skops":
        import skops.io

        return skops.io.loads(data, trusted=check_skops(data))
    if format == "keras":
        keras = _keras()
        if _version(keras.__version__) < SAFE_KERAS:
            raise UnsafeModelError(
                f"Keras {keras.__version__} has known safe_mode bypasses; install keras>=3.11.3 "
                "to load .keras models"
            )
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "model.keras"
            path.write_bytes(data)
            try:
                return keras.saving.load_model(path, safe_mode=True, compile=False)
            except ValueError as error:
                if "safe_mode" not in str(error):
                    raise
                raise UnsafeModelError(
                    "the .keras artifact holds code (a Lambda layer or a Python function), which "
                    f"scalepipe does not run: {str(error).splitlines()[0]}"
                ) from None
    if format == "pickle":
        if not allow_pickle:
            raise UnsafeModelError(
                "this model is stored with pickle, which runs code from the artifact as it loads; "
                "pass allow_pickle=True (--allow-pickle) only if you trust where it came from"
            )
        warnings.warn(PICKLE_WARNING, stacklevel=3)
        import cloudpickle

        return cloudpickle.loads(data)
    raise StoreError(f"unknown artifact format {format!r}")


def linear_form(model: Any) -> dict[str, Any] | None:
    """Weights and bias of a linear or binary logistic model, a leading scaler folded in."""
    from sklearn.linear_model import LinearRegression, LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    scalers: list[Any] = []
    final = model
    if isinstance(model, Pipeline):
        *steps, final = [step for _, step in model.steps if step != "passthrough"]
        if not all(isinstance(step, StandardScaler) for step in steps):
            return None
        scalers = steps
    if isinstance(final, LogisticRegression) and len(final.classes_) == 2:
        kind: FastPath = "logistic"
        weights, bias = [float(w) for w in final.coef_[0]], float(final.intercept_[0])
    elif isinstance(final, LinearRegression) and final.coef_.ndim == 1:
        kind = "linear"
        weights, bias = [float(w) for w in final.coef_], float(final.intercept_)
    else:
        return None
    for scaler in reversed(scalers):
        mean = scaler.mean_ if scaler.with_mean else [0.0] * len(weights)
        scale = scaler.scale_ if scaler.with_std else [1.0] * len(weights)
        bias -= sum(w * float(m) / float(s) for w, m, s in zip(weights, mean, scale, strict=True))
        weights = [w / float(s) for w, s in zip(weights, scale, strict=True)]
    return {"kind": kind, "weights": weights, "bias": bias}


def _skops_types(model: Any) -> tuple[list[str], str | None]:
    """(the types skops must be told to trust, why the model cannot be stored safely)."""
    import skops.io

    try:
        return check_skops(skops.io.dumps(model)), None
    except UnsafeModelError as error:
        return [], str(error)
    except Exception as error:  # skops refuses what it cannot represent at all
        return [], f"{type(model).__name__}: {error}"


def _is_sklearn(model: Any) -> bool:
    try:
        from sklearn.base import BaseEstimator
    except ImportError:
        return False
    return isinstance(model, BaseEstimator)


def _is_keras(model: Any) -> bool:
    return any(cls.__module__.startswith("keras") for cls in type(model).__mro__)


def _version(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in text.split("+")[0].split(".")[:3] if part.isdigit())


def _keras() -> Any:
    os.environ.setdefault("KERAS_BACKEND", "torch")
    import keras

    return keras


def _requirements(*libraries: str) -> list[str]:
    from importlib import metadata

    pinned = []
    for library in libraries:
        try:
            pinned.append(f"{library}=={metadata.version(library).split('+')[0]}")
        except metadata.PackageNotFoundError:
            pinned.append(library)
    return pinned
