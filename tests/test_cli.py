"""The scalepipe command, run as a user runs it: a real process, real files."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from scalepipe import __version__
from scalepipe.predict import Predictor


def scalepipe(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "scalepipe.cli", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=os.environ | {"COLUMNS": "200"},
        timeout=600,
    )


def test_version() -> None:
    result = scalepipe("--version")
    assert result.returncode == 0
    assert result.stdout.strip() == f"scalepipe {__version__}"


@pytest.mark.parametrize(
    "command",
    [[], ["train"], ["reproduce"], ["quickstart"], ["data"], ["data", "list"], ["data", "show"],
     ["data", "load"], ["models"], ["models", "list"], ["models", "versions"], ["models", "show"],
     ["models", "promote"], ["models", "delete"], ["models", "verify"], ["models", "sign"],
     ["serve"], ["package"],
     ["package", "lambda"], ["package", "gcf"], ["invoke"], ["batch"], ["batch", "score"],
     ["batch", "lookup"], ["deploy"], ["deploy", "render"], ["deploy", "build"],
     ["workflow"], ["workflow", "run"], ["workflow", "history"], ["workflow", "cron"],
     ["workflow", "schedule"], ["workflow", "airflow"]],
)  # fmt: skip
def test_every_command_has_help_with_an_example(command: list[str]) -> None:
    result = scalepipe(*command, "--help")
    assert result.returncode == 0, result.stderr
    if command not in (["data"], ["models"], ["package"], ["batch"], ["deploy"], ["workflow"]):
        assert "Example: scalepipe" in result.stdout


def test_quickstart_loads_the_warehouse_trains_and_compares_with_the_book(tmp_path: Path) -> None:
    result = scalepipe("quickstart", "--no-serve", "--json", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["loaded"]["games"] == {"games": 22_905}
    assert report["loaded"]["nhl"]["game"] == 2_000
    assert {(m["dataset"], m["model"]) for m in report["models"]} == {
        ("games", "logistic"),
        ("housing", "linear"),
    }
    assert all(row["within_tolerance"] for row in report["book"])
    for model in report["models"]:
        assert Path(model["plot"]).is_file()
    assert Path(os.environ["SCALEPIPE_WAREHOUSE"]) == tmp_path / "warehouse.duckdb"
    assert (tmp_path / "warehouse.duckdb").is_file()
    store = os.environ["SCALEPIPE_STORE"]
    assert report["published"] == [f"{store}/games:1 (champion)", f"{store}/housing:1 (champion)"]
    assert Predictor.load("housing").signature.output == "value"


def test_quickstart_prints_a_table_next_to_the_book(tmp_path: Path) -> None:
    result = scalepipe("quickstart", "--no-serve", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "The book's chapter-1 results" in result.stdout
    assert "0.757" in result.stdout and "0.699" in result.stdout
    assert "plot of games logistic:" in result.stdout


def test_train_json_reports_metrics_signature_and_plot() -> None:
    result = scalepipe("train", "housing", "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["model"] == "linear"
    assert set(report["metrics"]) == {"r2", "mean_absolute_error"}
    assert [f["name"] for f in report["signature"]["features"]][:2] == ["crim", "zn"]
    assert report["data_fingerprint"].startswith("sha256:")
    assert Path(report["plot"]).is_file()


def test_train_reads_the_real_file(shared_data: Path) -> None:
    result = scalepipe(
        "train", "games", "--source", str(shared_data / "games-expand.csv"), "--json", "--no-plot"
    )
    report = json.loads(result.stdout)
    assert report["params"]["rows"] == 22_905
    assert report["metrics"]["roc_auc"] == pytest.approx(0.757, abs=0.02)
    assert report["plot"] is None


def test_data_load_writes_postgres_and_data_show_reads_it_back(postgres_url: str) -> None:
    loaded = scalepipe("data", "load", "natality", "--rows", "1234", "--to", postgres_url, "--json")
    assert loaded.returncode == 0, loaded.stderr
    assert json.loads(loaded.stdout)["tables"] == {"natality": 1234}
    shown = scalepipe(
        "data", "show", "natality", "--source", "sql:SELECT * FROM natality", "--warehouse",
        postgres_url, "--rows", "3",
    )  # fmt: skip
    assert shown.returncode == 0, shown.stderr
    assert "natality.natality: 1,234 rows x 10 columns" in shown.stdout
    assert "weight_pounds" in shown.stdout


def test_data_list_names_every_dataset() -> None:
    result = scalepipe("data", "list")
    for name in ("games", "housing", "natality", "nhl"):
        assert name in result.stdout
    listed = json.loads(scalepipe("data", "list", "--json").stdout)
    assert [d["name"] for d in listed] == ["games", "housing", "natality", "nhl"]
    assert listed[0]["target"] == "label" and listed[0]["features"][0] == "G1"


def test_data_show_json_reports_rows_types_and_the_first_rows() -> None:
    result = scalepipe("data", "show", "nhl", "--rows", "3", "--json")
    assert result.returncode == 0, result.stderr
    shown = json.loads(result.stdout)
    assert set(shown["tables"]) == {"game", "game_plays"}
    game = shown["tables"]["game"]
    assert game["rows"] == 2_000 and len(game["head"]) == 3 and "game_id" in game["columns"]


def test_models_verify_takes_model_uris_and_json() -> None:
    for _ in range(2):
        assert scalepipe("train", "housing", "--publish", "--no-plot").returncode == 0
    assert scalepipe("models", "promote", "housing", "1", "--alias", "champion").returncode == 0
    cases = {
        "housing": ["housing:1 (7 files)", "housing:2 (7 files)"],
        "housing:2": ["housing:2 (7 files)"],
        "housing@champion": ["housing:1 (7 files)"],
    }
    for uri, expected in cases.items():
        result = scalepipe("models", "verify", uri, "--json")
        assert result.returncode == 0, result.stderr
        assert json.loads(result.stdout) == {"verified": expected}
    missing = scalepipe("models", "verify", "housing:9")
    assert missing.returncode == 2 and "housing has no version 9" in missing.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["train", "gamez"], "unknown dataset 'gamez'"),
        (["train", "games", "--model", "linear"], "linear does not fit classification"),
        (["data", "show", "games", "--source", "nope.csv"], "no such file: nope.csv"),
        (["data", "load", "games", "--to", "mysql://x"], "unsupported warehouse URL"),
        # Brackets in a message are text, not terminal markup.
        (["data", "show", "games", "--source", "table:a[b]"], "table name 'a[b]' must be"),
    ],
)
def test_user_mistakes_exit_2_with_one_clear_line(args: list[str], message: str) -> None:
    result = scalepipe(*args)
    assert result.returncode == 2
    assert message in " ".join(result.stderr.split())
    assert "Traceback" not in result.stderr


def test_train_publish_then_manage_the_versions() -> None:
    first = scalepipe("train", "games", "--publish", "--alias", "champion", "--no-plot", "--json")
    assert json.loads(first.stdout)["published"]["version"] == 1
    second = scalepipe("train", "games", "--model", "gbm", "--publish", "--no-plot", "--json")
    assert json.loads(second.stdout)["published"]["uri"].endswith("/games:2")
    versions = json.loads(scalepipe("models", "versions", "games", "--json").stdout)
    assert [(v["version"], v["format"], v["aliases"]) for v in versions] == [
        (1, "skops", ["champion"]),
        (2, "skops", []),
    ]
    refused = scalepipe("models", "delete", "games", "1")
    assert refused.returncode == 2 and "target of champion" in refused.stderr
    promoted = scalepipe("models", "promote", "games", "2", "--alias", "champion")
    assert "games@champion: 1 -> 2" in promoted.stdout
    shown = json.loads(scalepipe("models", "show", "games", "--json").stdout)
    assert shown["version"] == 2 and shown["aliases"] == {"champion": 2}
    assert [e["action"] for e in shown["history"]] == ["publish", "promote", "publish", "promote"]
    assert scalepipe("models", "delete", "games", "1").returncode == 0
    listed = json.loads(scalepipe("models", "list", "--json").stdout)
    assert listed == [{"name": "games", "versions": [2], "aliases": {"champion": 2}}]
    verified = scalepipe("models", "verify", "games")
    assert verified.stdout.strip() == "ok games:2 (6 files)"


def test_a_tampered_model_fails_verify_with_exit_2() -> None:
    assert scalepipe("train", "housing", "--publish", "--no-plot").returncode == 0
    card = Path(os.environ["SCALEPIPE_STORE"]) / "housing" / "1" / "linear.json"
    card.write_text(card.read_text().replace("0", "1", 1))
    result = scalepipe("models", "verify", "housing")
    assert result.returncode == 2
    assert "linear.json does not match its sha256" in " ".join(result.stderr.split())


def test_quickstart_ends_serving_and_its_example_calls_work(tmp_path: Path) -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "scalepipe.cli", "quickstart", "--port", "0"],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=os.environ | {"COLUMNS": "200"},
    )
    try:
        assert process.stderr is not None
        calls: list[str] = []
        for line in process.stderr:
            if line.startswith("serving games and housing on"):
                calls = [next(process.stderr).strip() for _ in range(3)]
                break
        assert len(calls) == 3, "quickstart did not start serving"
        for call in calls:
            answer = subprocess.run(call, shell=True, capture_output=True, text=True, timeout=60)
            assert answer.returncode == 0, answer.stderr
            said = " ".join(answer.stdout.split())
            assert any(
                mark in said for mark in ("'success': True", '"success":true', '"predictions"')
            ), call
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=60) == 0


def test_package_and_invoke_a_lambda(tmp_path: Path) -> None:
    assert (
        scalepipe("train", "games", "--publish", "--alias", "champion", "--no-plot").returncode == 0
    )
    built = scalepipe(
        "package", "lambda", "games", "--bundle-model", "--out", str(tmp_path / "l.zip"), "--json"
    )
    report = json.loads(built.stdout)
    assert report["requirements"] == [] and report["zipped_bytes"] < 15 * 1024 * 1024
    event = tmp_path / "event.json"
    event.write_text(json.dumps({f"G{i}": "1" for i in range(1, 11)}))
    answer = json.loads(scalepipe("invoke", "lambda", str(event), "--model", "games").stdout)
    assert answer["statusCode"] == 200 and json.loads(answer["body"])["success"] is True
    gcf = json.loads(scalepipe("invoke", "gcf", str(event), "--model", "games:1").stdout)
    assert gcf["status"] == 200 and gcf["body"]["success"] is True
