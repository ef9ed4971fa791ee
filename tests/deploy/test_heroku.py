"""The Heroku folder run as Heroku runs it (no Heroku here): its requirements installed
into a new virtual environment, then the Procfile's web command with $PORT set."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from scalepipe.deploy import plan_deploy, render
from scalepipe.predict import Predictor
from scalepipe.store import ModelStore
from tests import models
from tests.conftest import _free_port

pytestmark = pytest.mark.slow  # a virtual environment installed from the index


def test_the_procfiles_web_process_serves_the_book_clients(
    deploy_store: ModelStore, tmp_path: Path
) -> None:
    app = tmp_path / "app"
    render(plan_deploy(["games:1"], store=deploy_store.url), "heroku", app)
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    installed = subprocess.run(
        [str(venv / "bin" / "pip"), "install", "--quiet", "-r", "requirements.txt"],
        cwd=app,
        capture_output=True,
        text=True,
        check=False,
    )
    assert installed.returncode == 0, installed.stderr[-2000:]
    web = (app / "Procfile").read_text().removeprefix("web: ").strip()
    port = _free_port()
    environment = {
        "PATH": f"{venv / 'bin'}:{os.environ['PATH']}",
        "PORT": str(port),
        "HOME": str(tmp_path),
    }
    process = subprocess.Popen(
        ["bash", "-c", f"exec {web}"],
        cwd=app,
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                answer = requests.get(
                    f"http://127.0.0.1:{port}/", params=models.BOOK_REQUEST, timeout=5
                )
                break
            except requests.ConnectionError:
                assert process.poll() is None, process.stdout.read() if process.stdout else ""
                assert time.monotonic() < deadline, "the web process never answered"
                time.sleep(0.1)
        expected = Predictor.load("games:1", store=deploy_store).predict_one(models.BOOK_REQUEST)
        assert answer.json() == {"response": repr(expected), "success": True}
    finally:
        process.terminate()
        assert process.wait(timeout=60) == 0
