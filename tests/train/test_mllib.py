"""The book's chapter 6 training on Spark: MLlib fits the logistic regression, and the
version it publishes serves everywhere on the linear fast path."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from scalepipe.io import load
from scalepipe.predict import Predictor
from scalepipe.signature import Signature
from scalepipe.store import ModelStore
from scalepipe.train import train_frame
from scalepipe.train.spark import MLlibEstimator
from tests.test_cli import scalepipe


def test_mllib_fits_the_same_model_as_scikit_learn(spark: Any) -> None:
    from sklearn.linear_model import LogisticRegression

    frame = load("games", rows=20_000, seed=2)
    features, target = frame.drop(columns=["label"]), frame["label"]
    # The same loss (L2, C=1, no standardization), both solved to convergence.
    mllib = MLlibEstimator("logistic", seed=0).fit(features, target).artifact
    exact = LogisticRegression(tol=1e-12, max_iter=10_000).fit(features, target)
    np.testing.assert_allclose(mllib.coef_, exact.coef_, rtol=0, atol=1e-4)
    np.testing.assert_allclose(mllib.intercept_, exact.intercept_, rtol=0, atol=1e-4)

    local = train_frame(frame, "games", "logistic", plot_dir=None)
    on_spark = train_frame(frame, "games", "logistic", plot_dir=None, engine="spark")
    assert on_spark.metrics["roc_auc"] == pytest.approx(local.metrics["roc_auc"], abs=1e-3)
    assert on_spark.metrics["roc_auc"] > 0.7  # a majority-class model scores 0.5
    assert on_spark.params["engine"] == "spark"


def test_the_published_version_scores_as_mllib_does(spark: Any, tmp_path: Path) -> None:
    frame = load("games", rows=5_000, seed=4)
    features = frame.drop(columns=["label"])
    estimator = MLlibEstimator("logistic", seed=0).fit(features, frame["label"])
    store = ModelStore(str(tmp_path / "models"))
    signature = Signature.from_frame(frame, tuple(features.columns), "label", "probability")
    version = store.publish(estimator.artifact, "games", signature=signature)
    predictor = Predictor.load(f"games:{version}", store=store)
    assert predictor.card.fast_path == "logistic"

    from pyspark.ml.feature import VectorAssembler

    sample = features.iloc[:500]
    rows = spark.createDataFrame(sample.astype("float64"))
    vectors = VectorAssembler(inputCols=list(sample.columns), outputCol="__features")
    scored = estimator.mllib_model.transform(vectors.transform(rows)).select("probability")
    mllib_scores = np.array([row["probability"][1] for row in scored.collect()])
    np.testing.assert_allclose(predictor.predict_frame(sample), mllib_scores, rtol=0, atol=1e-12)


def test_train_on_spark_from_the_command_line(tmp_path: Path) -> None:
    done = scalepipe("train", "games", "--model", "logistic", "--engine", "spark", "--rows",
                     "5000", "--publish", "--no-plot", "--json", cwd=tmp_path)  # fmt: skip
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["params"]["engine"] == "spark" and report["published"]["version"] == 1
    refused = scalepipe("train", "games", "--model", "gbm", "--engine", "spark", cwd=tmp_path)
    assert refused.returncode == 2 and "logistic and linear" in refused.stderr
