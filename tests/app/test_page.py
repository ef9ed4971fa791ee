"""The model app in headless Chromium: the page a user sees for published models, every
prediction equal to the API's, the what-if chart, example rows, the model selector."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
import requests

from scalepipe.app.page import NO_PROFILE, build_app
from scalepipe.predict import Predictor
from scalepipe.store import ModelStore
from tests.serve.conftest import start_server, wait_for_url

Serve = Callable[[Any], str]
# How long the page may take to show what a step expects: an upper bound for a loaded CI
# machine (the first load fetches Dash's and Plotly's scripts), not a speed goal, which
# benchmarks/app.py measures.
WAIT_MS = 30_000


def feature(name: str) -> str:
    """A CSS selector for the widget of a feature: Dash writes the pattern-matching id
    {"type": "feature", "name": name} into the DOM as sorted, compact JSON."""
    ident = json.dumps({"name": name, "type": "feature"}, separators=(",", ":"))
    return f"[id='{ident}']"


def medians(predictor: Predictor) -> dict[str, float]:
    profile = predictor.card.profile
    assert profile is not None
    return {
        name: profile["features"][name]["quantiles"]["0.5"] for name in predictor.signature.names
    }


def shows(page: Any, selector: str, text: str) -> None:
    """Wait until the element's text is exactly `text` (fails after 10 s)."""
    page.wait_for_function(
        "([selector, text]) => document.querySelector(selector)?.innerText === text",
        arg=[selector, text], timeout=WAIT_MS,
    )  # fmt: skip


@pytest.fixture
def two_models(page: Any, serve_dash: Serve, store: ModelStore) -> tuple[Predictor, Predictor]:
    """The page for games and housing, open and showing games' prediction for its
    training medians; the two Predictors."""
    games = Predictor.load("games", store=store)
    housing = Predictor.load("housing", store=store)
    page.goto(serve_dash(build_app([games, housing])))
    shows(page, "#prediction", f"{games.predict_one(medians(games)):.4f}")
    return games, housing


def test_the_prediction_equals_the_apis_for_50_random_rows(
    page: Any, two_models: tuple[Predictor, Predictor], store: ModelStore
) -> None:
    games, _ = two_models

    names = games.signature.names
    rows = np.random.default_rng(7).integers(0, 2, size=(50, len(names))).tolist()
    process = start_server("--store", store.url, "games")
    try:
        url = wait_for_url(process)
        instances = [dict(zip(names, row, strict=True)) for row in rows]
        answer = requests.post(f"{url}/v1/models/games/predict", json={"instances": instances},
                               timeout=30)  # fmt: skip
        api = answer.json()["predictions"]
    finally:
        process.terminate()
        process.wait(timeout=60)
    for row, expected in zip(rows, api, strict=True):
        for name, value in zip(names, row, strict=True):
            page.locator(f"{feature(name)} input").set_checked(bool(value))
        shows(page, "#prediction", f"{expected:.4f}")


def test_what_if_examples_and_the_model_selector(
    page: Any, two_models: tuple[Predictor, Predictor]
) -> None:
    games, housing = two_models
    card = page.inner_text("#model-card")
    assert "games:1 (champion)" in card and "roc_auc" in card
    assert games.card.plot == "plot.png"  # shown from the store, not from another host
    page.wait_for_function("document.querySelector('#training-plot')?.naturalWidth > 100")

    profile = games.card.profile
    assert profile is not None
    example = {name: float(value) for name, value in profile["examples"][1].items()}
    page.click("#examples button:nth-of-type(2)")
    shows(page, "#prediction", f"{games.predict_one(example):.4f}")
    # The what-if chart and the ready-made calls follow the prediction.
    page.wait_for_function(
        "(body) => document.querySelector('#curl').innerText.includes(body)",
        arg=json.dumps({"instances": [example]}), timeout=WAIT_MS,
    )  # fmt: skip
    assert "requests.post(" in page.inner_text("#python")

    # The what-if chart sweeps the chosen feature (the first) with the rest held.
    expected = [games.predict_one(example | {"G1": value}) for value in (0.0, 1.0)]
    page.wait_for_function(
        "(expected) => { const plot = document.querySelector('#whatif .js-plotly-plot');"
        " const y = plot && plot.data && plot.data[0].y;"
        " return !!y && y.length === 2 && y.every((v, i) => Math.abs(v - expected[i]) < 1e-12); }",
        arg=expected, timeout=WAIT_MS,
    )  # fmt: skip

    page.click("#model")
    page.get_by_role("option", name="housing").click()
    page.wait_for_function("document.querySelectorAll('#inputs > div').length === 13")
    assert "housing:1" in page.inner_text("#model-card")
    assert page.locator("#training-plot").count() == 0  # published without a plot
    shows(page, "#prediction", f"{housing.predict_one(medians(housing)):.4f}")
    box = page.locator(feature("crim"))
    box.fill("7.5")
    shows(page, "#prediction", f"{housing.predict_one(medians(housing) | {'crim': 7.5}):.4f}")


def test_a_model_without_training_statistics_says_so(
    page: Any, serve_dash: Serve, store: ModelStore
) -> None:
    page.goto(serve_dash(build_app([Predictor.load("bare", store=store)])))
    shows(page, "#notice", NO_PROFILE)
    assert page.inner_text("#examples") == ""


def test_the_app_command_serves_the_page(store: ModelStore) -> None:
    """`scalepipe app games` as a user starts it: the page and its scripts come from the
    local server alone."""
    import os
    import subprocess
    import sys
    import time

    from tests.conftest import _free_port

    port = _free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "scalepipe.cli", "app", "games", "--store", store.url,
         "--port", str(port)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        env=os.environ | {"COLUMNS": "200"},
    )  # fmt: skip
    try:
        url = f"http://127.0.0.1:{port}/"
        deadline = time.monotonic() + 60
        while True:
            try:
                answer = requests.get(url, timeout=5)
                break
            except requests.ConnectionError:
                assert process.poll() is None and time.monotonic() < deadline, process.stdout
                time.sleep(0.2)
        assert answer.status_code == 200 and "_dash-config" in answer.text
        assert "https://" not in answer.text and "http://" not in answer.text.replace(url, "")
        layout = requests.get(f"{url}_dash-layout", timeout=5).json()
        assert "prediction" in json.dumps(layout)
    finally:
        process.terminate()
        process.wait(timeout=30)
    refused = subprocess.run(
        [sys.executable, "-m", "scalepipe.cli", "app", "nothing", "--store", store.url],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert refused.returncode == 2 and "nothing" in refused.stderr


def test_the_books_two_input_app(page: Any, serve_dash: Serve, store: ModelStore) -> None:
    """The book's chapter 2 page: inputs for G1 and G2, the other games held."""
    games = Predictor.load("games", store=store)
    page.goto(serve_dash(build_app([games], features=["G1", "G2"])))
    held = medians(games)
    shows(page, "#prediction", f"{games.predict_one(held):.4f}")
    assert page.locator("#inputs > div").count() == 2
    page.locator(f"{feature('G2')} input").set_checked(not held["G2"])
    shows(page, "#prediction", f"{games.predict_one(held | {'G2': 1 - held['G2']}):.4f}")
