"""`scalepipe models`: versions, aliases, integrity of the model store."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer
from rich.table import Table

from scalepipe.cli.common import (
    JsonOption,
    ModelArgument,
    ModelNameArgument,
    StoreOption,
    model_store,
    out,
    print_json,
)

models_app = typer.Typer(
    help="The model store: versions, aliases, integrity.", no_args_is_help=True
)


def _aliases_text(aliases: dict[str, int]) -> str:
    return ", ".join(f"{alias} -> {version}" for alias, version in sorted(aliases.items())) or "-"


def _pointing_at(aliases: dict[str, int], version: int) -> list[str]:
    return sorted(alias for alias, target in aliases.items() if target == version)


def _metrics_text(metrics: dict[str, float]) -> str:
    return ", ".join(f"{name} {value:.4f}" for name, value in metrics.items()) or "-"


@models_app.command("list")
def models_list(store: StoreOption = None, json_output: JsonOption = False) -> None:
    """List the models in the store with their versions and aliases.

    Example: scalepipe models list --store s3://bucket/models
    """
    models = model_store(store)
    rows = [
        {"name": name, "versions": models.versions(name), "aliases": models.aliases(name)}
        for name in models.names()
    ]
    if json_output:
        print_json(rows)
        return
    table = Table("name", "versions", "latest", "aliases", title=f"models in {models.url}")
    for row in rows:
        table.add_row(
            row["name"],
            str(len(row["versions"])),
            str(row["versions"][-1]),
            _aliases_text(row["aliases"]),
        )
    out.print(table)


@models_app.command("versions")
def models_versions(
    name: ModelNameArgument,
    store: StoreOption = None,
    json_output: JsonOption = False,
) -> None:
    """List the published versions of a model with their metrics.

    Example: scalepipe models versions games
    """
    models = model_store(store)
    aliases = models.aliases(name)
    cards = [models.card(name, version) for version in models.versions(name)]
    if json_output:
        print_json(
            [
                {
                    "version": c.version,
                    "created": c.created,
                    "format": c.artifact_format,
                    "metrics": c.metrics,
                    "aliases": _pointing_at(aliases, c.version),
                }
                for c in cards
            ]
        )
        return
    table = Table(
        "version", "created", "format", "metrics", "aliases", title=f"{name} in {models.url}"
    )
    for c in cards:
        pointing = ", ".join(_pointing_at(aliases, c.version)) or "-"
        table.add_row(
            str(c.version), c.created, c.artifact_format, _metrics_text(c.metrics), pointing
        )
    out.print(table)


@models_app.command("show")
def models_show(
    uri: ModelArgument,
    store: StoreOption = None,
    json_output: JsonOption = False,
) -> None:
    """Show one version's card: signature, metrics, parameters, provenance, alias history.

    Example: scalepipe models show games@champion
    """
    from scalepipe.store import ModelURI

    ref = ModelURI.parse(uri)
    models = model_store(store or ref.store)
    name, version = models.resolve(ref)
    card = models.card(name, version)
    aliases = models.aliases(name)
    payload = json.loads(card.to_json()) | {"aliases": aliases, "history": models.audit(name)}
    if json_output:
        print_json(payload)
        return
    out.print(
        f"[bold]{name}:{version}[/] in {models.url} ({card.artifact_format}"
        + (f", fast path {card.fast_path}" if card.fast_path else "")
        + ")"
    )
    features = ", ".join(f"{f.name} ({f.type})" for f in card.signature.features)
    out.print(f"signature: {features} -> {card.signature.output} of {card.signature.target}")
    out.print(f"metrics: {_metrics_text(card.metrics)}")
    out.print(
        f"created {card.created}; data {card.data_fingerprint or '-'}; git {card.git_sha or '-'}"
    )
    out.print(f"aliases: {_aliases_text(aliases)}")
    if card.profile:
        out.print(_profile_table(card.profile))


def _profile_table(profile: dict[str, Any], most: int = 20) -> Table:
    """The training rows per feature, as the model app and drift monitoring read them."""
    features = profile.get("features", {})
    table = Table("feature", "min", "median", "max", "missing",
                  title=f"training data: {profile.get('rows', 0):,} rows")  # fmt: skip
    for name, described in list(features.items())[:most]:
        middle = described.get("quantiles", {}).get("0.5")
        shown = [described.get("min"), middle, described.get("max")]
        table.add_row(name, *("-" if v is None else f"{v:g}" for v in shown),
                      f"{described.get('missing', 0):,}")  # fmt: skip
    if len(features) > most:
        table.add_row(f"... {len(features) - most} more", "", "", "", "")
    return table


@models_app.command("promote")
def models_promote(
    name: ModelNameArgument,
    version: Annotated[int, typer.Argument(help="Version to point the alias at.", min=1)],
    alias: Annotated[str, typer.Option(help="Alias to move.")] = "champion",
    store: StoreOption = None,
) -> None:
    """Point an alias (champion by default) at a version, atomically, with an audit record.

    Example: scalepipe models promote games 3 --alias champion
    """
    previous = model_store(store).promote(name, version, alias)
    out.print(f"{name}@{alias}: {previous if previous is not None else '-'} -> {version}")


@models_app.command("delete")
def models_delete(
    name: ModelNameArgument,
    version: Annotated[int, typer.Argument(help="Version to delete.", min=1)],
    force: Annotated[
        bool, typer.Option(help="Delete even an alias target (drops the alias).")
    ] = False,
    store: StoreOption = None,
) -> None:
    """Delete a version; an alias target only with --force. Numbers are never reused.

    Example: scalepipe models delete games 2
    """
    model_store(store).delete(name, version, force=force)
    out.print(f"deleted {name}:{version}")


@models_app.command("verify")
def models_verify(
    uri: Annotated[str, typer.Argument(help="NAME (every version), NAME:VERSION or NAME@ALIAS.")],
    version: Annotated[int | None, typer.Option(help="Only this version.", min=1)] = None,
    store: StoreOption = None,
    json_output: JsonOption = False,
) -> None:
    """Check versions: every file against its manifest's sha256, the signature when a key
    is set, the card against its folder, the artifact's types against the allowlist.

    Example: scalepipe models verify games:3
    """
    models, name, numbers = _versions_named(uri, version, store)
    checked = [line for number in numbers for line in models.verify(name, number)]
    if json_output:
        print_json({"verified": checked})
        return
    for line in checked:
        out.print(f"ok {line}")


def _versions_named(uri: str, version: int | None, store: str | None) -> tuple[Any, str, list[int]]:
    from scalepipe.store import ModelURI

    ref = ModelURI.parse(uri)
    if version is not None:
        ref = ModelURI(ref.name, ref.store, version=version)
    models = model_store(store or ref.store)
    name, numbers = models.versions_named(ref)
    return models, name, numbers


@models_app.command("sign")
def models_sign(
    uri: Annotated[str, typer.Argument(help="NAME (every version), NAME:VERSION or NAME@ALIAS.")],
    version: Annotated[int | None, typer.Option(help="Only this version.", min=1)] = None,
    store: StoreOption = None,
) -> None:
    """Sign versions published before a signing key was configured (after checking them).

    The key comes from SCALEPIPE_SIGNING_KEY or SCALEPIPE_SIGNING_KEY_FILE; with one set,
    publishing signs every version and every load refuses an unsigned one.

    Example: scalepipe models sign games:3   (with SCALEPIPE_SIGNING_KEY_FILE=key.txt set)
    """
    models, name, numbers = _versions_named(uri, version, store)
    for number in numbers:
        models.sign(name, number)
        out.print(f"signed {name}:{number} (key {models.signing_key.id})")
