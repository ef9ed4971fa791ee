"""The model app in a real browser: Playwright driving Debian's headless Chromium (the
Makefile's test target installs it; Playwright cannot download its own here), the Dash
app served by a real HTTP server on 127.0.0.1."""

from __future__ import annotations

import dataclasses
import shutil
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from scalepipe.config import Settings
from scalepipe.store import ModelStore
from scalepipe.train import train
from tests import models

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """One Chromium per test module: Playwright's sync API keeps an event loop running
    in this thread while it is open, which would break later tests that run their own
    (asyncio.run)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    """A fresh page; every request it makes to another host than 127.0.0.1 fails the test
    (the app must work offline)."""
    context = browser.new_context(viewport={"width": 1280, "height": 1600})
    outside: list[str] = []

    def route(request_route: Any) -> None:
        url = request_route.request.url
        if url.startswith(("http://127.0.0.1", "data:")):
            request_route.continue_()
        else:
            outside.append(url)
            request_route.abort()

    context.route("**/*", route)
    errors: list[str] = []
    tab = context.new_page()
    tab.set_default_timeout(30_000)  # a loaded CI machine; speed is benchmarks/app.py's
    tab.on("pageerror", lambda error: errors.append(str(error)))
    yield tab
    context.close()
    assert not outside, f"the page fetched from other hosts: {outside[:3]}"
    assert not errors, f"the page raised: {errors[:3]}"


@pytest.fixture
def serve_dash() -> Iterator[Callable[[Any], str]]:
    """Serve a Dash app's WSGI server on a free port; returns its URL."""
    from werkzeug.serving import make_server

    servers: list[Any] = []

    def start(app: Any) -> str:
        server = make_server("127.0.0.1", 0, app.server, threaded=True)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_port}/"

    yield start
    for server in servers:
        server.shutdown()


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> ModelStore:
    """games (with its training plot) and housing trained here, with their training
    profiles, and a model published without one."""
    folder = tmp_path_factory.mktemp("app")
    store = ModelStore(str(folder / "store"))
    settings = dataclasses.replace(Settings.load(), plots_dir=str(folder / "plots"))
    games = train("games", "logistic", settings=settings)  # with its ROC plot
    games.publish(store, name="games", alias="champion")
    train("housing", "linear", plot=False).publish(store, name="housing", alias="champion")
    store.publish(models.prepared("logistic"), "bare", alias="champion")  # no profile
    return store
