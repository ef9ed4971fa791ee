"""Serving models over HTTP: the ASGI app and the production server that runs it."""

from scalepipe.serve.app import ServingApp
from scalepipe.serve.auth import ApiKeys

__all__ = ["ApiKeys", "ServingApp"]
