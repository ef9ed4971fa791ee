"""Model URIs: NAME (alias champion), NAME@ALIAS, NAME:VERSION, with an optional store URL.

games                      -> default store, games, alias champion
games@challenger           -> default store, games, alias challenger
games:3                    -> default store, games, version 3
s3://bucket/models/games   -> store s3://bucket/models, games, alias champion
/srv/models/games:3        -> store /srv/models, games, version 3
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from scalepipe.store.errors import StoreError

DEFAULT_ALIAS = "champion"
NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}")
ALIAS_PATTERN = re.compile(r"[A-Za-z][A-Za-z0-9_-]{0,63}")


@dataclass(frozen=True)
class ModelURI:
    name: str
    store: str | None = None
    version: int | None = None
    alias: str | None = None

    @classmethod
    def parse(cls, uri: str) -> ModelURI:
        store, _, spec = uri.rstrip("/").rpartition("/")
        version: int | None = None
        alias: str | None = None
        if "@" in spec:
            spec, alias = spec.split("@", 1)
            check_alias(alias)
        elif ":" in spec:
            spec, number = spec.rsplit(":", 1)
            if not number.isdigit() or int(number) < 1:
                raise StoreError(
                    f"model URI {uri!r}: version must be a positive integer, got {number!r}"
                )
            version = int(number)
        check_name(spec)
        return cls(name=spec, store=store or None, version=version, alias=alias)

    @property
    def wanted_alias(self) -> str | None:
        """The alias to resolve: the one named, or champion when no version is pinned."""
        if self.version is not None:
            return None
        return self.alias or DEFAULT_ALIAS

    def __str__(self) -> str:
        prefix = f"{self.store}/" if self.store else ""
        if self.version is not None:
            return f"{prefix}{self.name}:{self.version}"
        return f"{prefix}{self.name}@{self.wanted_alias}"


def check_name(name: str) -> str:
    if not NAME_PATTERN.fullmatch(name):
        raise StoreError(
            f"model name {name!r} must start with a letter or digit and hold only letters, "
            "digits, '_', '.' and '-'"
        )
    return name


def check_alias(alias: str) -> str:
    if not ALIAS_PATTERN.fullmatch(alias) or alias.isdigit():
        raise StoreError(
            f"alias {alias!r} must start with a letter and hold letters, digits, '_', '-'"
        )
    return alias
