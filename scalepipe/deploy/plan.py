"""What a deployment runs: the models resolved once, where the container finds them,
the server's command line and the libraries it needs. Every target renders from one."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from scalepipe.errors import PackageError
from scalepipe.predict.requirements import serving_libraries
from scalepipe.store import ModelStore, ModelURI

PORT = 8000
USER_ID = 10001  # not root, and outside the ranges distributions give their own users
BUNDLED_STORE = "/srv/models"  # where a bundled model lives in the image
API_KEYS_FILE = "/etc/scalepipe/api-keys/keys"  # where Kubernetes mounts the Secret
API_KEYS_ENV = "SCALEPIPE_API_KEYS"  # where ECS puts the secret's value
MODEL_FROM = ("bundle", "store")
_NAME = re.compile(r"[^a-z0-9-]+")

# Seconds a container keeps serving after SIGTERM, /readyz answering 503, so that a load
# balancer's health check (HAProxy, an ALB target group) takes it out before it closes
# its connections: a request sent on a keep-alive connection as it closed would fail.
DRAIN_DELAY_SECONDS = 2


@dataclass(frozen=True)
class DeployPlan:
    """`models`: NAME:VERSION when bundled (the image serves exactly those), the URIs as
    given when read from the store at start (an alias follows promotions with --refresh)."""

    name: str
    models: tuple[str, ...]
    versions: tuple[tuple[str, int], ...]
    source: ModelStore
    model_from: str
    store_url: str
    ui: bool
    replicas: int
    workers: int
    image: str
    libraries: tuple[str, ...]
    refresh_seconds: int = 60

    def serve_args(
        self, *, port: str = str(PORT), host: str = "0.0.0.0", api_keys: str | None = None
    ) -> list[str]:
        """The arguments of `scalepipe serve` in the container; `api_keys`: "file" (a
        mounted Secret), "env" (an injected variable) or None (an open server)."""
        args = ["serve", "--host", host, "--port", port, "--workers", str(self.workers)]
        args += ["--store", self.store_url, "--drain-delay", str(DRAIN_DELAY_SECONDS)]
        if self.model_from == "store":
            args += ["--refresh", str(self.refresh_seconds)]
        if api_keys == "file":
            args += ["--api-key-file", API_KEYS_FILE]
        elif api_keys == "env":
            args += ["--api-keys-env", API_KEYS_ENV]
        if self.ui:
            args.append("--ui")
        return [*args, *self.models]

    @property
    def extras(self) -> tuple[str, ...]:
        return ("serve", "app") if self.ui else ("serve",)


def plan_deploy(
    uris: Sequence[str],
    *,
    store: str | None = None,
    model_from: str = "bundle",
    ui: bool = False,
    replicas: int = 2,
    workers: int = 2,
    image: str | None = None,
) -> DeployPlan:
    if not uris:
        raise PackageError("name at least one model URI to deploy, e.g. games:1")
    if model_from not in MODEL_FROM:
        raise PackageError(f"--model-from is bundle or store, not {model_from!r}")
    if replicas < 1 or workers < 1:
        raise PackageError("--replicas and --workers must be at least 1")
    refs = [ModelURI.parse(uri) for uri in uris]
    stores = {ref.store or store for ref in refs}
    if len(stores) > 1:
        raise PackageError("the models of one deployment come from one store")
    source = ModelStore(stores.pop())
    # Resolved once: an alias that moves while this runs cannot mix two versions.
    versions = tuple(source.resolve(ref) for ref in refs)
    names = [name for name, _ in versions]
    if len(set(names)) < len(names):
        raise PackageError(f"each model is deployed once; {', '.join(names)} names one twice")
    if model_from == "store":
        if "://" not in source.url or source.url.startswith("file://"):
            raise PackageError(
                f"--model-from store reads the models at start from a bucket the container can "
                f"reach (s3://, gs://), not the local folder {source.url}: use --model-from "
                "bundle, or name a bucket with --store"
            )
        models = tuple(
            f"{ref.name}@{ref.wanted_alias}" if ref.wanted_alias else f"{ref.name}:{ref.version}"
            for ref in refs
        )
        store_url = source.url
    else:
        models = tuple(f"{name}:{version}" for name, version in versions)
        store_url = BUNDLED_STORE
    libraries: list[str] = []
    for name, version in versions:
        for library in serving_libraries(
            source, name, version, bundled=model_from == "bundle", run_from=source.url
        ):
            if library not in libraries:
                libraries.append(library)
    name = _NAME.sub("-", "scalepipe-" + "-".join(names).lower()).strip("-")[:50]
    return DeployPlan(
        name=name,
        models=models,
        versions=versions,
        source=source,
        model_from=model_from,
        store_url=store_url,
        ui=ui,
        replicas=replicas,
        workers=workers,
        image=image or f"{name}:{'-'.join(str(v) for _, v in versions)}",
        libraries=tuple(libraries),
    )


def export_models(plan: DeployPlan, folder: Path) -> None:
    """The bundled versions as a store folder, each checked as `models verify` does."""
    for name, version in plan.versions:
        plan.source.export(name, version, folder)
