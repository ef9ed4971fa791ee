"""Settings: SCALEPIPE_* environment variables over an optional scalepipe.toml."""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, fields
from pathlib import Path

from scalepipe.errors import ConfigError as ConfigError

CONFIG_FILE = "scalepipe.toml"


@dataclass(frozen=True)
class Settings:
    """Where scalepipe keeps its state; every path or URL can be moved with one setting."""

    store: str = "models"
    warehouse: str = "warehouse.duckdb"
    cache_dir: str = str(Path.home() / ".cache" / "scalepipe")
    plots_dir: str = "plots"

    @classmethod
    def load(cls, directory: Path | None = None) -> Settings:
        """Read scalepipe.toml from `directory` (default: the working directory), then env."""
        values: dict[str, str] = {}
        path = (directory or Path.cwd()) / CONFIG_FILE
        if path.is_file():
            try:
                table = tomllib.loads(path.read_text()).get("scalepipe", {})
            except tomllib.TOMLDecodeError as error:
                raise ConfigError(f"{path} is not valid TOML: {error}") from error
            known = {field.name for field in fields(cls)}
            unknown = sorted(set(table) - known)
            if unknown:
                raise ConfigError(
                    f"{path}: unknown setting(s) {', '.join(unknown)} in [scalepipe]; "
                    f"known: {', '.join(sorted(known))}"
                )
            values.update({key: str(value) for key, value in table.items()})
        for field in fields(cls):
            env = os.environ.get(f"SCALEPIPE_{field.name.upper()}")
            if env:
                values[field.name] = env
        return cls(**values)


def redact_url(text: str) -> str:
    """A URL fit for messages, logs and model cards: no user, password, query string or
    fragment (where credentials, presigned URLs and tokens travel)."""
    from urllib.parse import urlsplit, urlunsplit

    if "://" not in text:
        return text.split("?", 1)[0]
    parts = urlsplit(text)
    host = parts.hostname or ""
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, "", ""))
