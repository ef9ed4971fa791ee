"""card.json: what a published version is, without loading it."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from scalepipe.signature import Signature
from scalepipe.store.errors import StoreError

CARD = "card.json"
ArtifactFormat = Literal["skops", "keras", "pickle"]
FastPath = Literal["linear", "logistic"]
_TRACKED_LIBRARIES = (
    "scalepipe",
    "numpy",
    "scikit-learn",
    "skops",
    "keras",
    "torch",
    "mlflow-skinny",
)


@dataclass(frozen=True)
class ModelCard:
    name: str
    version: int
    signature: Signature
    artifact_format: ArtifactFormat
    artifact_path: str
    metrics: dict[str, float] = field(default_factory=dict)
    params: dict[str, Any] = field(default_factory=dict)
    data_fingerprint: str | None = None
    fast_path: FastPath | None = None
    created: str = ""
    library_versions: dict[str, str] = field(default_factory=dict)
    git_sha: str | None = None
    # The version's feature definition (features.json): the model scores raw child rows.
    features: str | None = None
    # The training rows' profile per feature (train/profile.py): ranges, quantiles,
    # histograms, example rows; None for a model published without one.
    profile: dict[str, Any] | None = None
    # The training plot (a PNG in the version folder), when one was made.
    plot: str | None = None

    def to_json(self) -> bytes:
        return json.dumps(
            {
                "name": self.name,
                "version": self.version,
                "signature": self.signature.to_dict(),
                "artifact": {"format": self.artifact_format, "path": self.artifact_path},
                "fast_path": self.fast_path,
                "metrics": self.metrics,
                "params": self.params,
                "data_fingerprint": self.data_fingerprint,
                "created": self.created,
                "library_versions": self.library_versions,
                "git_sha": self.git_sha,
                "features": self.features,
                "profile": self.profile,
                "plot": self.plot,
            },
            indent=1,
            default=str,
        ).encode()

    @classmethod
    def from_json(cls, data: bytes) -> ModelCard:
        try:
            raw = json.loads(data)
            return cls(
                name=raw["name"],
                version=int(raw["version"]),
                signature=Signature.from_dict(raw["signature"]),
                artifact_format=raw["artifact"]["format"],
                artifact_path=raw["artifact"]["path"],
                metrics=raw.get("metrics", {}),
                params=raw.get("params", {}),
                data_fingerprint=raw.get("data_fingerprint"),
                fast_path=raw.get("fast_path"),
                created=raw.get("created", ""),
                library_versions=raw.get("library_versions", {}),
                git_sha=raw.get("git_sha"),
                features=_optional_text(raw.get("features")),
                profile=_optional_object(raw.get("profile")),
                plot=_optional_text(raw.get("plot")),
            )
        except (ValueError, KeyError, TypeError) as error:
            raise StoreError(f"{CARD} is unreadable: {error}") from error


def _optional_text(value: Any) -> str | None:
    if value is not None and not isinstance(value, str):
        raise TypeError(f"expected text or null, got {type(value).__name__}")
    return value


def _optional_object(value: Any) -> dict[str, Any] | None:
    if value is not None and not isinstance(value, dict):
        raise TypeError(f"expected an object or null, got {type(value).__name__}")
    return value


def now(timespec: str = "seconds") -> str:
    return datetime.now(UTC).isoformat(timespec=timespec)


def library_versions() -> dict[str, str]:
    import platform
    from importlib import metadata

    versions = {"python": platform.python_version()}
    for library in _TRACKED_LIBRARIES:
        try:
            versions[library] = metadata.version(library)
        except metadata.PackageNotFoundError:
            continue
    return versions


def git_sha() -> str | None:
    """The commit of the working directory's repository, when there is one."""
    import subprocess

    try:
        result = subprocess.run(
            ["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return None
    sha = result.stdout.strip()
    return sha if result.returncode == 0 and len(sha) == 40 else None
