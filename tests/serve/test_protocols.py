"""The protocols users' clients already speak, each against a live `scalepipe serve`, with
the protocol's own client library where one installs: MLflow's scoring client and its
deployments client, Triton's Open Inference Protocol (KServe V2) client, KServe V1's
JSON, and the book's GET-with-a-body calls."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import requests

from scalepipe.predict import Predictor
from tests import models
from tests.serve.conftest import API_KEY, Server


@pytest.fixture
def frame() -> pd.DataFrame:
    """Twenty rows of the games' features, in the order of neither model's signature."""
    rows = models.games().sample(20, random_state=7)
    columns = [f"G{i}" for i in range(10, 0, -1)]
    return rows[columns].reset_index(drop=True)


def in_order(frame: pd.DataFrame) -> pd.DataFrame:
    """The columns in the signature's order (G1..G10), for the positional shapes."""
    return frame[[f"G{i}" for i in range(1, 11)]]


def expected(server: Server, frame: pd.DataFrame, name: str = "games") -> list[float]:
    scores: list[float] = Predictor.load(name, store=server.store).predict_frame(frame).tolist()
    assert np.std(scores) > 0.05, "the rows must tell the model's answers apart"
    return scores


class TestMlflow:
    def test_the_scoring_client_gets_one_probability_per_row_by_column_name(
        self, server: Server, frame: pd.DataFrame
    ) -> None:
        from mlflow.pyfunc.scoring_server.client import ScoringServerClient

        host, port = server.url.removeprefix("http://").split(":")
        client = ScoringServerClient(host, port)
        client.wait_server_ready(timeout=10)
        assert client.get_version()
        answer = client.invoke(frame, params={"threshold": 0.5})
        assert answer["predictions"] == pytest.approx(expected(server, frame), rel=1e-12)
        # A numpy array is sent as {"inputs": rows}: values in the signature's order.
        positional = client.invoke(in_order(frame).to_numpy())
        assert positional["predictions"] == pytest.approx(expected(server, frame), rel=1e-12)

    @pytest.mark.parametrize(
        "body",
        [
            lambda f: {"dataframe_split": f.to_dict(orient="split")},
            lambda f: {"dataframe_split": {"data": in_order(f).values.tolist()}},
            lambda f: {"dataframe_records": f.to_dict(orient="records")},
            lambda f: {"instances": f.to_dict(orient="records")},
            lambda f: {"inputs": f.to_dict(orient="records")},
            lambda f: {"inputs": f.to_dict(orient="list")},
            lambda f: {"instances": in_order(f).values.tolist()},
        ],
        ids=["split", "split-bare", "records", "instances", "inputs", "inputs-columns", "rows"],
    )  # fmt: skip
    def test_every_json_shape_of_mlflow_3(
        self, server: Server, frame: pd.DataFrame, body: Callable[[pd.DataFrame], Any]
    ) -> None:
        answer = requests.post(f"{server.url}/invocations", json=body(frame), timeout=10)
        assert answer.status_code == 200, answer.text
        assert answer.json()["predictions"] == pytest.approx(expected(server, frame), rel=1e-12)

    def test_csv_bodies_and_content_types(self, server: Server, frame: pd.DataFrame) -> None:
        csv = frame.to_csv(index=False)
        answer = requests.post(
            f"{server.url}/invocations", data=csv, headers={"Content-Type": "text/csv"}, timeout=10
        )
        assert answer.json()["predictions"] == pytest.approx(expected(server, frame), rel=1e-12)
        for content_type in ("text/plain", "application/json; charset=latin-1", ""):
            refused = requests.post(
                f"{server.url}/invocations",
                data=csv,
                headers={"Content-Type": content_type},
                timeout=10,
            )
            assert refused.status_code == 415, content_type
            assert "application/json or text/csv" in refused.json()["message"] or (
                "UTF-8" in refused.json()["message"]
            )

    def test_errors_in_mlflows_words(self, server: Server, frame: pd.DataFrame) -> None:
        both: dict[str, list[Any]] = {"instances": [], "dataframe_records": []}
        answer = requests.post(f"{server.url}/invocations", json=both, timeout=10)
        assert answer.status_code == 400
        assert answer.json()["error_code"] == "BAD_REQUEST"
        assert "exactly one of" in answer.json()["message"]
        missing: dict[str, Any] = {
            "dataframe_records": frame.drop(columns="G3").to_dict(orient="records")
        }
        answer = requests.post(f"{server.url}/invocations", json=missing, timeout=10)
        assert answer.status_code == 422 and "G3" in answer.json()["message"]
        for path in ("/ping", "/health"):
            assert requests.get(f"{server.url}{path}", timeout=10).status_code == 200

    def test_the_deployments_client_with_an_api_key(
        self,
        serve_models: Callable[..., Server],
        frame: pd.DataFrame,
        tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        from mlflow.deployments import get_deploy_client

        keys = tmp_path / "keys"
        keys.write_text(API_KEY)
        server = serve_models("games", "housing", "--api-key-file", str(keys))
        client = get_deploy_client(server.url)
        inputs = {"dataframe_split": frame.to_dict(orient="split")}
        monkeypatch.delenv("MLFLOW_TRACKING_TOKEN", raising=False)
        with pytest.raises(requests.HTTPError, match="401"):
            client.predict(endpoint="games", inputs=inputs)
        monkeypatch.setenv("MLFLOW_TRACKING_TOKEN", API_KEY)
        answer = client.predict(endpoint="games", inputs=inputs)
        assert answer["predictions"] == pytest.approx(expected(server, frame), rel=1e-12)


class TestKServeV1:
    def test_predict_and_ready(self, server: Server, frame: pd.DataFrame) -> None:
        rows: list[Any] = frame.to_dict(orient="records")
        answer = requests.post(
            f"{server.url}/v1/models/games:predict", json={"instances": rows}, timeout=10
        )
        assert answer.json()["predictions"] == pytest.approx(expected(server, frame), rel=1e-12)
        described = requests.get(f"{server.url}/v1/models/games", timeout=10).json()
        assert described["name"] == "games" and described["ready"] is True
        unknown = requests.post(
            f"{server.url}/v1/models/trees:predict", json={"instances": rows}, timeout=10
        )
        assert unknown.status_code == 404


class TestOpenInferenceProtocol:
    @pytest.fixture
    def client(self, server: Server) -> object:
        import tritonclient.http as triton

        return triton.InferenceServerClient(server.url.removeprefix("http://"))

    def test_health_and_metadata(self, client: object, server: Server) -> None:
        import tritonclient.http as triton

        assert isinstance(client, triton.InferenceServerClient)
        assert client.is_server_live() and client.is_server_ready()
        assert client.is_model_ready("games") and client.is_model_ready("games", "1")
        assert not client.is_model_ready("games", "7") and not client.is_model_ready("trees")
        metadata = client.get_model_metadata("games")
        assert [tensor["name"] for tensor in metadata["inputs"]] == [f"G{i}" for i in range(1, 11)]
        assert metadata["outputs"] == [{"name": "probability", "datatype": "FP64", "shape": [-1]}]
        assert client.get_server_metadata()["name"] == "scalepipe"

    @pytest.mark.parametrize("binary", [True, False], ids=["binary", "json"])
    def test_one_tensor_per_feature(
        self, client: object, server: Server, frame: pd.DataFrame, binary: bool
    ) -> None:
        import tritonclient.http as triton

        assert isinstance(client, triton.InferenceServerClient)
        metadata = client.get_model_metadata("games")
        inputs = []
        for tensor in metadata["inputs"]:
            values = frame[tensor["name"]].to_numpy(
                dtype=triton.triton_to_np_dtype(tensor["datatype"])
            )
            feature = triton.InferInput(tensor["name"], [len(frame)], tensor["datatype"])
            feature.set_data_from_numpy(values, binary_data=binary)
            inputs.append(feature)
        wanted = [triton.InferRequestedOutput("probability", binary_data=binary)]
        result = client.infer("games", inputs, outputs=wanted, request_id="r-1")
        assert result.as_numpy("probability").tolist() == pytest.approx(
            expected(server, frame), rel=1e-12
        )
        assert result.get_response()["model_version"] == "1"
        assert result.get_response()["id"] == "r-1"

    def test_one_matrix_and_a_version(
        self, client: object, server: Server, frame: pd.DataFrame
    ) -> None:
        import tritonclient.http as triton
        from tritonclient.utils import InferenceServerException

        assert isinstance(client, triton.InferenceServerClient)
        matrix = in_order(frame).to_numpy(dtype=np.float32)
        tensor = triton.InferInput("features", list(matrix.shape), "FP32")
        tensor.set_data_from_numpy(matrix, binary_data=False)
        result = client.infer("games", [tensor], model_version="1")
        assert result.as_numpy("probability").tolist() == pytest.approx(
            expected(server, frame), rel=1e-6
        )
        with pytest.raises(InferenceServerException, match="version 7"):
            client.infer("games", [tensor], model_version="7")
        narrow = triton.InferInput("features", [len(frame), 3], "FP32")
        narrow.set_data_from_numpy(matrix[:, :3], binary_data=False)
        with pytest.raises(InferenceServerException, match="10 columns"):
            client.infer("games", [narrow])

    def test_errors_answer_in_the_protocol(self, server: Server) -> None:
        url = f"{server.url}/v2/models/games/infer"

        def tensor(name: str, shape: list[int], datatype: str, data: list[Any]) -> Any:
            return {"inputs": [{"name": name, "shape": shape, "datatype": datatype, "data": data}]}

        cases: list[tuple[Any, int, str]] = [
            (tensor("G1", [1], "BYTES", ["a"]), 400, "not a number type"),
            (tensor("G1", [2], "FP64", [1.0]), 400, "holds 1 values"),
            (tensor("G1", [1], "FP64", [1.0]), 422, "missing feature"),
            (tensor("X", [1], "FP64", [1.0]), 422, "unknown input"),
            ({"inputs": []}, 400, "non-empty"),
        ]
        for body, status, message in cases:
            answer = requests.post(url, json=body, timeout=10)
            assert answer.status_code == status, answer.text
            assert list(answer.json()) == ["error"] and message in answer.json()["error"]


class TestTheBooksCalls:
    def test_a_json_body_sent_with_get(self, server: Server) -> None:
        # Chapter 2: requests.get("http://.../", json={"msg": ...}) — the body, not the query.
        echo = requests.get(f"{server.url}/echo", json={"msg": "Hello from the body"}, timeout=10)
        assert echo.json() == {"response": "Hello from the body", "success": True}
        scored = requests.get(f"{server.url}/", json=models.BOOK_REQUEST, timeout=10).json()
        predictor = Predictor.load("games", store=server.store)
        assert scored == {
            "response": repr(predictor.predict_one(models.BOOK_REQUEST)),
            "success": True,
        }
        queried = requests.get(f"{server.url}/echo", params={"msg": "from the query"}, timeout=10)
        assert queried.json()["response"] == "from the query"
