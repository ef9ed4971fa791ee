"""Images of the games logistic model: scalepipe's (`scalepipe deploy build`) beside the
one MLflow generates (`mlflow models generate-dockerfile`), built with podman and run.

Image size (goal <= 300 MB), build time (no layer cache), container start to the first
ready answer (goal <= 1 s; median of --runs starts), and requests/s of the server in the
container against the same server started outside it (goal >= 90 % at 64 connections;
wrk, one-row GETs, 2 workers). MLflow's image is made FROM a stand-in for its
python:3.11.7-slim base (no registry is reachable here: Debian 12 with Python 3.11 and pip
in /usr/local, as in the official image) and installs MLflow from the package index
during its build, as its Dockerfile does; it serves one-row POSTs to /invocations.

    python benchmarks/deploy.py [--seconds 10] [--runs 5] [--no-mlflow]
    (needs podman, runc, debootstrap and wrk: apt-get install podman runc debootstrap wrk)
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from serve import free_port, wait_until_up, wrk  # noqa: E402

from scalepipe.deploy import build_image, plan_deploy  # noqa: E402
from scalepipe.store import ModelStore  # noqa: E402
from scalepipe.train import train  # noqa: E402

ROOT = HERE.parent
BASE = "localhost/scalepipe-base:bookworm"
STAND_IN = "localhost/python-slim-stand-in:3.11"
BOOK_QUERY = "&".join(f"G{i}={i % 2}" for i in range(1, 11))
_COLUMNS = ", ".join(f'"G{i}"' for i in range(1, 11))
_VALUES = ", ".join(str(i % 2) for i in range(1, 11))
MLFLOW_POST = f"""wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{{"dataframe_split": {{"columns": [{_COLUMNS}], "data": [[{_VALUES}]]}}}}'
"""


def podman(*args: str, check: bool = True) -> str:
    done = subprocess.run(["podman", *args], capture_output=True, text=True, check=False)
    if check and done.returncode != 0:
        raise RuntimeError(f"podman {args[0]} failed: {done.stderr[-1500:]}")
    return done.stdout.strip()


def image_size(tag: str) -> float:
    return int(podman("image", "inspect", "--format", "{{.Size}}", tag)) / 1e6


def start_to_ready(tag: str, ready_path: str, port_inside: int, runs: int) -> float:
    """Median seconds from the container's start to the first 200 on `ready_path`."""
    seconds = []
    for _ in range(runs):
        port = free_port()
        container = podman("run", "-d", "--publish", f"127.0.0.1:{port}:{port_inside}", tag)
        try:
            deadline = time.monotonic() + 120
            while True:
                try:
                    with urllib.request.urlopen(
                        f"http://127.0.0.1:{port}{ready_path}", timeout=1
                    ) as answer:
                        if answer.status == 200:
                            break
                except OSError:
                    if time.monotonic() > deadline:
                        raise RuntimeError(f"{tag} never became ready") from None
                    time.sleep(0.005)
            ready = time.time()
            started = podman(
                "inspect",
                "--format",
                "{{.State.StartedAt.Unix}} {{.State.StartedAt.Nanosecond}}",
                container,
            )
            unix, nanos = started.split()
            seconds.append(ready - (int(unix) + int(nanos) / 1e9))
        finally:
            podman("rm", "--force", "--time", "0", container, check=False)
    return statistics.median(seconds)


def served_rate(
    command: list[str],
    url: str,
    health: str,
    seconds: int,
    connections: int,
    script: Path | None = None,
) -> float:
    """wrk's requests/s against the server `command` starts, once `health` answers."""
    process = subprocess.Popen(
        command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    try:
        wait_until_up(health, process)
        wrk(url, connections, 2, script)  # warm-up
        return wrk(url, connections, seconds, script)["rate"]
    finally:
        process.terminate()
        process.wait(timeout=60)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--no-mlflow", action="store_true")
    options = parser.parse_args()
    os.environ.setdefault("CONTAINERS_CONF", str(ROOT / "tests" / "deploy" / "containers.conf"))
    if subprocess.run(["podman", "image", "exists", BASE], check=False).returncode != 0:
        subprocess.run(["bash", str(ROOT / "scripts" / "base-image.sh"), BASE], check=True)

    rows: list[tuple[str, str, str, str]] = []
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        store = ModelStore(str(folder / "store"))
        train("games", "logistic", plot=False).publish(store, name="games", alias="champion")
        plan = plan_deploy(["games:1"], store=store.url, image="localhost/bench-scalepipe:1")
        print("building scalepipe's image ...", file=sys.stderr)
        built = build_image(plan, base=BASE, no_cache=True)
        ours = {
            "size": built.size_bytes / 1e6,
            "build": built.seconds,
            "ready": start_to_ready(built.tag, "/readyz", 8000, options.runs),
        }

        port = free_port()
        url = f"http://127.0.0.1:{port}/?{BOOK_QUERY}"
        outside = [
            sys.executable,
            "-m",
            "scalepipe.cli",
            "serve",
            "--store",
            store.url,
            "--port",
            str(port),
            "--workers",
            "2",
            "games:1",
        ]
        inside = ["podman", "run", "--rm", "--publish", f"127.0.0.1:{port}:8000", built.tag]
        host_net = ["podman", "run", "--rm", "--network", "host", built.tag,
                    *plan.serve_args(port=str(port), host="127.0.0.1")]  # fmt: skip
        rates = {}
        for name, command in (("outside", outside), ("bridge", inside), ("host", host_net)):
            for connections in (1, 64):
                print(f"wrk {name} c{connections} ...", file=sys.stderr)
                rates[name, connections] = served_rate(
                    command, url, f"http://127.0.0.1:{port}/readyz", options.seconds, connections
                )

        mlflow: dict[str, float] = {}
        if not options.no_mlflow:
            mlflow = build_mlflow(folder, store, options)
        podman("rmi", "--force", built.tag, check=False)

    rows.append(
        (
            "image size, MB (goal <= 300)",
            f"{ours['size']:.0f}",
            f"{mlflow['size']:.0f}" if mlflow else "-",
            f"{mlflow['size'] / ours['size']:.1f}x smaller" if mlflow else "-",
        )
    )
    rows.append(
        (
            "build, s (no cache)",
            f"{ours['build']:.1f}",
            f"{mlflow['build']:.1f}" if mlflow else "-",
            f"{mlflow['build'] / ours['build']:.1f}x faster" if mlflow else "-",
        )
    )
    rows.append(
        (
            "container start -> ready, s (median; goal <= 1)",
            f"{ours['ready']:.2f}",
            f"{mlflow['ready']:.2f}" if mlflow else "-",
            f"{mlflow['ready'] / ours['ready']:.1f}x sooner" if mlflow else "-",
        )
    )
    for connections in (1, 64):
        base = rates["outside", connections]
        rows.append((f"req/s outside the container, c{connections}", f"{base:,.0f}", "-", "1.00"))
        for name, label in (("bridge", "published port (bridge)"), ("host", "host network")):
            rate = rates[name, connections]
            rows.append(
                (
                    f"req/s in the container, {label}, c{connections}",
                    f"{rate:,.0f}",
                    "-",
                    f"{rate / base:.2f} of outside",
                )
            )
        if mlflow:
            rows.append(
                (
                    f"req/s MLflow's container, POST /invocations, c{connections}",
                    "-",
                    f"{mlflow[f'rate{connections}']:,.0f}",
                    f"{rates['bridge', connections] / mlflow[f'rate{connections}']:.0f}x "
                    "(scalepipe bridge / MLflow)",
                )
            )
    print("| case | scalepipe | MLflow | ratio |")
    print("|---|---:|---:|---|")
    for row in rows:
        print("| " + " | ".join(row) + " |")


def build_mlflow(folder: Path, store: ModelStore, options: argparse.Namespace) -> dict[str, float]:
    stand_in = folder / "stand-in"
    stand_in.mkdir()
    # The machine's CA bundle: the package index is reached through its TLS proxy.
    (stand_in / "ca.crt").write_bytes(Path("/etc/ssl/certs/ca-certificates.crt").read_bytes())
    (stand_in / "Dockerfile").write_text(
        f"FROM {BASE}\nCOPY ca.crt /etc/ssl/certs/ca-certificates.crt\n"
        "ENV PIP_CERT=/etc/ssl/certs/ca-certificates.crt\nRUN python3 -m venv /usr/local\n"
    )
    podman("build", "--quiet", "--tag", STAND_IN, str(stand_in))
    generated = folder / "mlflow"
    subprocess.run(
        [
            str(Path(sys.executable).parent / "mlflow"),
            "models",
            "generate-dockerfile",
            "-m",
            str(Path(store.url) / "games" / "1"),
            "-d",
            str(generated),
        ],
        capture_output=True,
        check=True,
    )
    dockerfile = generated / "Dockerfile"
    lines = dockerfile.read_text().splitlines()
    lines = [f"FROM {STAND_IN}" if line.startswith("FROM ") else line for line in lines]
    dockerfile.write_text("\n".join(lines) + "\n")
    print("building MLflow's image (installs from the index) ...", file=sys.stderr)
    started = time.perf_counter()
    podman(
        "build",
        "--no-cache",
        "--format",
        "docker",
        "--tag",
        "localhost/bench-mlflow:1",
        str(generated),
    )
    build = time.perf_counter() - started
    result = {
        "size": image_size("localhost/bench-mlflow:1"),
        "build": build,
        "ready": start_to_ready("localhost/bench-mlflow:1", "/ping", 8080, options.runs),
    }
    script = folder / "post.lua"
    script.write_text(MLFLOW_POST)
    for connections in (1, 64):
        port = free_port()
        command = [
            "podman",
            "run",
            "--rm",
            "--publish",
            f"127.0.0.1:{port}:8080",
            "--env",
            "GUNICORN_CMD_ARGS=--workers 2",
            "localhost/bench-mlflow:1",
        ]
        result[f"rate{connections}"] = served_rate(
            command,
            f"http://127.0.0.1:{port}/invocations",
            f"http://127.0.0.1:{port}/ping",
            options.seconds,
            connections,
            script,
        )
    podman("rmi", "--force", "localhost/bench-mlflow:1", check=False)
    return result


if __name__ == "__main__":
    main()
