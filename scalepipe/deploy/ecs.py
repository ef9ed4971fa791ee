"""Amazon ECS on Fargate (the book's chapter 4): a task definition, a service behind an
application load balancer, and the target group whose health check asks /readyz. The
files take the shape of the ECS and ELBv2 APIs' requests, for `aws ecs
register-task-definition --cli-input-json file://task-definition.json` and its kin."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from scalepipe.deploy.docker import HEALTH_PROBE
from scalepipe.deploy.kubernetes import DRAIN_SECONDS
from scalepipe.deploy.plan import API_KEYS_ENV, PORT, USER_ID, DeployPlan

# The values an account supplies: left as placeholders that the API refuses, so that a
# file registered unedited fails at once rather than half-working.
ACCOUNT_VALUES = {
    "execution_role": "arn:aws:iam::ACCOUNT_ID:role/ecsTaskExecutionRole",
    "api_keys_secret": "arn:aws:secretsmanager:REGION:ACCOUNT_ID:secret:scalepipe-api-keys",
    "target_group": "arn:aws:elasticloadbalancing:REGION:ACCOUNT_ID:targetgroup/NAME/ID",
    "vpc": "vpc-ID",
    "subnets": ["subnet-ID"],
    "security_groups": ["sg-ID"],
    "region": "REGION",
}


def ecs_files(
    plan: DeployPlan, *, api_keys: bool = True, account: dict[str, Any] | None = None
) -> dict[str, dict[str, Any]]:
    values = ACCOUNT_VALUES | (account or {})
    container: dict[str, Any] = {
        "name": "server",
        "image": plan.image,
        "essential": True,
        "command": plan.serve_args(api_keys="env" if api_keys else None),
        "portMappings": [{"name": "http", "containerPort": PORT, "protocol": "tcp"}],
        "user": f"{USER_ID}:{USER_ID}",
        "readonlyRootFilesystem": True,
        "mountPoints": [{"sourceVolume": "tmp", "containerPath": "/tmp"}],
        "healthCheck": {
            "command": ["CMD", "python3", "-c", HEALTH_PROBE],
            "interval": 10,
            "timeout": 3,
            "retries": 3,
            "startPeriod": 5,
        },
        "stopTimeout": DRAIN_SECONDS + 5,
        "logConfiguration": {
            "logDriver": "awslogs",
            "options": {
                "awslogs-group": f"/ecs/{plan.name}",
                "awslogs-region": values["region"],
                "awslogs-stream-prefix": "server",
                "awslogs-create-group": "true",
            },
        },
    }
    if api_keys:
        container["secrets"] = [{"name": API_KEYS_ENV, "valueFrom": values["api_keys_secret"]}]
    task = {
        "family": plan.name,
        "networkMode": "awsvpc",
        "requiresCompatibilities": ["FARGATE"],
        "runtimePlatform": {"cpuArchitecture": "X86_64", "operatingSystemFamily": "LINUX"},
        "cpu": str(512 * plan.workers),
        "memory": str(1024 * plan.workers),
        "executionRoleArn": values["execution_role"],
        "containerDefinitions": [container],
        "volumes": [{"name": "tmp"}],
    }
    service = {
        "serviceName": plan.name,
        "taskDefinition": plan.name,
        "desiredCount": plan.replicas,
        "launchType": "FARGATE",
        # New tasks healthy behind the load balancer before old ones stop.
        "deploymentConfiguration": {
            "minimumHealthyPercent": 100,
            "maximumPercent": 200,
            "deploymentCircuitBreaker": {"enable": True, "rollback": True},
        },
        "healthCheckGracePeriodSeconds": 10,
        "loadBalancers": [
            {
                "targetGroupArn": values["target_group"],
                "containerName": "server",
                "containerPort": PORT,
            }
        ],
        "networkConfiguration": {
            "awsvpcConfiguration": {
                "subnets": values["subnets"],
                "securityGroups": values["security_groups"],
                "assignPublicIp": "DISABLED",
            }
        },
    }
    target_group = {
        "Name": plan.name[:32],
        "Protocol": "HTTP",
        "Port": PORT,
        "VpcId": values["vpc"],
        "TargetType": "ip",
        "HealthCheckProtocol": "HTTP",
        "HealthCheckPath": "/readyz",
        "HealthCheckIntervalSeconds": 10,
        "HealthCheckTimeoutSeconds": 3,
        "HealthyThresholdCount": 2,
        "UnhealthyThresholdCount": 2,
        "Matcher": {"HttpCode": "200"},
    }
    return {
        "task-definition.json": task,
        "service.json": service,
        "target-group.json": target_group,
    }


def render_ecs(plan: DeployPlan, out: Path, *, api_keys: bool = True) -> list[Path]:
    written = []
    for file, content in ecs_files(plan, api_keys=api_keys).items():
        (out / file).write_text(json.dumps(content, indent=2) + "\n")
        written.append(out / file)
    return written
