"""`scalepipe serve ... --ui`: the model app at /app in the model server, one process
tree, the same API keys (a page load asks for a key and keeps a session cookie)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from scalepipe.predict import Predictor
from scalepipe.store import ModelStore
from tests.app.test_page import WAIT_MS, medians, shows
from tests.serve.conftest import API_KEY, start_server, wait_for_url


def served(store: ModelStore, *args: str) -> Iterator[str]:
    process = start_server("--store", store.url, "games", "housing", "--ui", *args)
    try:
        yield wait_for_url(process)
    finally:
        process.terminate()
        process.wait(timeout=60)


def test_the_app_is_served_beside_the_models(page: Any, store: ModelStore) -> None:
    games = Predictor.load("games", store=store)
    for url in served(store):
        assert requests.get(f"{url}/app", timeout=10, allow_redirects=False).status_code == 308
        page.goto(f"{url}/app/")
        expected = games.predict_one(medians(games))
        shows(page, "#prediction", f"{expected:.4f}")
        page.wait_for_function(
            "(url) => document.querySelector('#curl').innerText.includes(url)",
            arg=f"{url}/v1/models/games/predict", timeout=WAIT_MS,
        )  # fmt: skip
        api = requests.post(f"{url}/v1/models/games/predict",
                            json={"instances": [medians(games)]}, timeout=10)  # fmt: skip
        assert api.json()["predictions"] == [pytest.approx(expected)]


def test_the_app_gets_no_body_over_the_servers_limit(store: ModelStore) -> None:
    for url in served(store, "--body-limit", "4096"):
        callback = f"{url}/app/_dash-update-component"
        declared = requests.post(callback, data=b"{" + b" " * 5000 + b"}", timeout=10,
                                 headers={"Content-Type": "application/json"})  # fmt: skip
        assert declared.status_code == 413
        assert declared.json() == {"error": "the body is over the 4,096-byte limit"}
        chunked = requests.post(callback, data=(b" " * 1024 for _ in range(8)), timeout=10)
        assert chunked.status_code == 413
        small = requests.post(callback, json={"output": "nothing"}, timeout=10)
        assert small.status_code not in (413, 401)  # reached Dash, which refuses it itself


def test_with_keys_the_page_asks_for_one(page: Any, store: ModelStore, tmp_path: Path) -> None:
    keys = tmp_path / "keys.txt"
    keys.write_text(f"{API_KEY}\n")
    games = Predictor.load("games", store=store)
    for url in served(store, "--api-key-file", str(keys)):
        refused = requests.get(f"{url}/app/", timeout=10)
        assert refused.status_code == 401 and "needs an API key" in refused.text
        assert requests.get(f"{url}/app/_dash-layout", timeout=10).status_code == 401
        wrong = requests.post(f"{url}/app/_login", data={"key": "guess"}, timeout=10,
                              allow_redirects=False)  # fmt: skip
        assert wrong.status_code == 401 and "set-cookie" not in wrong.headers
        bearer = {"Authorization": f"Bearer {API_KEY}"}
        assert requests.get(f"{url}/app/_dash-layout", headers=bearer, timeout=10).ok

        page.goto(f"{url}/app/")
        page.fill("#key", API_KEY)
        page.click("button[type=submit]")
        shows(page, "#prediction", f"{games.predict_one(medians(games)):.4f}")
        cookie = next(c for c in page.context.cookies() if c["name"] == "scalepipe_session")
        assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
        assert API_KEY not in cookie["value"]
        # the session opens the app, not the model routes
        session = {"Cookie": f"scalepipe_session={cookie['value']}"}
        assert requests.get(f"{url}/v1/models", headers=session, timeout=10).status_code == 401
