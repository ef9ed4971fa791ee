"""`scalepipe deploy render`: the files of each target, checked offline the way the
platforms check them (Kubernetes schemas, hadolint, the ECS and ELBv2 APIs on moto)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from scalepipe.deploy import plan_deploy, render
from scalepipe.deploy.plan import API_KEYS_ENV, USER_ID
from scalepipe.errors import PackageError, StoreError
from scalepipe.store import ModelStore
from tests.conftest import s3_environment


def rendered(store: ModelStore, target: str, out: Path, *models: str, **options: Any) -> Path:
    plan_options = {k: options.pop(k) for k in ("ui", "replicas", "model_from") if k in options}
    plan = plan_deploy(list(models) or ["games"], store=store.url, **plan_options)
    render(plan, target, out, **options)
    return out


def test_kubernetes_objects_pass_the_kubernetes_schemas(
    deploy_store: ModelStore, tmp_path: Path
) -> None:
    import kubernetes_validate

    folder = rendered(deploy_store, "kubernetes", tmp_path / "k8s", replicas=3)
    objects = {path.name: yaml.safe_load(path.read_text()) for path in folder.glob("*.yaml")}
    assert sorted(objects) == [
        "deployment.yaml",
        "hpa.yaml",
        "networkpolicy.yaml",
        "pdb.yaml",
        "service.yaml",
    ]
    for manifest in objects.values():
        kubernetes_validate.validate(manifest, "1.33", strict=True)
    # The check can fail: an unknown field is refused.
    broken = objects["deployment.yaml"] | {
        "spec": objects["deployment.yaml"]["spec"] | {"replica": 3}
    }
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, "1.33", strict=True)

    deployment = objects["deployment.yaml"]["spec"]
    assert deployment["replicas"] == 3
    assert deployment["strategy"]["rollingUpdate"] == {"maxUnavailable": 0, "maxSurge": 1}
    pod = deployment["template"]["spec"]
    (server,) = pod["containers"]
    assert server["args"][-3:] == ["--api-key-file", "/etc/scalepipe/api-keys/keys", "games:1"]
    assert server["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert server["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert server["securityContext"]["readOnlyRootFilesystem"] is True
    assert server["securityContext"]["runAsNonRoot"] is True
    assert server["securityContext"]["capabilities"] == {"drop": ["ALL"]}
    assert {"cpu", "memory"} <= set(server["resources"]["limits"])
    secret = next(v for v in pod["volumes"] if v["name"] == "api-keys")
    assert secret["secret"]["secretName"] == "scalepipe-api-keys"
    service, hpa = objects["service.yaml"]["spec"], objects["hpa.yaml"]["spec"]
    assert service["selector"] == objects["deployment.yaml"]["spec"]["selector"]["matchLabels"]
    assert (hpa["minReplicas"], hpa["maxReplicas"]) == (3, 12)


def test_the_dockerfile_passes_hadolint(deploy_store: ModelStore, tmp_path: Path) -> None:
    folder = rendered(deploy_store, "docker", tmp_path / "image", "games:1")
    dockerfile = (folder / "Dockerfile").read_text()
    hadolint = Path(sys.executable).parent / "hadolint"
    checked = subprocess.run(
        [str(hadolint), str(folder / "Dockerfile")], capture_output=True, text=True, check=False
    )
    assert checked.returncode == 0, checked.stdout
    # The check can fail: a root image with an unpinned base is refused.
    careless = tmp_path / "Careless"
    careless.write_text("FROM debian\nRUN apt-get update && apt-get install -y curl\n")
    refused = subprocess.run([str(hadolint), str(careless)], capture_output=True, check=False)
    assert refused.returncode != 0

    assert f"USER {USER_ID}:{USER_ID}" in dockerfile and "HEALTHCHECK" in dockerfile
    assert "/healthz" in dockerfile and "--no-index" in dockerfile  # no network in the build
    assert (folder / ".dockerignore").read_text().startswith("*\n")
    wheels = sorted(path.name for path in (folder / "wheels").glob("*.whl"))
    assert any(name.startswith("uvloop-") for name in wheels)
    # a logistic model scores on the fast path: no scikit-learn in its image
    assert not any(name.startswith(("scikit_learn", "scipy", "pandas")) for name in wheels)
    assert (folder / "model_store" / "games" / "1" / "manifest.json").is_file()


def test_heroku_gets_the_books_procfile_on_todays_stack(
    deploy_store: ModelStore, tmp_path: Path
) -> None:
    folder = rendered(deploy_store, "heroku", tmp_path / "app", "games@champion", ui=True)
    assert (folder / "Procfile").read_text() == (
        "web: scalepipe serve --host 0.0.0.0 --port $PORT --workers ${WEB_CONCURRENCY:-2} "
        "--store model_store --drain-delay 2 --ui games:1\n"
    )
    assert (folder / ".python-version").read_text() == "3.11\n"
    requirements = (folder / "requirements.txt").read_text().splitlines()
    assert requirements[:2] == ["--find-links ./wheels", "scalepipe[serve,app]==0.1.0"]
    assert [path.name.split("-")[0] for path in (folder / "wheels").iterdir()] == ["scalepipe"]


def test_the_ecs_files_register_with_the_ecs_and_elbv2_apis(
    deploy_store: ModelStore, tmp_path: Path, s3_endpoint: str
) -> None:
    """moto's server stands in for AWS (no AWS here): boto3 checks each file against the
    API's request shape before sending it, and moto registers what it gets."""
    import boto3

    folder = rendered(deploy_store, "ecs", tmp_path / "ecs", "games:1")
    task = json.loads((folder / "task-definition.json").read_text())
    service = json.loads((folder / "service.json").read_text())
    group = json.loads((folder / "target-group.json").read_text())
    aws = s3_environment(s3_endpoint)
    session = boto3.Session(
        aws_access_key_id=aws["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=aws["AWS_SECRET_ACCESS_KEY"],
        region_name=aws["AWS_DEFAULT_REGION"],
    )
    ec2 = session.client("ec2", endpoint_url=s3_endpoint)
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.1.0/24")["Subnet"]["SubnetId"]
    elb = session.client("elbv2", endpoint_url=s3_endpoint)
    target_group = elb.create_target_group(**(group | {"VpcId": vpc}))["TargetGroups"][0]
    assert target_group["HealthCheckPath"] == "/readyz"

    ecs = session.client("ecs", endpoint_url=s3_endpoint)
    registered = ecs.register_task_definition(**task)["taskDefinition"]
    (container,) = registered["containerDefinitions"]
    assert container["user"] == f"{USER_ID}:{USER_ID}" and container["readonlyRootFilesystem"]
    assert container["command"][-3:] == ["--api-keys-env", API_KEYS_ENV, "games:1"]
    assert container["secrets"][0]["name"] == API_KEYS_ENV
    ecs.create_cluster(clusterName="models")
    service["loadBalancers"][0]["targetGroupArn"] = target_group["TargetGroupArn"]
    service["networkConfiguration"]["awsvpcConfiguration"] |= {
        "subnets": [subnet],
        "securityGroups": [],
    }
    created = ecs.create_service(cluster="models", **service)["service"]
    assert created["desiredCount"] == 2
    assert created["loadBalancers"][0]["containerPort"] == 8000
    # New tasks pass the load balancer's health check before old ones stop.
    assert service["deploymentConfiguration"]["minimumHealthyPercent"] == 100


def test_what_render_refuses(deploy_store: ModelStore, tmp_path: Path) -> None:
    plan = plan_deploy(["games"], store=deploy_store.url)
    with pytest.raises(PackageError, match="one of docker, heroku, kubernetes, ecs"):
        render(plan, "swarm", tmp_path / "x")
    taken = tmp_path / "taken"
    taken.mkdir()
    (taken / "mine.txt").write_text("keep me")
    with pytest.raises(PackageError, match="exists and is not empty"):
        render(plan, "kubernetes", taken)
    assert [path.name for path in taken.iterdir()] == ["mine.txt"]
    with pytest.raises(PackageError, match="bucket the container can reach"):
        plan_deploy(["games"], store=deploy_store.url, model_from="store")
    with pytest.raises(StoreError, match="no version 7"):
        plan_deploy(["games:7"], store=deploy_store.url)
    with pytest.raises(PackageError, match="deployed once"):
        plan_deploy(["games:1", "games:2"], store=deploy_store.url)


def test_nothing_is_half_written_when_a_render_fails(
    deploy_store: ModelStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from scalepipe.deploy import wheels

    def offline(*args: str, purpose: str) -> None:
        raise PackageError("pip download failed: no index")

    monkeypatch.setattr(wheels, "run_pip", offline)
    with pytest.raises(PackageError, match="no index"):
        rendered(deploy_store, "docker", tmp_path / "image")
    assert list(tmp_path.iterdir()) == []


def test_the_command_lists_what_it_wrote_and_what_to_do_next(
    deploy_store: ModelStore, tmp_path: Path
) -> None:
    from tests.test_cli import scalepipe

    out = tmp_path / "k8s"
    done = scalepipe("deploy", "render", "games:1", "--target", "kubernetes", "--out", str(out),
                     "--store", deploy_store.url)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert f"wrote {out}/ for kubernetes (games:1):" in done.stdout
    assert "deployment.yaml" in done.stdout and "kubectl apply -f" in done.stdout
    wrong = scalepipe("deploy", "render", "games:1", "--target", "nomad", "--out",
                      str(tmp_path / "x"), "--store", deploy_store.url)  # fmt: skip
    assert wrong.returncode == 2
    assert "the target is one of docker, heroku, kubernetes, ecs, not 'nomad'" in wrong.stderr


# What checkov reports that is a choice, not an oversight: the namespace is kubectl's -n;
# the image is named by tag (a digest exists only after the push), pulled if not present
# (a versioned tag never changes); the Dockerfile's FROM is an ARG, pinned by default.
CHECKOV_CHOICES = ("CKV_K8S_21", "CKV_K8S_43", "CKV_K8S_15", "CKV_DOCKER_7")
CHECKOV = Path(__file__).parents[2] / ".venv-checkov" / "bin" / "checkov"


def checkov(folder: Path) -> dict[str, Any]:
    assert CHECKOV.is_file(), "make test installs checkov into .venv-checkov"
    scanned = subprocess.run(
        [str(CHECKOV), "--directory", str(folder), "--framework", "kubernetes", "dockerfile",
         "--skip-check", ",".join(CHECKOV_CHOICES), "--skip-download", "--quiet",
         "--output", "json"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    reports = json.loads(scanned.stdout)
    return {
        "passed": sum(r["summary"]["passed"] for r in reports),
        "failed": [f"{c['check_id']} {c['check_name']} ({c['resource']})"
                   for r in reports for c in r["results"]["failed_checks"]],
    }  # fmt: skip


def test_checkov_finds_no_misconfiguration(deploy_store: ModelStore, tmp_path: Path) -> None:
    rendered(deploy_store, "kubernetes", tmp_path / "all" / "k8s")
    rendered(deploy_store, "docker", tmp_path / "all" / "image")
    report = checkov(tmp_path / "all")
    assert report["failed"] == [] and report["passed"] > 100
    # The scan can fail: a pod without its security context is reported.
    deployment = tmp_path / "all" / "k8s" / "deployment.yaml"
    manifest = yaml.safe_load(deployment.read_text())
    del manifest["spec"]["template"]["spec"]["containers"][0]["securityContext"]
    deployment.write_text(yaml.safe_dump(manifest))
    assert checkov(tmp_path / "all")["failed"]
