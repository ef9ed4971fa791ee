"""Stream jobs on the machine's Redis: results equal the Predictor's, bad messages go to
the dead-letter stream after --attempts deliveries, SIGTERM drains, SIGKILL loses and
repeats nothing, the job follows alias promotions, and the metrics count."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from typing import Any

import numpy as np
import orjson
import pytest
import redis

from scalepipe.errors import StreamError
from scalepipe.io import load
from scalepipe.predict import Predictor
from scalepipe.store import ModelStore
from scalepipe.stream import Limits, produce, score
from scalepipe.stream.urls import parse
from tests.stream.conftest import redis_entries

client: Any = redis.Redis(host="127.0.0.1", port=6379)


def command(*arguments: str) -> list[str]:
    return [sys.executable, "-m", "scalepipe.cli", "stream", *arguments]


def send(stream: str, *bodies: bytes) -> None:
    for body in bodies:
        client.xadd(stream, {b"data": body})


def test_every_message_is_scored_as_the_predictor_scores_it(
    store: ModelStore, redis_streams: dict[str, str]
) -> None:
    produced = produce("dataset:games?rows=5000", redis_streams["in"])
    stats = score("games", redis_streams["in"], redis_streams["out"], batch=700,
                  limits=Limits(idle=0.5))  # fmt: skip
    results = redis_entries(redis_streams["out_name"])
    assert produced.messages == stats.scored == len(results) == 5_000
    assert [r["id"] for r in results] == [str(i) for i in range(5_000)]
    assert {(r["model"], r["version"]) for r in results} == {("games", 1)}
    frame = load("games", rows=5_000)
    expected = Predictor.load("games").predict_frame(frame)
    np.testing.assert_allclose([r["prediction"] for r in results], expected, rtol=1e-12)
    pending = client.xpending(redis_streams["in_name"], "scalepipe")
    assert pending["pending"] == 0
    assert stats.lag == 0


@pytest.mark.parametrize("attempts", [1, 3])
def test_bad_messages_go_to_the_dead_letter_stream_after_the_attempts(
    store: ModelStore, redis_streams: dict[str, str], attempts: int
) -> None:
    good = {f"G{i}": i % 2 for i in range(1, 11)}
    send(
        redis_streams["in_name"],
        orjson.dumps({"id": "a", **good}),
        orjson.dumps({"id": "b", **good, "G3": "abc"}),
        b"{not json",
        orjson.dumps({**good}),
        orjson.dumps({"id": "e", **{k: v for k, v in good.items() if k != "G7"}}),
        orjson.dumps({"id": "f", **good}),
    )
    stats = score("games", redis_streams["in"], redis_streams["out"],
                  dead_letter_url=redis_streams["dead"], attempts=attempts,
                  limits=Limits(idle=0.5))  # fmt: skip
    assert [r["id"] for r in redis_entries(redis_streams["out_name"])] == ["a", "f"]
    letters = redis_entries(redis_streams["dead_name"])
    assert stats.dead_lettered == len(letters) == 4
    named = {letter["id"]: letter for letter in letters if letter["id"] is not None}
    assert named["b"]["field"] == "G3" and "'abc'" in named["b"]["error"]
    assert orjson.loads(named["b"]["message"])["G3"] == "abc"
    assert named["e"]["field"] == "G7" and "missing feature(s): G7" in named["e"]["error"]
    unnamed = sorted((letter for letter in letters if letter["id"] is None),
                     key=lambda letter: letter["message"])  # fmt: skip
    assert [letter["message"][:5] for letter in unnamed] == ['{"G1"', "{not "]
    assert unnamed[0]["field"] == "id" and "field 'id' must be" in unnamed[0]["error"]
    assert unnamed[1]["field"] is None and "not JSON" in unnamed[1]["error"]
    assert {letter["deliveries"] for letter in letters} == {attempts}
    assert client.xpending(redis_streams["in_name"], "scalepipe")["pending"] == 0


def test_urls_name_what_is_wrong() -> None:
    with pytest.raises(StreamError, match="names no stream: add \\?stream=NAME"):
        parse("redis://127.0.0.1:6379/0")
    with pytest.raises(StreamError, match="unknown option\\(s\\) topic"):
        parse("redis://127.0.0.1:6379/0?stream=a&topic=b")
    with pytest.raises(StreamError, match="unknown broker URL"):
        parse("amqp://127.0.0.1/x")
    with pytest.raises(StreamError, match="pubsub://PROJECT/topics/T"):
        parse("pubsub://project/queues/x")
    with pytest.raises(StreamError, match=r"claim_idle .* must be a number >= 0"):
        parse("redis://127.0.0.1:6379/0?stream=a&claim_idle=soon")
    assert parse("kafka://broker?topic=t").server == "broker:9092"
    assert parse("nats://n?stream=s").options["subject"] == "s"


def test_a_new_group_starts_at_the_oldest_message_or_with_from_latest_at_new_ones(
    store: ModelStore, redis_streams: dict[str, str]
) -> None:
    produce("dataset:games?rows=50", redis_streams["in"])
    latest = score("games", redis_streams["in"], redis_streams["out"], group="late",
                   start="latest", limits=Limits(idle=0.3))  # fmt: skip
    earliest = score("games", redis_streams["in"], redis_streams["out"], group="early",
                     limits=Limits(idle=0.3))  # fmt: skip
    again = score("games", redis_streams["in"], redis_streams["out"], group="early",
                  limits=Limits(idle=0.3))  # fmt: skip
    assert (latest.scored, earliest.scored, again.scored) == (0, 50, 0)


def test_a_model_failure_acknowledges_nothing_and_the_batch_is_tried_again(
    store: ModelStore, redis_streams: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The fault is injected into our own scoring step (no real model fails on demand),
    after the job's warm-up."""
    from scalepipe.batch.scoring import score_batch as real

    failures = {"left": 2}

    def failing(batch: Any, *arguments: Any, **options: Any) -> Any:
        if failures["left"] and "warm-up" not in batch.column("id").to_pylist():
            failures["left"] -= 1
            raise RuntimeError("the model's library crashed")
        return real(batch, *arguments, **options)

    monkeypatch.setattr("scalepipe.stream.scoring.score_batch", failing)
    produce("dataset:games?rows=300", redis_streams["in"])
    stats = score("games", redis_streams["in"], redis_streams["out"], batch=1_000,
                  limits=Limits(idle=0.5))  # fmt: skip
    assert stats.model_errors == 2
    ids = [r["id"] for r in redis_entries(redis_streams["out_name"])]
    assert sorted(ids, key=int) == [str(i) for i in range(300)]


def test_the_job_follows_an_alias_promotion_without_a_restart(
    store: ModelStore, redis_streams: dict[str, str]
) -> None:
    stop = threading.Event()
    finished: list[Any] = []
    worker = threading.Thread(target=lambda: finished.append(score(
        "games", redis_streams["in"], redis_streams["out"], refresh=0.2, stop=stop)))  # fmt: skip
    worker.start()
    try:
        produce("dataset:games?rows=100", redis_streams["in"])
        deadline = time.monotonic() + 30
        while len(redis_entries(redis_streams["out_name"])) < 100:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        store.promote("games", 2, "champion")
        time.sleep(1.0)
        produce("dataset:games?rows=100&seed=5", redis_streams["in"])
        while len(redis_entries(redis_streams["out_name"])) < 200:
            assert time.monotonic() < deadline
            time.sleep(0.05)
    finally:
        stop.set()
        worker.join(timeout=30)
    versions = [r["version"] for r in redis_entries(redis_streams["out_name"])]
    assert versions == [1] * 100 + [2] * 100


def test_sigterm_finishes_the_batch_in_flight_and_exits_0(
    store: ModelStore, redis_streams: dict[str, str]
) -> None:
    produce("dataset:games?rows=200000", redis_streams["in"])
    job = subprocess.Popen(command("score", "games", "--source", redis_streams["in"],
                                   "--sink", redis_streams["out"], "--batch", "50"),
                           stderr=subprocess.PIPE, text=True)  # fmt: skip
    deadline = time.monotonic() + 60
    while client.xlen(redis_streams["out_name"]) < 1_000:
        assert time.monotonic() < deadline and job.poll() is None
        time.sleep(0.05)
    job.send_signal(signal.SIGTERM)
    _, errors = job.communicate(timeout=30)
    assert job.returncode == 0, errors
    written = client.xlen(redis_streams["out_name"])
    assert 1_000 <= written < 200_000
    info = {g[b"name"] if b"name" in g else g["name"]: g
            for g in client.xinfo_groups(redis_streams["in_name"])}  # fmt: skip
    group = info.get(b"scalepipe") or info.get("scalepipe")
    assert group is not None
    assert client.xpending(redis_streams["in_name"], "scalepipe")["pending"] == 0


def kill_again_and_again(
    streams: dict[str, str], source: str, sink_stream: str, kills: int = 20
) -> list[dict[str, Any]]:
    """Produce messages at 4,000/s while a stream job is started and killed with SIGKILL
    `kills` times, each time at a random moment after it wrote a result; then stop the
    producer and let a last run drain the stream. Returns the results."""
    pick = random.Random(15)
    producer = subprocess.Popen(command("produce", "dataset:games?rows=1000000", "--to", source,
                                        "--rate", "4000"),
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    job_options = ("--sink", streams["out"], "--batch", "100", "--consumer", "only")
    try:
        for _ in range(kills):
            before = client.xlen(sink_stream)
            job = subprocess.Popen(
                command("score", "games", "--source", source, *job_options),
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            deadline = time.monotonic() + 120
            while client.xlen(sink_stream) == before:
                assert time.monotonic() < deadline and job.poll() is None
                time.sleep(0.01)
            time.sleep(pick.uniform(0.0, 0.3))
            job.kill()
            job.wait()
    finally:
        producer.kill()
        producer.wait()
    last = subprocess.run(command("score", "games", "--source", source, *job_options,
                                  "--until-idle", "3"),
                          capture_output=True, text=True, timeout=300)  # fmt: skip
    assert last.returncode == 0, last.stderr
    return redis_entries(sink_stream)


def test_sigkill_20_times_under_load_loses_and_repeats_no_message(
    store: ModelStore, redis_streams: dict[str, str]
) -> None:
    results = kill_again_and_again(redis_streams, redis_streams["in"], redis_streams["out_name"])
    sent = [str(orjson.loads(body[b"data"])["id"])
            for _, body in client.xrange(redis_streams["in_name"])]  # fmt: skip
    ids = [r["id"] for r in results]
    assert len(sent) > 20_000
    assert len(ids) == len(set(ids)) == len(sent)
    assert set(ids) == set(sent)
    assert client.xpending(redis_streams["in_name"], "scalepipe")["pending"] == 0


def test_metrics_count_the_messages_and_the_lag(
    store: ModelStore, redis_streams: dict[str, str]
) -> None:
    from tests.conftest import _free_port

    port = _free_port()
    produce("dataset:games?rows=1000", redis_streams["in"])
    stop = threading.Event()
    worker = threading.Thread(target=lambda: score("games", redis_streams["in"],
                              redis_streams["out"], stop=stop, metrics_port=port,
                              report_every=0.1))  # fmt: skip
    worker.start()
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as r:
                    text = r.read().decode()
            except OSError:
                text = ""
            if 'scalepipe_stream_messages_total{model="games",outcome="scored"} 1000.0' in text:
                break
            assert time.monotonic() < deadline, text
            time.sleep(0.1)
        assert "scalepipe_stream_lag 0.0" in text
        assert "scalepipe_stream_batch_seconds_count" in text
    finally:
        stop.set()
        worker.join(timeout=30)


def test_the_commands_print_what_they_did(store: ModelStore, redis_streams: dict[str, str]) -> None:
    sent = subprocess.run(command("produce", "dataset:games?rows=500", "--to", redis_streams["in"]),
                          capture_output=True, text=True, timeout=120)  # fmt: skip
    assert sent.returncode == 0, sent.stderr
    assert "sent 500 messages to redis://127.0.0.1:6379/0" in sent.stdout
    scored = subprocess.run(command("score", "games", "--source", redis_streams["in"],
                                    "--sink", redis_streams["out"], "--until-idle", "0.5",
                                    "--report-every", "0.2"),
                            capture_output=True, text=True, timeout=120)  # fmt: skip
    assert scored.returncode == 0, scored.stderr
    assert "scored 500 messages with games:1" in scored.stdout
    assert "lag 0" in scored.stderr
    bad = subprocess.run(command("score", "games", "--source", redis_streams["in"],
                                 "--sink", redis_streams["out"], "--batch", "0"),
                         capture_output=True, text=True, timeout=120)  # fmt: skip
    assert bad.returncode == 2 and "--batch must be at least 1" in bad.stderr
    assert os.environ.get("SCALEPIPE_STORE")


def test_the_chapter_8_example_runs_as_a_reader_runs_it(redis_streams: dict[str, str]) -> None:
    from pathlib import Path

    example = Path(__file__).resolve().parents[2] / "examples" / "ch8_streaming.py"
    done = subprocess.run([sys.executable, str(example), "--messages", "2000"],
                          capture_output=True, text=True, timeout=300)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "sent 2,000 messages" in done.stdout
    assert "scored 2,000 messages with games:1" in done.stdout
    assert "first result: {'id': '0', 'prediction': 0." in done.stdout


def test_a_message_that_is_several_json_values_is_refused_alone(
    store: ModelStore, redis_streams: dict[str, str]
) -> None:
    good = {f"G{i}": 1 for i in range(1, 11)}
    send(
        redis_streams["in_name"],
        orjson.dumps({"id": "a", **good}),
        orjson.dumps({"id": "b", **good}) + b"," + orjson.dumps({"id": "c", **good}),
        orjson.dumps({"id": "d", **good}),
    )
    stats = score("games", redis_streams["in"], redis_streams["out"], attempts=1,
                  dead_letter_url=redis_streams["dead"], limits=Limits(idle=0.3))  # fmt: skip
    assert [r["id"] for r in redis_entries(redis_streams["out_name"])] == ["a", "d"]
    assert stats.dead_lettered == 1
    assert "not JSON" in redis_entries(redis_streams["dead_name"])[0]["error"]
