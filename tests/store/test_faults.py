"""The store on a full or read-only disk, with damaged files: one clear line, and reports
of what really happened."""

from __future__ import annotations

import http.server
import json
import subprocess
import threading
from functools import partial
from pathlib import Path

import pytest

from scalepipe.config import redact_url
from scalepipe.predict import Predictor
from scalepipe.store import ModelStore, StoreError
from tests import models
from tests.conftest import small_disk
from tests.test_cli import scalepipe


def said(result: subprocess.CompletedProcess[str]) -> str:
    """The error line as a user reads it (the terminal may wrap it)."""
    return " ".join(result.stderr.split())


def _inodes_of_one_version_without_its_audit_record(tmp_path: Path) -> int:
    store = ModelStore(str(tmp_path / "measure"))
    store.publish(models.prepared("logistic"), "games")
    used = [p for p in (tmp_path / "measure").rglob("*") if "audit" not in p.parts]
    return len(used) + 1  # the root


def test_a_full_disk_at_the_audit_record_still_reports_the_publish(tmp_path: Path) -> None:
    inodes = _inodes_of_one_version_without_its_audit_record(tmp_path)
    with small_disk(tmp_path / "disk", "size=16m", f"nr_inodes={inodes}") as disk:
        store = ModelStore(str(disk))
        with pytest.warns(UserWarning, match="audit record was not written"):
            version = store.publish(models.prepared("logistic"), "games")
        assert version == 1
        assert Predictor.load("games:1", store=store).version == 1
        assert store.verify("games") == ["games:1 (7 files)"]
        shown = scalepipe("models", "show", "games:1", "--store", str(disk), "--json")
        assert shown.returncode == 0, shown.stderr
        assert json.loads(shown.stdout)["version"] == 1


def test_a_torn_audit_record_does_not_break_show(tmp_path: Path) -> None:
    store = ModelStore(str(tmp_path / "models"))
    store.publish(models.prepared("logistic"), "games", alias="champion")
    (tmp_path / "models" / "games" / "audit" / "0000-torn.json").write_bytes(b"")
    history = store.audit("games")
    assert [event["action"] for event in history] == ["unreadable record", "publish", "promote"]
    shown = scalepipe("models", "show", "games", "--store", str(tmp_path / "models"))
    assert shown.returncode == 0, shown.stderr


def test_a_read_only_store_says_so_in_one_line(tmp_path: Path) -> None:
    with small_disk(tmp_path / "ro", "size=1m", "ro") as disk:
        result = scalepipe("train", "games", "--rows", "2000", "--publish", "--store", str(disk))
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert "Read-only file system" in said(result)
    assert str(disk) in said(result)


@pytest.mark.parametrize(
    ("aliases", "found"),
    [("not json", "Expecting value"), ('{"champion": "three"}', "'three' is not a version"),
     ('["champion"]', "malformed"), ('{"../x": 1}', "alias '../x'")],
)  # fmt: skip
def test_a_malformed_aliases_file_is_named(tmp_path: Path, aliases: str, found: str) -> None:
    store = ModelStore(str(tmp_path / "models"))
    store.publish(models.prepared("logistic"), "games")
    path = tmp_path / "models" / "games" / "aliases.json"
    path.write_text(aliases)
    with pytest.raises(StoreError, match=r"aliases\.json"):
        store.aliases("games")
    result = scalepipe("models", "show", "games", "--store", str(tmp_path / "models"))
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert str(path) in said(result)
    assert found in said(result)


def test_serving_a_path_outside_the_store_is_one_line(tmp_path: Path) -> None:
    # ../.. holds folders that are no model's name (as / holds .dockerenv, lost+found).
    (tmp_path / ".cache").mkdir()
    (tmp_path / "lost+found").mkdir()
    (tmp_path / "a" / "b").mkdir(parents=True)
    result = scalepipe("serve", "../../x", cwd=tmp_path / "a" / "b")
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert said(result) == "error: x has no alias 'champion' in ../.. (models here: none)"


def test_verify_of_an_unknown_model_or_a_missing_store_fails(tmp_path: Path) -> None:
    for store in (tmp_path / "nowhere", tmp_path):
        result = scalepipe("models", "verify", "games", "--store", str(store))
        assert result.returncode == 2
        assert "games has no published versions" in said(result)


@pytest.mark.parametrize(
    ("given", "recorded"),
    [
        ("https://user:secret@example.com/data/games.csv?X-Amz-Signature=abc#frag",
         "https://example.com/data/games.csv"),
        ("s3://bucket/games.csv?versionId=3", "s3://bucket/games.csv"),
        ("postgresql://scott:tiger@db:5432/test", "postgresql://db:5432/test"),
        ("games.csv", "games.csv"),
    ],
)  # fmt: skip
def test_recorded_sources_carry_no_credentials(given: str, recorded: str) -> None:
    assert redact_url(given) == recorded


def test_the_card_records_the_source_without_its_credentials(tmp_path: Path) -> None:
    from scalepipe.train import train

    models.games().to_csv(tmp_path / "games.csv", index=False)
    handler = partial(http.server.SimpleHTTPRequestHandler, directory=str(tmp_path))
    with http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler) as server:
        threading.Thread(target=server.serve_forever, daemon=True).start()
        port = server.server_address[1]
        trained = train(
            "games", "logistic", source=f"http://127.0.0.1:{port}/games.csv?token=s3cr3t"
        )
        server.shutdown()
    assert trained.params["source"] == f"http://127.0.0.1:{port}/games.csv"
    trained.publish(store=str(tmp_path / "models"))
    card = ModelStore(str(tmp_path / "models")).card("games", 1)
    assert "s3cr3t" not in card.to_json().decode()
