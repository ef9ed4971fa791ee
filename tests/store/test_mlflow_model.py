"""A published version is a correct MLflow model for MLflow's own tools: `mlflow models
serve` on its folder loads it without a warning and scores columns by name, in any order."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import requests

from scalepipe.predict import Predictor
from scalepipe.store import ModelStore
from tests import models
from tests.conftest import _free_port


@pytest.mark.parametrize("recipe", ["logistic", "gbm"])
def test_mlflow_models_serve_scores_columns_by_name(recipe: str, tmp_path: Path) -> None:
    fitted = models.fitted(recipe)
    store = ModelStore(str(tmp_path / "models"))
    store.publish(fitted.model, "games", signature=fitted.signature)
    rows = fitted.frame.sample(30, random_state=3)
    reversed_columns = [f"G{i}" for i in range(10, 0, -1)]
    expected = Predictor.load("games:1", store=store).predict_frame(rows)
    assert np.std(expected) > 0.05, "the rows must tell the model's answers apart"

    port = _free_port()
    bin_folder = Path(sys.executable).parent
    log = tmp_path / "mlflow-serve.log"
    with log.open("w") as output:
        server = subprocess.Popen(
            [str(bin_folder / "mlflow"), "models", "serve", "-m", str(tmp_path / "models/games/1"),
             "--env-manager", "local", "--host", "127.0.0.1", "--port", str(port)],
            stdout=output,
            stderr=subprocess.STDOUT,
            # MLflow starts uvicorn by name, from PATH.
            env=os.environ | {"PATH": f"{bin_folder}:{os.environ['PATH']}"},
            start_new_session=True,
        )  # fmt: skip
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            assert server.poll() is None, log.read_text()
            try:
                if requests.get(f"{url}/ping", timeout=1).status_code == 200:
                    break
            except requests.ConnectionError:
                pass
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.2)
        split = rows[reversed_columns].to_dict(orient="split")
        answer = requests.post(f"{url}/invocations", json={"dataframe_split": split}, timeout=30)
        assert answer.status_code == 200, answer.text
        positive = [pair[1] for pair in answer.json()["predictions"]]
        assert positive == pytest.approx(expected.tolist(), rel=1e-9)
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
    said = log.read_text()
    assert "warning" not in said.lower(), said
