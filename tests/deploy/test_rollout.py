"""The rendered Kubernetes Deployment on `podman kube play`, a rolling replacement behind
a real load balancer (HAProxy) under load, API keys from a mounted secret, and a model
read from a bucket at start."""

from __future__ import annotations

import json
import shutil
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
import yaml

from scalepipe.deploy import BuiltImage, plan_deploy, render
from scalepipe.predict import Predictor
from scalepipe.store import ModelStore
from tests import models
from tests.conftest import _free_port, s3_environment
from tests.deploy.conftest import IMAGE, Container, image_of

pytestmark = pytest.mark.slow  # image builds; CI runs them
BOOK = models.BOOK_REQUEST
API_KEY = "deploy-test-key-0123456789"


def test_the_kubernetes_deployment_runs_on_podman_kube_play(
    games_image: BuiltImage, deploy_store: ModelStore, tmp_path: Path
) -> None:
    """kube play runs the Deployment's pod with its probes' ports, user and read-only
    root. Rendered without API keys: podman 4.3's kube play writes a Secret's data
    undecoded, so the key file is tested with a bind mount below instead."""
    plan = plan_deploy(["games:1"], store=deploy_store.url, replicas=1, image=games_image.tag)
    folder = tmp_path / "k8s"
    render(plan, "kubernetes", folder, api_keys=False)
    manifest = folder / "deployment.yaml"
    played = subprocess.run(
        ["podman", "kube", "play", str(manifest)], capture_output=True, text=True, check=False
    )
    assert played.returncode == 0, played.stderr
    try:
        server = f"{plan.name}-pod-0-server"
        url = "http://127.0.0.1:8000"  # kube play publishes the containerPort
        deadline = time.monotonic() + 30
        while True:
            try:
                if requests.get(f"{url}/readyz", timeout=1).ok:
                    break
            except requests.ConnectionError:
                pass
            assert time.monotonic() < deadline, "the pod never became ready"
            time.sleep(0.05)
        assert requests.get(url, params=BOOK, timeout=10).json()["success"] is True
        shown = subprocess.run(
            [
                "podman",
                "inspect",
                "--format",
                "{{.Config.User}} {{.HostConfig.ReadonlyRootfs}}",
                server,
            ],
            capture_output=True,
            text=True,
            check=True,
        )
        assert shown.stdout.split() == ["10001:10001", "true"]
        written = subprocess.run(
            ["podman", "exec", server, "touch", "/tmp/x", "/opt/x"],
            capture_output=True,
            text=True,
            check=False,
        )
        assert "Read-only file system" in written.stderr and "/tmp/x" not in written.stderr
    finally:
        subprocess.run(["podman", "kube", "down", str(manifest)], capture_output=True, check=False)


@pytest.mark.parametrize("platform", ["kubernetes", "ecs"])
def test_with_the_platforms_secret_the_server_refuses_requests_without_a_key(
    games_image: BuiltImage, deploy_store: ModelStore, tmp_path: Path, platform: str
) -> None:
    """The image run with the rendered arguments and the secret where the platform puts
    it: Kubernetes mounts the Secret as a file, ECS injects it as a variable."""
    plan = plan_deploy(["games:1"], store=deploy_store.url, image=games_image.tag)
    render(plan, platform, tmp_path / platform)
    if platform == "kubernetes":
        deployment = yaml.safe_load((tmp_path / platform / "deployment.yaml").read_text())
        (server,) = deployment["spec"]["template"]["spec"]["containers"]
        args = server["args"]
        keys = tmp_path / "keys"
        keys.write_text(f"{API_KEY}\n")
        keys.chmod(0o444)
        mount = next(m for m in server["volumeMounts"] if m["name"] == "api-keys")["mountPath"]
        options = ("--volume", f"{keys}:{mount}/keys:ro")
    else:
        task = json.loads((tmp_path / platform / "task-definition.json").read_text())
        (server,) = task["containerDefinitions"]
        args = server["command"]
        options = ("--env", f"{server['secrets'][0]['name']}=another-key,{API_KEY}")
    container = Container(games_image.tag, *args, port=_free_port(), options=options)
    try:
        container.wait_ready()
        assert requests.get(container.url, params=BOOK, timeout=10).status_code == 401
        bearer = {"Authorization": f"Bearer {API_KEY}"}
        assert requests.get(container.url, params=BOOK, headers=bearer, timeout=10).ok
        assert API_KEY not in container.logs()
    finally:
        container.remove()


@pytest.fixture(scope="module")
def second_image(podman: str, deploy_store: ModelStore) -> Iterator[BuiltImage]:
    with image_of(plan_deploy(["games:2"], store=deploy_store.url, image=f"{IMAGE}:2")) as built:
        yield built


HAPROXY = """\
global
    maxconn 512
defaults
    mode http
    timeout connect 1s
    timeout client 10s
    timeout server 10s
    retries 3
    option redispatch
    retry-on conn-failure
frontend models
    bind 127.0.0.1:{port}
    default_backend servers
backend servers
    option httpchk GET /readyz
    default-server inter 200ms fall 1 rise 1
    server old 127.0.0.1:{old} check
    server new 127.0.0.1:{new} check
"""


def test_a_rolling_replacement_under_load_fails_no_request(
    games_image: BuiltImage, second_image: BuiltImage, tmp_path: Path
) -> None:
    """What a Deployment with maxUnavailable 0 (or ECS at 100 % minimum healthy) does: the
    new version is started and ready behind the load balancer, then the old one gets
    SIGTERM and drains."""
    haproxy = shutil.which("haproxy")
    assert haproxy, "make test installs HAProxy (apt-get install haproxy)"
    old_port, new_port, port = _free_port(), _free_port(), _free_port()
    config = tmp_path / "haproxy.cfg"
    config.write_text(HAPROXY.format(port=port, old=old_port, new=new_port))
    old = Container(games_image.tag, port=old_port)
    balancer = subprocess.Popen(
        [haproxy, "-db", "-f", str(config)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    new: Container | None = None
    versions: Counter[str] = Counter()
    failures: list[str] = []
    stop = threading.Event()

    def client() -> None:
        session = requests.Session()
        while not stop.is_set():
            try:
                answer = session.get(f"http://127.0.0.1:{port}/", params=BOOK, timeout=10)
                if answer.status_code == 200 and answer.json()["success"]:
                    versions[answer.headers["x-model-version"]] += 1
                else:
                    failures.append(f"{answer.status_code} {answer.text[:80]}")
            except requests.RequestException as error:
                failures.append(repr(error))
            time.sleep(0.005)

    try:
        old.wait_ready()
        _wait_for(lambda: _answers(port), "the load balancer never reached the old server")
        clients = [threading.Thread(target=client) for _ in range(4)]
        for thread in clients:
            thread.start()
        time.sleep(1)
        new = Container(second_image.tag, port=new_port)
        new.wait_ready()
        _wait_for(lambda: versions["2"] > 20, "the new version never took requests")
        assert old.stop() == 0
        served_before = sum(versions.values())
        time.sleep(1.5)
        stop.set()
        for thread in clients:
            thread.join()
    finally:
        stop.set()
        balancer.terminate()
        balancer.wait(timeout=10)
        old.remove()
        if new is not None:
            new.remove()
    assert failures == []
    assert versions["1"] > 20 and versions["2"] > 20
    assert sum(versions.values()) > served_before + 20  # load went on after the old stopped


def _answers(port: int) -> bool:
    try:
        return requests.get(f"http://127.0.0.1:{port}/readyz", timeout=1).ok
    except requests.RequestException:
        return False


def _wait_for(condition: object, message: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, message
        time.sleep(0.05)


def test_a_model_read_from_a_bucket_at_start(
    podman: str, s3_store: str, s3_endpoint: str, deploy_store: ModelStore
) -> None:
    """--model-from store: the image holds no model; the server reads games@champion from
    the bucket (the local S3 server) when it starts."""
    bucket = ModelStore(s3_store)
    bucket.publish(models.prepared("logistic"), "games", alias="champion")
    plan = plan_deploy(["games"], store=s3_store, model_from="store", image=f"{IMAGE}-bucket:1")
    assert "s3fs" in plan.libraries
    port = _free_port()
    environment = [f"--env={name}={value}" for name, value in s3_environment(s3_endpoint).items()]
    with image_of(plan) as built:
        # The host's network: the container reaches the S3 server on the host's 127.0.0.1.
        started = subprocess.run(
            [podman, "run", "-d", "--network", "host", *environment, built.tag,
             *plan.serve_args(port=str(port), host="127.0.0.1")],
            capture_output=True, text=True, check=True,
        )  # fmt: skip
        try:
            _wait_for(lambda: _answers(port), "the bucket-fed server never became ready", 60)
            answer = requests.get(f"http://127.0.0.1:{port}/", params=BOOK, timeout=10)
            expected = Predictor.load("games", store=bucket).predict_one(BOOK)
            assert answer.json() == {"response": repr(expected), "success": True}
        finally:
            subprocess.run([podman, "rm", "--force", "--time", "0", started.stdout.strip()],
                           capture_output=True, check=False)  # fmt: skip
