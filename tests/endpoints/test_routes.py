"""The route table is the one list: dispatch, the OpenAPI document, open paths and the
functions' path maps all follow it."""

from __future__ import annotations

from pathlib import Path

import pytest

from scalepipe.endpoints.http import Request
from scalepipe.endpoints.routes import OPEN_PATHS, ROUTES, function_path, match
from scalepipe.endpoints.service import Service
from scalepipe.predict import Predictor
from scalepipe.store import ModelStore
from tests import models


@pytest.fixture
def service(tmp_path: Path) -> Service:
    store = ModelStore(str(tmp_path))
    store.publish(models.prepared("logistic"), "games", alias="champion")
    return Service([Predictor.load("games", store=store)])


def test_every_route_is_dispatched_and_documented(service: Service) -> None:
    document = service.openapi(Request("GET", "/openapi.json"))[1].decode()
    for route in ROUTES:
        assert callable(getattr(service, route.action)), route.action
        path = route.template.replace("{name}", "games").replace("{version}", "1")
        assert f'"{path}"' in document, path
        assert match(path) == (
            route,
            {
                k: v
                for k, v in (("name", "games"), ("version", "1"))
                if "{" + k + "}" in route.template
            },
        )


@pytest.mark.parametrize(
    ("path", "template", "params"),
    [
        ("/v1/models/games:predict", "/v1/models/{name}:predict", {"name": "games"}),
        ("/v1/models/games/", "/v1/models/{name}", {"name": "games"}),
        ("/v2/models/games/versions/3/infer", "/v2/models/{name}/versions/{version}/infer",
         {"name": "games", "version": "3"}),
        ("/endpoints/games/invocations", "/endpoints/{name}/invocations", {"name": "games"}),
    ],
)  # fmt: skip
def test_templates_match_and_name_their_parameters(
    path: str, template: str, params: dict[str, str]
) -> None:
    found = match(path)
    assert found is not None and found[0].template == template and found[1] == params


@pytest.mark.parametrize(
    "path", ["/v2/models/games/versions/x/infer", "/v1/models/a/b/c", "/v2/models/", "/nowhere"]
)
def test_other_paths_match_no_route(path: str) -> None:
    assert match(path) is None


def test_a_platforms_prefix_is_cut_and_the_root_is_the_functions_own() -> None:
    assert function_path("/prod/v2/models/games/infer", "/") == "/v2/models/games/infer"
    assert function_path("/predict/invocations", "/") == "/invocations"
    assert function_path("/prod/", "/") == "/"
    assert function_path("/prod/something", "/echo") == "/echo"


def test_only_health_checks_are_open() -> None:
    assert {"/healthz", "/readyz", "/ping", "/health", "/v2/health/live",
                          "/v2/health/ready"} == OPEN_PATHS  # fmt: skip


def test_metric_labels_are_templates_never_raw_paths(service: Service) -> None:
    seen: list[str] = []

    class Recorder:
        def observe(self, route: str, status: int, seconds: float) -> None:
            seen.append(route)

        def predicted(self, model: str, rows: int) -> None:
            pass

        def loaded(self, model: str, version: int) -> None:
            pass

        def exposition(self) -> tuple[bytes, str]:
            return b"", "text/plain"

    service.metrics = Recorder()
    for path in ("/v2/models/games/ready", "/v2/models/other-7/ready", "/no/such/path"):
        service.respond(Request("GET", path))
    assert seen == ["/v2/models/{name}/ready", "/v2/models/{name}/ready", "other"]
