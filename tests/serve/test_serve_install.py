"""A serving install: `pip install 'scalepipe[serve]'` in a fresh venv, with neither pandas,
pyarrow, scikit-learn nor DuckDB, serves a linear and a logistic model over every
protocol, and runs the Lambda handler. And the command line starts fast."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from scalepipe.predict import Predictor
from scalepipe.store import ModelStore
from tests import models
from tests.serve.conftest import wait_for_url

PROJECT = Path(__file__).resolve().parents[2]
TRAINING_STACK = ("pandas", "pyarrow", "scikit-learn", "duckdb", "mlflow-skinny", "skops")


@pytest.fixture(scope="module")
def serve_venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    venv = tmp_path_factory.mktemp("serve-venv")
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    subprocess.run(
        [str(venv / "bin/pip"), "install", "--quiet", f"{PROJECT}[serve]"],
        check=True,
        capture_output=True,
        timeout=600,
    )
    return venv


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> ModelStore:
    store = ModelStore(str(tmp_path_factory.mktemp("store")))
    store.publish(models.prepared("logistic"), "games", alias="champion")
    store.publish(models.prepared("linear", "housing"), "housing", alias="champion")
    return store


@pytest.fixture
def served(serve_venv: Path, store: ModelStore) -> Iterator[str]:
    process = subprocess.Popen(
        [str(serve_venv / "bin/scalepipe"), "serve", "games", "housing", "--store", store.url,
         "--port", "0", "--workers", "1"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    try:
        yield wait_for_url(process)
    finally:
        process.terminate()
        process.wait(timeout=30)


def test_the_serve_extra_installs_no_training_stack(serve_venv: Path) -> None:
    listed = subprocess.run(
        [str(serve_venv / "bin/pip"), "list", "--format", "json"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    installed = {package["name"].lower() for package in json.loads(listed)}
    assert "scalepipe" in installed and "uvicorn" in installed
    assert installed.isdisjoint(TRAINING_STACK), installed & set(TRAINING_STACK)


def test_scalepipe_serve_answers_every_protocol_without_it(served: str, store: ModelStore) -> None:
    expected = Predictor.load("games", store=store).predict_one(models.BOOK_REQUEST)
    book = requests.get(served, params=models.BOOK_REQUEST, timeout=10).json()
    assert book == {"response": repr(expected), "success": True}
    header = ",".join(models.BOOK_REQUEST)
    csv = f"{header}\n{','.join(models.BOOK_REQUEST.values())}\n"
    mlflow = requests.post(
        f"{served}/invocations", data=csv, headers={"Content-Type": "text/csv"}, timeout=10
    )
    assert mlflow.json() == {"predictions": [expected]}
    tensors: list[dict[str, Any]] = [
        {"name": name, "shape": [1], "datatype": "INT64", "data": [int(value)]}
        for name, value in models.BOOK_REQUEST.items()
    ]
    infer = requests.post(f"{served}/v2/models/games/infer", json={"inputs": tensors}, timeout=10)
    assert infer.json()["outputs"][0]["data"] == [expected]
    housing = requests.get(f"{served}/v1/models/housing", timeout=10).json()
    assert housing["ready"] is True


def test_the_lambda_handler_runs_without_it(serve_venv: Path, store: ModelStore) -> None:
    code = (
        "import json, sys; from scalepipe.functions import aws_lambda; "
        "print(json.dumps(aws_lambda.handler(json.loads(sys.argv[1]), None)))"
    )
    event = {"httpMethod": "GET", "path": "/", "queryStringParameters": models.BOOK_REQUEST,
             "headers": {}, "requestContext": {}}  # fmt: skip
    run = subprocess.run(
        [str(serve_venv / "bin/python"), "-c", code, json.dumps(event)],
        capture_output=True,
        text=True,
        env={"SCALEPIPE_MODEL": f"{store.url}/games", "PATH": "/usr/bin:/bin"},
        check=False,
    )
    assert run.returncode == 0, run.stderr
    answer = json.loads(run.stdout)
    expected = Predictor.load("games", store=store).predict_one(models.BOOK_REQUEST)
    assert json.loads(answer["body"]) == {"response": repr(expected), "success": True}


def test_the_command_line_imports_no_heavy_module_and_starts_fast() -> None:
    """`scalepipe --help` and `scalepipe serve` start by importing the CLI: it must not
    import the training stack or the server. Measured as cumulative import time, the best
    of five runs: what the imports cost, not how busy the machine was in one of them (CI
    once read 255 ms for what takes 90 ms here while Spark and the emulators ran)."""
    spent = []
    for _ in range(5):
        run = subprocess.run(
            [sys.executable, "-X", "importtime", "-c",
             "import sys, scalepipe.cli; "
             "print(sorted(m for m in ('pandas', 'pyarrow', 'sklearn', 'duckdb', 'numpy', "
             "'mlflow', 'uvicorn', 'fsspec') if m in sys.modules))"],
            capture_output=True,
            text=True,
            check=True,
        )  # fmt: skip
        assert run.stdout.strip() == "[]"
        found = re.search(r"\|\s+(\d+) \| scalepipe\.cli$", run.stderr, re.MULTILINE)
        assert found is not None, run.stderr[-2000:]
        spent.append(int(found.group(1)))
    # typer and rich take ~60 ms here; pandas alone took another ~250 ms before issue 9.
    assert min(spent) < 250_000, f"{min(spent) / 1000:.0f} ms"
