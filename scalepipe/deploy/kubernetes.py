"""Kubernetes: a Deployment that rolls without unavailability, a Service, a
HorizontalPodAutoscaler, a PodDisruptionBudget and a NetworkPolicy, one file each."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from scalepipe.deploy.plan import API_KEYS_FILE, DRAIN_DELAY_SECONDS, PORT, USER_ID, DeployPlan
from scalepipe.errors import PackageError

API_KEYS_SECRET = "scalepipe-api-keys"
# Seconds the pod keeps serving after it is told to stop, so that the Service's
# endpoints (and every kube-proxy) drop it before the server stops accepting.
PRE_STOP_SECONDS = 5
DRAIN_SECONDS = 30  # the server's own graceful shutdown (serve/runner.py)


def manifests(plan: DeployPlan, *, api_keys: bool = True) -> dict[str, dict[str, Any]]:
    labels = {"app.kubernetes.io/name": plan.name, "app.kubernetes.io/part-of": "scalepipe"}
    metadata = {"name": plan.name, "labels": labels}
    mounts: list[dict[str, Any]] = [{"name": "tmp", "mountPath": "/tmp"}]
    volumes: list[dict[str, Any]] = [
        {"name": "tmp", "emptyDir": {"medium": "Memory", "sizeLimit": "64Mi"}}
    ]
    if api_keys:
        mounts.append(
            {"name": "api-keys", "mountPath": str(Path(API_KEYS_FILE).parent), "readOnly": True}
        )
        # optional stated: podman 4.3's kube play crashes on a secret volume without it.
        volumes.append(
            {
                "name": "api-keys",
                "secret": {
                    "secretName": API_KEYS_SECRET,
                    "optional": False,
                    "items": [{"key": "keys", "path": Path(API_KEYS_FILE).name}],
                },
            }
        )
    probe = {"httpGet": {"path": "/healthz", "port": "http"}}
    container = {
        "name": "server",
        "image": plan.image,
        "imagePullPolicy": "IfNotPresent",
        "args": plan.serve_args(api_keys="file" if api_keys else None),
        "ports": [{"name": "http", "containerPort": PORT, "protocol": "TCP"}],
        "startupProbe": probe | {"periodSeconds": 1, "failureThreshold": 30},
        "readinessProbe": {
            "httpGet": {"path": "/readyz", "port": "http"},
            "periodSeconds": 2,
            "failureThreshold": 2,
        },
        "livenessProbe": probe | {"periodSeconds": 10, "failureThreshold": 3, "timeoutSeconds": 2},
        "lifecycle": {"preStop": {"exec": {"command": ["sleep", str(PRE_STOP_SECONDS)]}}},
        "resources": {
            "requests": {"cpu": f"{500 * plan.workers}m", "memory": "256Mi"},
            "limits": {"cpu": str(plan.workers), "memory": "512Mi"},
        },
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "runAsNonRoot": True,
            "runAsUser": USER_ID,
            "runAsGroup": USER_ID,
            "capabilities": {"drop": ["ALL"]},
        },
        "volumeMounts": mounts,
    }
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": metadata,
        "spec": {
            "replicas": plan.replicas,
            "selector": {"matchLabels": labels},
            # A new pod is ready before an old one goes: never fewer than `replicas`.
            "strategy": {
                "type": "RollingUpdate",
                "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1},
            },
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "automountServiceAccountToken": False,
                    "terminationGracePeriodSeconds": PRE_STOP_SECONDS
                    + DRAIN_DELAY_SECONDS
                    + DRAIN_SECONDS
                    + 5,
                    "securityContext": {
                        "runAsNonRoot": True,
                        "runAsUser": USER_ID,
                        "runAsGroup": USER_ID,
                        "seccompProfile": {"type": "RuntimeDefault"},
                    },
                    "containers": [container],
                    "volumes": volumes,
                },
            },
        },
    }
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": metadata,
        "spec": {
            "type": "ClusterIP",
            "selector": labels,
            "ports": [{"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"}],
        },
    }
    autoscaler = {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": metadata,
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": plan.name},
            "minReplicas": plan.replicas,
            "maxReplicas": plan.replicas * 4,
            "metrics": [
                {
                    "type": "Resource",
                    "resource": {
                        "name": "cpu",
                        "target": {"type": "Utilization", "averageUtilization": 70},
                    },
                }
            ],
        },
    }
    budget = {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": metadata,
        "spec": {"maxUnavailable": 1, "selector": {"matchLabels": labels}},
    }
    # Only the server's port is open to other pods; egress stays open (a bucket, DNS).
    network = {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": metadata,
        "spec": {
            "podSelector": {"matchLabels": labels},
            "policyTypes": ["Ingress"],
            "ingress": [{"ports": [{"port": "http", "protocol": "TCP"}]}],
        },
    }
    return {
        "deployment.yaml": deployment,
        "service.yaml": service,
        "hpa.yaml": autoscaler,
        "pdb.yaml": budget,
        "networkpolicy.yaml": network,
    }


def render_kubernetes(plan: DeployPlan, out: Path, *, api_keys: bool = True) -> list[Path]:
    try:
        import yaml
    except ImportError:
        raise PackageError(
            "Kubernetes files need PyYAML: pip install 'scalepipe[deploy]'"
        ) from None
    written = []
    for file, manifest in manifests(plan, api_keys=api_keys).items():
        plain = json.loads(json.dumps(manifest))  # no YAML anchors for the shared labels
        (out / file).write_text(yaml.safe_dump(plain, sort_keys=False))
        written.append(out / file)
    return written
