"""Serving models over HTTP: the ASGI app and the production server that runs it."""

from scalepipe.endpoints.auth import ApiKeys
from scalepipe.endpoints.service import Service
from scalepipe.serve.app import ServingApp

__all__ = ["ApiKeys", "Service", "ServingApp"]
