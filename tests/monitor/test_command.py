"""`scalepipe monitor drift` on the logs of a real `scalepipe serve`: rows like the
training data give no drift and exit 0; shifted rows give drift and exit 1; the HTML
report opens in headless Chromium and shows every column."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import requests

from scalepipe.io import load
from scalepipe.store import ModelStore
from tests.serve.conftest import start_server, wait_for_url
from tests.test_cli import scalepipe

ROWS = 600
FEATURES = [f"G{i}" for i in range(1, 11)]


def served_log(store: ModelStore, log: Path, rows: list[dict[str, Any]]) -> Path:
    """Send `rows` to a real server that logs its predictions to `log`; stop it (SIGTERM
    writes what is left)."""
    process = start_server("--store", store.url, "games", "--log-predictions", str(log))
    url = wait_for_url(process)
    try:
        for start in range(0, len(rows), 100):
            batch = {"instances": rows[start : start + 100]}
            answer = requests.post(f"{url}/v1/models/games/predict", json=batch, timeout=30)
            assert answer.status_code == 200, answer.text
    finally:
        process.terminate()
        assert process.wait(timeout=60) == 0
    return log


def games(seed: int, shifted: bool = False) -> list[dict[str, Any]]:
    frame = load("games", rows=ROWS, seed=seed)[FEATURES]
    if shifted:  # half of the features: nearly every player has them now
        rng = np.random.default_rng(seed)
        for name in FEATURES[:5]:
            frame[name] = (rng.random(ROWS) < 0.95).astype(int)
    return [{str(name): int(value) for name, value in row.items()}
            for row in frame.to_dict(orient="records")]  # fmt: skip


@pytest.mark.parametrize("suffix", [".jsonl", ".parquet"])
def test_rows_like_the_training_data_give_no_drift_and_exit_0(
    trained: ModelStore, tmp_path: Path, suffix: str
) -> None:
    log = served_log(trained, tmp_path / f"predictions{suffix}", games(seed=21))
    done = scalepipe("monitor", "drift", "games", "--store", trained.url, "--log", str(log))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "no drift" in done.stdout and f"{ROWS} logged predictions" in done.stdout
    as_json = scalepipe("monitor", "drift", "games", "--store", trained.url, "--log", str(log),
                        "--json")  # fmt: skip
    report = json.loads(as_json.stdout)
    assert report["rows"] == ROWS and report["drift"] is False and report["drifted"] == []
    assert [column["name"] for column in report["features"]] == FEATURES
    assert report["output"]["name"] == "output" and not report["output"]["drifted"]


def test_shifted_rows_give_drift_exit_1_and_a_report_that_shows_every_column(
    trained: ModelStore, tmp_path: Path, page: Any
) -> None:
    log = served_log(trained, tmp_path / "predictions.jsonl", games(seed=22, shifted=True))
    html, png = tmp_path / "drift.html", tmp_path / "drift.png"
    done = scalepipe("monitor", "drift", "games", "--store", trained.url, "--log", str(log),
                     "--html", str(html), "--png", str(png), "--json")  # fmt: skip
    assert done.returncode == 1, done.stderr
    report = json.loads(done.stdout)
    assert report["drifted"] == FEATURES[:5] and report["share"] == 0.5
    assert report["verdict"].startswith("drift: 5 of 10 features drifted")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert html.stat().st_size < 200_000
    page.set_content(html.read_text())
    shown = page.locator("figure").evaluate_all("nodes => nodes.map(n => n.dataset.column)")
    assert shown == [*FEATURES, "output"]
    assert page.locator(".verdict").inner_text().startswith("drift: 5 of 10")
    drifted_rows = page.locator("tr.drifted td:first-child").all_inner_texts()
    assert drifted_rows[:5] == FEATURES[:5]


def test_mistakes_exit_2_with_a_message(trained: ModelStore, tmp_path: Path) -> None:
    log = served_log(trained, tmp_path / "predictions.jsonl", games(seed=23)[:150])
    later = scalepipe("monitor", "drift", "games", "--store", trained.url, "--log", str(log),
                      "--since", "2999-01-01")  # fmt: skip
    assert later.returncode == 2 and "0 logged prediction(s)" in later.stderr
    missing = scalepipe("monitor", "drift", "games", "--store", trained.url,
                        "--log", str(tmp_path / "none.jsonl"))  # fmt: skip
    assert missing.returncode == 2 and "no prediction log" in missing.stderr
    window = scalepipe("monitor", "drift", "games", "--store", trained.url, "--log", str(log),
                       "--window", "an hour")  # fmt: skip
    assert window.returncode == 2 and "a duration is like" in window.stderr


def test_a_log_kept_in_a_warehouse_table_reads_as_the_file_does(
    trained: ModelStore, tmp_path: Path
) -> None:
    import pyarrow.json as pj

    from scalepipe.config import Settings
    from scalepipe.io.warehouse import open_warehouse

    log = served_log(trained, tmp_path / "predictions.jsonl", games(seed=24, shifted=True))
    open_warehouse(Settings.load().warehouse).write("predlog", [pj.read_json(log)])
    from_file = scalepipe("monitor", "drift", "games", "--store", trained.url, "--log", str(log),
                          "--json")  # fmt: skip
    from_table = scalepipe("monitor", "drift", "games", "--store", trained.url,
                           "--log", "table:predlog", "--json")  # fmt: skip
    assert from_table.returncode == from_file.returncode == 1, from_table.stderr
    by_file, by_table = json.loads(from_file.stdout), json.loads(from_table.stdout)
    assert by_table["features"] == by_file["features"] and by_table["rows"] == ROWS


@pytest.mark.parametrize(("shifted", "verdict"), [(False, 0.0), (True, 1.0)])
def test_the_servers_drift_gauges_measure_the_last_rows(
    trained: ModelStore, shifted: bool, verdict: float
) -> None:
    from tests.serve.test_server import _metric

    process = start_server("--store", trained.url, "games", "--workers", "1",
                           "--drift-every", "0.3")  # fmt: skip
    url = wait_for_url(process)
    try:
        rows = games(seed=25, shifted=shifted)
        for start in range(0, len(rows), 100):
            batch = {"instances": rows[start : start + 100]}
            requests.post(f"{url}/v1/models/games/predict", json=batch, timeout=30)
        deadline = time.monotonic() + 20
        while True:
            text = requests.get(f"{url}/metrics", timeout=10).text
            if "scalepipe_drift_rows" in text and _metric(text, "scalepipe_drift_rows") == ROWS:
                break
            assert time.monotonic() < deadline, "no drift measure within 20 s"
            time.sleep(0.2)
        assert _metric(text, "scalepipe_drift", model="games") == verdict
        assert _metric(text, "scalepipe_drift_share", model="games") == (0.5 if shifted else 0.0)
        g1 = _metric(text, "scalepipe_drift_psi", model="games", column="G1")
        g10 = _metric(text, "scalepipe_drift_psi", model="games", column="G10")
        assert (g1 >= 0.2) is shifted and g10 < 0.2
    finally:
        process.terminate()
        assert process.wait(timeout=60) == 0
