"""The versioned model store: NAME/VERSION/ folders on a local folder or any fsspec URL.

    NAME/VERSION/          a valid MLflow model (MLmodel + artifact), card.json,
                           linear.json for linear models, and manifest.json
    NAME/VERSION/manifest.sig  with a signing key: HMAC of name, version and manifest
    NAME/VERSION/.claim    written first, exclusively: who owns the version number
    NAME/aliases.json      alias -> version
    NAME/audit/            one JSON file per publish, promote and delete

Publishing claims the next number with an exclusive create, writes every file, and
writes manifest.json last, in one step: a version is visible exactly when its manifest
exists, so a reader never sees a half-written version, even if the publisher dies, and
two publishers never share a number. Versions never change after publish; a deleted
version keeps its claim so that its number is never given out again.
"""

from __future__ import annotations

import getpass
import json
import logging
import socket
import tempfile
import uuid
import warnings
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from scalepipe.config import Settings
from scalepipe.signature import Signature
from scalepipe.store import manifest
from scalepipe.store.card import CARD, ModelCard, git_sha, library_versions, now
from scalepipe.store.errors import IntegrityError, StoreError
from scalepipe.store.files import StoreFiles, open_store_files, write_tree
from scalepipe.store.manifest import MANIFEST
from scalepipe.store.signing import KEY_ENV, KEY_FILE_ENV, SIGNATURE, SigningKey
from scalepipe.store.trusted import check_skops
from scalepipe.store.uri import NAME_PATTERN, ModelURI, check_alias, check_name

log = logging.getLogger(__name__)
CLAIM = ".claim"
PLOT = "plot.png"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
ALIASES = "aliases.json"
AUDIT = "audit"


class ModelStore:
    def __init__(self, url: str | None = None, *, signing_key: SigningKey | None = None) -> None:
        """`signing_key` defaults to the one configured in the environment, if any: then
        publish signs every version and every read refuses one not signed with it."""
        self.url = url or Settings.load().store
        self.files: StoreFiles = open_store_files(self.url)
        self.signing_key = signing_key or SigningKey.from_environment()

    def __repr__(self) -> str:
        return f"ModelStore({self.url!r})"

    # Reading

    def names(self) -> list[str]:
        children = self.files.children("")
        return [name for name in children if NAME_PATTERN.fullmatch(name) and self.versions(name)]

    def versions(self, name: str) -> list[int]:
        """The published (complete) versions of `name`, oldest first."""
        return _numbers(self.files.folders_holding(check_name(name), MANIFEST))

    def aliases(self, name: str) -> dict[str, int]:
        path = f"{check_name(name)}/{ALIASES}"
        try:
            raw = json.loads(self.files.read(path))
            return {check_alias(str(alias)): _number(target) for alias, target in raw.items()}
        except FileNotFoundError:
            return {}
        except (ValueError, AttributeError, TypeError) as error:
            raise StoreError(
                f"{self.url}/{path} is malformed ({error}); it should map alias names to "
                'version numbers, e.g. {"champion": 3}'
            ) from None

    def resolve(self, uri: ModelURI | str) -> tuple[str, int]:
        """(name, version) that a URI points at now; a clear error if it points nowhere."""
        ref = ModelURI.parse(uri) if isinstance(uri, str) else uri
        if ref.version is not None:
            if not self._published(ref.name, ref.version):
                raise StoreError(
                    f"{ref.name} has no version {ref.version} in {self.url}{self._known(ref.name)}"
                )
            return ref.name, ref.version
        alias = ref.wanted_alias
        assert alias is not None
        aliases = self.aliases(ref.name)
        if alias not in aliases:
            raise StoreError(
                f"{ref.name} has no alias {alias!r} in {self.url}{self._known(ref.name)}"
            )
        return ref.name, aliases[alias]

    def versions_named(self, uri: ModelURI | str) -> tuple[str, list[int]]:
        """The versions a URI names, for commands that act on versions: NAME:VERSION and
        NAME@ALIAS name one; a bare NAME names all of them (not its champion)."""
        ref = ModelURI.parse(uri) if isinstance(uri, str) else uri
        if ref.version is None and ref.alias is None:
            versions = self.versions(ref.name)
            if not versions:
                raise StoreError(
                    f"{ref.name} has no published versions in {self.url}{self._known(ref.name)}"
                )
            return ref.name, versions
        name, version = self.resolve(ref)
        return name, [version]

    def card(self, name: str, version: int) -> ModelCard:
        """The version's card; refused if it describes another model or version than the
        folder it was read from (a folder copied or linked from elsewhere)."""
        card = ModelCard.from_json(self.read_version(name, version, only=(CARD,))[CARD])
        if (card.name, card.version) != (name, version):
            raise IntegrityError(
                f"{name}:{version}: its {CARD} describes {card.name}:{card.version}; the folder "
                "was copied or moved after publishing. Nothing was loaded."
            )
        return card

    def read_version(
        self, name: str, version: int, only: tuple[str, ...] | None = None
    ) -> dict[str, bytes]:
        """Files of a version, each checked against the manifest before it is returned."""
        return self._checked_files(name, version, self._checked_manifest(name, version)[0], only)

    def _checked_files(
        self, name: str, version: int, raw_manifest: bytes, only: tuple[str, ...] | None
    ) -> dict[str, bytes]:
        base = f"{check_name(name)}/{version}"
        expected = manifest.parse(raw_manifest)
        wanted = only if only is not None else tuple(expected)
        result = {}
        for path in wanted:
            try:
                data = self.files.read(f"{base}/{path}")
            except FileNotFoundError:
                raise IntegrityError(f"{name}:{version}: {path} is missing") from None
            result[path] = manifest.check(f"{name}:{version}", path, data, expected)
        return result

    def export(self, name: str, version: int, folder: Path) -> None:
        """Copy a version into `folder` as a one-version store (NAME/VERSION/ with its
        manifest and signature), checked as `verify` checks it: hashes, signature, card,
        artifact types, no files beyond the manifest."""
        self.verify(name, version)
        raw_manifest, signature = self._checked_manifest(name, version)
        files = self._checked_files(name, version, raw_manifest, None)
        files[MANIFEST] = raw_manifest
        if signature is not None:
            files[SIGNATURE] = signature
        write_tree(
            folder / name / str(version),
            files,
            lambda path: IntegrityError(f"{name}:{version}: {path!r} leaves the version folder"),
        )

    def sign(self, name: str, version: int) -> None:
        """Sign a version published before a key was configured (its files are checked
        against the manifest first)."""
        if self.signing_key is None:
            raise StoreError(f"no signing key: set {KEY_ENV} or {KEY_FILE_ENV}")
        base = f"{check_name(name)}/{version}"
        try:
            raw = self.files.read(f"{base}/{MANIFEST}")
        except FileNotFoundError:
            raise StoreError(f"{name} has no version {version}{self._known(name)}") from None
        expected = manifest.parse(raw)
        for path in expected:
            manifest.check(f"{name}:{version}", path, self.files.read(f"{base}/{path}"), expected)
        self.files.replace(f"{base}/{SIGNATURE}", self.signing_key.sign(name, version, raw))
        self._record(name, "sign", version=version, key_id=self.signing_key.id)

    def _checked_manifest(self, name: str, version: int) -> tuple[bytes, bytes | None]:
        """The manifest's bytes and signature, the signature checked when a key is set."""
        base = f"{check_name(name)}/{version}"
        try:
            raw = self.files.read(f"{base}/{MANIFEST}")
        except FileNotFoundError:
            raise StoreError(
                f"{name} has no version {version} in {self.url}{self._known(name)}"
            ) from None
        signature: bytes | None = None
        with suppress(FileNotFoundError):
            signature = self.files.read(f"{base}/{SIGNATURE}")
        if self.signing_key is not None:
            self.signing_key.check(name, version, raw, signature)
        return raw, signature

    def verify(self, name: str, version: int | None = None) -> list[str]:
        """Check every file of a version (or of all versions) against its manifest.

        Returns what was checked; raises IntegrityError at the first problem, including
        files that were added after publishing, and UnsafeModelError for a scikit-learn
        artifact that names a type outside the allowlist (read, never loaded).
        """
        checked = []
        numbers = [version] if version is not None else self.versions(name)
        if not numbers:
            raise StoreError(f"{name} has no published versions in {self.url}{self._known(name)}")
        for number in numbers:
            listed = self.read_version(name, number)
            present = set(self.files.files_under(f"{name}/{number}")) - {MANIFEST, SIGNATURE, CLAIM}
            extra = sorted(present - set(listed))
            if extra:
                raise IntegrityError(
                    f"{name}:{number}: {', '.join(extra)} not listed in {MANIFEST}"
                )
            card = self.card(name, number)
            if card.artifact_format == "skops":
                check_skops(listed[card.artifact_path])
            checked.append(f"{name}:{number} ({len(listed)} files)")
        return checked

    def audit(self, name: str) -> list[dict[str, Any]]:
        """The recorded publishes, promotions and deletions, oldest first; a record that
        cannot be read (left by an older version on a full disk) is shown as such."""
        events = []
        for entry in self.files.children(f"{check_name(name)}/{AUDIT}"):
            try:
                event = json.loads(self.files.read(f"{name}/{AUDIT}/{entry}"))
                str(event["time"]), str(event["id"])
            except (ValueError, KeyError, TypeError):
                event = {"time": "", "id": entry, "action": "unreadable record", "file": entry}
            events.append(event)
        return sorted(events, key=lambda event: (str(event["time"]), str(event["id"])))

    def local_folder(self, name: str, version: int) -> Path | None:
        return self.files.local_folder(f"{name}/{version}")

    # Writing

    def publish(
        self,
        model: Any,
        name: str,
        *,
        signature: Signature | None = None,
        metrics: Mapping[str, float] | None = None,
        params: Mapping[str, Any] | None = None,
        data_fingerprint: str | None = None,
        alias: str | None = None,
        allow_pickle: bool = False,
        features: tuple[str, bytes] | None = None,
        profile: Mapping[str, Any] | None = None,
        plot: bytes | None = None,
    ) -> int:
        """Store `model` as the next version of `name`; return the version number.

        `model` is a fitted model (then `signature` is required) or a PreparedModel,
        which can be published to several stores without serialising it again.
        `features`: the file name and content of the feature definition the model's
        inputs come from (scalepipe.features), kept beside the model. `profile`: the
        training rows' profile per feature, kept in the card. `plot`: the training plot (PNG).
        """
        check_name(name)
        if alias is not None:
            check_alias(alias)
        if not isinstance(model, PreparedModel):
            if signature is None:
                raise StoreError("publishing a model needs its signature")
            model = prepare_model(
                model,
                signature=signature,
                metrics=metrics,
                params=params,
                data_fingerprint=data_fingerprint,
                allow_pickle=allow_pickle,
                features=features,
                profile=profile,
                plot=plot,
            )
        version = self._claim(name)
        files = dict(model.files)
        files[CARD] = replace(model.card, name=name, version=version).to_json()
        base = f"{name}/{version}"
        for path, data in files.items():
            self.files.write(f"{base}/{path}", data)
        listing = manifest.build(files)
        if self.signing_key is not None:
            self.files.write(f"{base}/{SIGNATURE}", self.signing_key.sign(name, version, listing))
        self.files.replace(f"{base}/{MANIFEST}", listing)
        self._record(name, "publish", version=version)
        if alias is not None:
            try:
                self.promote(name, version, alias)
            except OSError as error:
                raise StoreError(
                    f"{name}:{version} is published, but alias {alias!r} was not moved to it: "
                    f"{error}"
                ) from error
        return version

    def promote(self, name: str, version: int, alias: str) -> int | None:
        """Point `alias` at `version`, in one step; the move is recorded in the audit trail.
        Returns the version the alias pointed at before (None: a new alias)."""
        check_alias(alias)
        if not self._published(name, version):
            raise StoreError(f"{name} has no version {version} to promote{self._known(name)}")
        with self._aliases_lock(name):
            aliases = self.aliases(name)
            previous = aliases.get(alias)
            aliases[alias] = version
            self.files.replace(
                f"{name}/{ALIASES}", json.dumps(aliases, indent=1, sort_keys=True).encode()
            )
        self._record(name, "promote", alias=alias, previous=previous, version=version)
        return previous

    def delete(self, name: str, version: int, *, force: bool = False) -> None:
        """Remove a version; refuses the target of an alias unless `force` (which drops it)."""
        if not self._published(name, version):
            raise StoreError(f"{name} has no version {version}{self._known(name)}")
        with self._aliases_lock(name):
            aliases = self.aliases(name)
            pointing = sorted(alias for alias, target in aliases.items() if target == version)
            if pointing and not force:
                raise StoreError(
                    f"{name}:{version} is the target of {', '.join(pointing)}; promote another "
                    "version first or delete with force=True (--force), which removes the alias"
                )
            if pointing:
                remaining = {a: v for a, v in aliases.items() if a not in pointing}
                self.files.replace(
                    f"{name}/{ALIASES}", json.dumps(remaining, indent=1, sort_keys=True).encode()
                )
        base = f"{name}/{version}"
        # The manifest goes first: from then on the version is invisible, whatever follows.
        self.files.remove(f"{base}/{MANIFEST}")
        for path in self.files.files_under(base):
            if path != CLAIM:
                self.files.remove(f"{base}/{path}")
        self._record(name, "delete", version=version, aliases_removed=pointing)

    def _published(self, name: str, version: int) -> bool:
        return self.files.exists(f"{check_name(name)}/{version}/{MANIFEST}")

    def _claim(self, name: str) -> int:
        owner = json.dumps({"who": _who(), "time": now()}).encode()
        candidate = max(_numbers(self.files.children(name)), default=0) + 1
        while not self.files.create(f"{name}/{candidate}/{CLAIM}", owner):
            candidate += 1
        return candidate

    def _record(self, name: str, action: str, **details: Any) -> None:
        event = {
            "id": uuid.uuid4().hex,
            "time": now("microseconds"),
            "who": _who(),
            "action": action,
        }
        event |= details
        path = f"{name}/{AUDIT}/{event['time']}-{event['id']}.json"
        try:
            self.files.replace(path, json.dumps(event).encode())
        except OSError as error:
            # The action itself is done (a version visible, an alias moved): say so, and that
            # its record is missing, rather than report the action as failed.
            log.warning("%s %s done, but its audit record was not written: %s", name, action, error)
            warnings.warn(
                f"{name}: {action} done, but its audit record was not written ({error})",
                stacklevel=3,
            )

    @contextmanager
    def _aliases_lock(self, name: str) -> Iterator[None]:
        """Serialise alias updates of one name between processes on a local store."""
        folder = self.files.local_folder(name)
        if folder is None:
            yield
            return
        import fcntl

        folder.mkdir(parents=True, exist_ok=True)
        with (folder / ".aliases.lock").open("a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def _known(self, name: str) -> str:
        versions = self.versions(name) if self.files.children(name) else []
        if not versions:
            names = self.names()
            return f" (models here: {', '.join(names) if names else 'none'})"
        aliases = self.aliases(name)
        return (
            f" (versions: {', '.join(map(str, versions))}; aliases: "
            + (", ".join(f"{a} -> {v}" for a, v in sorted(aliases.items())) or "none")
            + ")"
        )


@dataclass(frozen=True)
class PreparedModel:
    """A model serialised as an MLflow model directory, with its card, ready to publish."""

    files: Mapping[str, bytes]
    card: ModelCard


def prepare_model(
    model: Any,
    *,
    signature: Signature,
    metrics: Mapping[str, float] | None = None,
    params: Mapping[str, Any] | None = None,
    data_fingerprint: str | None = None,
    allow_pickle: bool = False,
    features: tuple[str, bytes] | None = None,
    profile: Mapping[str, Any] | None = None,
    plot: bytes | None = None,
) -> PreparedModel:
    """Serialise `model` safely (skops, .keras; pickle only if allowed) and describe it."""
    from scalepipe.store.formats import save_mlflow_model

    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch) / "model"
        saved = save_mlflow_model(model, folder, signature=signature, allow_pickle=allow_pickle)
        files = {
            path.relative_to(folder).as_posix(): path.read_bytes()
            for path in sorted(folder.rglob("*"))
            if path.is_file()
        }
    if features is not None:
        path, data = features
        if path in files or path in (CARD, MANIFEST, SIGNATURE, CLAIM, PLOT) or "/" in path:
            raise StoreError(f"{path!r} cannot name the feature definition: choose a new name")
        files[path] = data
    if plot is not None:
        if not plot.startswith(PNG_MAGIC):
            raise StoreError("the training plot must be a PNG image")
        files[PLOT] = plot
    card = ModelCard(
        name="",
        version=0,
        signature=signature,
        artifact_format=saved.format,
        artifact_path=saved.path,
        metrics=dict(metrics or {}),
        params=dict(params or {}),
        data_fingerprint=data_fingerprint,
        fast_path=saved.fast_path,
        created=now(),
        library_versions=library_versions(),
        git_sha=git_sha(),
        features=features[0] if features is not None else None,
        profile=dict(profile) if profile is not None else None,
        plot=PLOT if plot is not None else None,
    )
    return PreparedModel(files, card)


def _number(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{value!r} is not a version number")
    return value


def _numbers(entries: list[str]) -> list[int]:
    return sorted(int(entry) for entry in entries if entry.isdigit())


def _who() -> str:
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    return f"{user}@{socket.gethostname()}"
