"""What the connection limits cost: the raw ASGI ceiling on stock uvicorn httptools vs on
scalepipe's limited protocol (connection cap, request timeout, header limit).

Both run the same constant-body app on run_workers with 2 workers; wrk -t1 at 64
connections; the two alternate for several rounds, since on 2 shared cores one run's
noise (about 10 % here) is larger than the difference. The last column is the cost.

    python benchmarks/limits.py [--rounds 3] [--seconds 8]      (needs wrk)
"""

from __future__ import annotations

import argparse
import signal
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from serve import free_port, wait_until_up, wrk

APP = """
import sys
from scalepipe.serve import runner
if sys.argv[2] == "stock":
    runner.limited_protocol = lambda limits: "httptools"
BODY = b'{"response": "0.1", "success": true}'
HEADERS = [(b"content-type", b"application/json"), (b"content-length", str(len(BODY)).encode())]

async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    await send({"type": "http.response.start", "status": 200, "headers": HEADERS})
    await send({"type": "http.response.body", "body": BODY})

runner.run_workers(lambda: app, "127.0.0.1", int(sys.argv[1]), 2)
"""
CASES = {
    "stock uvicorn httptools": "stock",
    "scalepipe limited protocol": "limited",
}


def measure(script: Path, mode: str, seconds: int) -> float:
    port = free_port()
    server = subprocess.Popen([sys.executable, str(script), str(port), mode])
    try:
        wait_until_up(f"http://127.0.0.1:{port}/", server)
        return wrk(f"http://127.0.0.1:{port}/", 64, seconds)["rate"]
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=60)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=8)
    options = parser.parse_args()
    rates: dict[str, list[float]] = {name: [] for name in CASES}
    with tempfile.TemporaryDirectory() as scratch:
        script = Path(scratch) / "app.py"
        script.write_text(APP)
        for _ in range(options.rounds):
            for name, mode in CASES.items():
                rates[name].append(measure(script, mode, options.seconds))
    stock = statistics.fmean(rates["stock uvicorn httptools"])
    print(f"{'ceiling, 64 connections (req/s)':<34} {'mean':>9} {'runs':>26} {'vs stock':>9}")
    for name, values in rates.items():
        runs = " ".join(f"{value:,.0f}" for value in values)
        mean = statistics.fmean(values)
        print(f"{name:<34} {mean:>9,.0f} {runs:>26} {mean / stock:>8.1%}")


if __name__ == "__main__":
    main()
