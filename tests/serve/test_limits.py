"""The server stays up for everyone: idle, slow and oversized clients are cut off; workers
go with their supervisor; a port is never shared; replaced workers serve what the others
serve. Real processes and sockets on 127.0.0.1."""

from __future__ import annotations

import os
import signal
import socket
import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

import requests

from tests import models
from tests.serve.conftest import API_KEY, Server, start_server, wait_for_url

BOOK_PARAMS = models.BOOK_REQUEST
LIMITS = ("--max-connections", "64", "--request-timeout", "1", "--header-limit", "8192")


def _address(server: Server) -> tuple[str, int]:
    parts = urlsplit(server.url)
    assert parts.hostname is not None and parts.port is not None
    return parts.hostname, parts.port


def _open(server: Server, first_bytes: bytes = b"") -> socket.socket:
    sock = socket.create_connection(_address(server), timeout=10)
    if first_bytes:
        sock.sendall(first_bytes)
    return sock


def _closed_by_server(sock: socket.socket, within: float) -> bytes:
    """What the server said before closing the socket; fails if it keeps it open."""
    sock.settimeout(within)
    said = b""
    try:
        while chunk := sock.recv(65536):
            said += chunk
    except TimeoutError:
        raise AssertionError(f"the server kept the socket open (it said {said[:80]!r})") from None
    except ConnectionResetError:
        pass
    sock.close()
    return said


def test_idle_half_header_and_half_body_clients_are_cut_off_and_health_answers(
    serve_models: Callable[..., Server],
) -> None:
    server = serve_models("games", "--workers", "1", *LIMITS)
    idle = [_open(server) for _ in range(40)]
    half_header = [
        _open(server, b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Pad: " + b"a" * 1000)
        for _ in range(10)
    ]
    half_body = [
        _open(server, b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n{")
        for _ in range(10)
    ]
    time.sleep(0.2)
    # Past the cap of 64 open connections, new ones are answered 503 and closed at once.
    extra = [_open(server) for _ in range(10)]
    refused = [_closed_by_server(sock, within=5) for sock in extra]
    assert sum(b" 503 " in said for said in refused) >= 6
    # The slow ones are closed with 408 after the request timeout (1 s), and health answers.
    started = time.monotonic()
    for sock in half_header + half_body + idle:
        said = _closed_by_server(sock, within=5)
        assert said.startswith(b"HTTP/1.1 408 "), said[:80]
    assert time.monotonic() - started < 4
    assert requests.get(f"{server.url}/healthz", timeout=5).json() == {"status": "ok"}
    assert requests.get(server.url, params=BOOK_PARAMS, timeout=5).json()["success"]


def test_an_oversized_header_gets_431_and_is_not_buffered(
    serve_models: Callable[..., Server],
) -> None:
    server = serve_models("games", "--workers", "1", *LIMITS)
    sock = _open(server, b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: ")
    try:
        for _ in range(100):
            sock.sendall(b"a" * 1000)
    except (BrokenPipeError, ConnectionResetError):
        pass  # the server closed it while the client was still sending
    said = _closed_by_server(sock, within=5)
    assert said == b"" or said.startswith(b"HTTP/1.1 431 "), said[:80]
    ordinary = requests.get(server.url, params=BOOK_PARAMS, headers={"X-Pad": "a" * 4000})
    assert ordinary.status_code == 200


def test_a_second_server_on_a_port_in_use_fails_clearly(
    serve_models: Callable[..., Server],
) -> None:
    first = serve_models("games", "--workers", "1")
    port = str(_address(first)[1])
    process = start_server("--store", first.store.url, "games", "--port", port)
    assert process.wait(timeout=60) == 2
    assert process.stderr is not None
    said = " ".join(process.stderr.read().split())
    assert f"cannot listen on 127.0.0.1:{port}" in said and "another server holds it" in said


def _workers(supervisor: int) -> list[int]:
    children = Path(f"/proc/{supervisor}/task/{supervisor}/children").read_text().split()
    return [int(pid) for pid in children]


def _gone(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return True
    return state in ("Z", "X")


def test_workers_exit_when_the_supervisor_is_killed(serve_models: Callable[..., Server]) -> None:
    server = serve_models("games", "--workers", "2")
    workers = _workers(server.process.pid)
    assert len(workers) == 2
    server.process.send_signal(signal.SIGKILL)
    server.process.wait(timeout=10)
    deadline = time.monotonic() + 30
    while not all(_gone(pid) for pid in workers) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert all(_gone(pid) for pid in workers)
    # The port is free again: a new server takes it.
    port = str(_address(server)[1])
    process = start_server("--store", server.store.url, "games", "--port", port)
    try:
        assert wait_for_url(process).endswith(f":{port}")
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=60)


def test_a_replaced_worker_serves_the_version_the_others_reloaded_to(
    serve_models: Callable[..., Server], key_file: Path
) -> None:
    server = serve_models("games", "--workers", "2", "--api-key-file", str(key_file))
    headers = {"X-API-Key": API_KEY, "Connection": "close"}
    server.store.publish(models.prepared("gbm"), "games", alias="champion")
    # The reload answers once this worker has loaded version 2, importing scikit-learn and
    # skops for the first time (the logistic model needed neither): 3 s here when idle,
    # over 10 s once in a full test run on this 2-core machine.
    reloaded = requests.post(f"{server.url}/admin/reload", headers=headers, timeout=60).json()
    assert reloaded["models"] == {"games": 2}
    time.sleep(1)  # the signal reaches the other worker and the supervisor
    before = _workers(server.process.pid)
    os.kill(before[0], signal.SIGKILL)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        now = _workers(server.process.pid)
        if len(now) == 2 and before[0] not in now:
            break
        time.sleep(0.1)
    time.sleep(1)  # the new worker listens
    versions = {
        requests.get(server.url, params=BOOK_PARAMS, headers=headers, timeout=10).headers[
            "x-model-version"
        ]
        for _ in range(40)
    }
    assert versions == {"2"}
