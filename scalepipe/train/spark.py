"""The book's chapter 6 training on Spark: MLlib's VectorAssembler and LogisticRegression
(or LinearRegression) fitted on a Spark DataFrame.

MLlib's linear models are published as the scikit-learn model with the same
coefficients, so that the version serves everywhere, on the Predictor's linear fast path
(no Spark at serving time). The loss is set to match scikit-learn's defaults: L2 with
`regParam = 1 / n` (scikit-learn's C=1 on a summed loss) and no standardization, so that
both fit the same model.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from scalepipe.errors import TrainingError
from scalepipe.spark import spark_session

MLLIB_RECIPES = ("logistic", "linear")


class MLlibEstimator:
    """fit(X, y) on Spark; `artifact` is the fitted scikit-learn twin that gets published."""

    def __init__(self, recipe: str, seed: int, master: str | None = None) -> None:
        if recipe not in MLLIB_RECIPES:
            raise TrainingError(
                f"--engine spark trains {' and '.join(MLLIB_RECIPES)} models (MLlib), not {recipe}"
            )
        self.recipe = recipe
        self.seed = seed
        self.master = master
        self.artifact: Any = None
        self.mllib_model: Any = None
        self.iterations = 0

    def get_params(self) -> dict[str, Any]:
        return {"engine": "spark", "mllib": self._mllib_name(), "standardization": False}

    def fit(self, features: pd.DataFrame, target: Any) -> MLlibEstimator:
        import pyarrow as pa
        from pyspark.ml import Pipeline
        from pyspark.ml.classification import LogisticRegression
        from pyspark.ml.feature import VectorAssembler
        from pyspark.ml.regression import LinearRegression

        spark = spark_session(self.master)
        names = [str(name) for name in features.columns]
        table = pa.Table.from_pandas(
            features.astype("float64").assign(__label=np.asarray(target, dtype=np.float64)),
            preserve_index=False,
        )
        frame = spark.createDataFrame(table)
        assembler = VectorAssembler(inputCols=names, outputCol="__features")
        if self.recipe == "logistic":
            stage: Any = LogisticRegression(
                featuresCol="__features", labelCol="__label", regParam=1.0 / len(features),
                elasticNetParam=0.0, standardization=False, maxIter=1000, tol=1e-12,
            )  # fmt: skip
        else:
            stage = LinearRegression(
                featuresCol="__features", labelCol="__label", regParam=0.0,
                standardization=False, solver="normal",
            )  # fmt: skip
        fitted: Any = Pipeline(stages=[assembler, stage]).fit(frame).stages[-1]
        coefficients = np.asarray(fitted.coefficients.toArray(), dtype=np.float64)
        self.iterations = int(getattr(fitted.summary, "totalIterations", 0))
        self.mllib_model = fitted
        self.artifact = _scikit_learn_twin(
            self.recipe, names, coefficients, float(fitted.intercept), target
        )
        return self

    def _mllib_name(self) -> str:
        return "LogisticRegression" if self.recipe == "logistic" else "LinearRegression"


def _scikit_learn_twin(
    recipe: str, names: list[str], coefficients: np.ndarray, intercept: float, target: Any
) -> Any:
    """The fitted scikit-learn model with MLlib's coefficients."""
    from sklearn.linear_model import LinearRegression, LogisticRegression

    model: Any
    if recipe == "logistic":
        model = LogisticRegression()
        model.classes_ = np.unique(np.asarray(target))
        if len(model.classes_) != 2:
            raise TrainingError("MLlib's logistic regression here needs a binary target")
        model.coef_ = coefficients.reshape(1, -1)
        model.intercept_ = np.array([intercept])
        model.n_iter_ = np.array([1], dtype=np.int32)
    else:
        model = LinearRegression()
        model.coef_ = coefficients
        model.intercept_ = intercept
    model.n_features_in_ = len(names)
    model.feature_names_in_ = np.array(names, dtype=object)
    return model
