"""Deployment: the production server in an OCI image, and the files that run it on
Heroku, Kubernetes and ECS (`scalepipe deploy render|build`)."""

from scalepipe.deploy.build import BuiltImage, build_image
from scalepipe.deploy.plan import DeployPlan, plan_deploy
from scalepipe.deploy.render import TARGETS, render

__all__ = ["TARGETS", "BuiltImage", "DeployPlan", "build_image", "plan_deploy", "render"]
