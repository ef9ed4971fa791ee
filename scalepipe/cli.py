"""The `scalepipe` command line: each command parses its options and calls the library."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from scalepipe import __version__
from scalepipe.config import Settings
from scalepipe.data.catalog import DATASETS, spec
from scalepipe.errors import ScalepipeError

app = typer.Typer(
    help="Take a predictive model from a notebook to production.\n\nExample: scalepipe quickstart",
    no_args_is_help=True,
    rich_markup_mode="rich",
    pretty_exceptions_enable=False,
)
data_app = typer.Typer(
    help="Named datasets: list, preview, load into the warehouse.", no_args_is_help=True
)
app.add_typer(data_app, name="data")
models_app = typer.Typer(
    help="The model store: versions, aliases, integrity.", no_args_is_help=True
)
app.add_typer(models_app, name="models")
console = Console(stderr=True)
# Piped output (CI logs, files) gets room for the wide tables instead of 80 columns.
out = Console(width=None if sys.stdout.isatty() else 140)

JsonOption = Annotated[bool, typer.Option("--json", help="Print the figures as JSON on stdout.")]
SourceOption = Annotated[
    str | None,
    typer.Option(
        "--source",
        help="generated (default), a .csv/.parquet path or folder, an http(s) URL, "
        "'sql:SELECT ...', 'warehouse', or 'bigquery' (natality) / 'kaggle' (nhl).",
    ),
]
StoreOption = Annotated[
    str | None,
    typer.Option(
        "--store", help="Model store: a folder or fsspec URL \\[default: setting 'store']"
    ),
]
WarehouseOption = Annotated[
    str | None,
    typer.Option(
        help="Warehouse URL: a DuckDB file or postgresql://... \\[default: setting 'warehouse']"
    ),
]


def main() -> None:
    """Entry point: user mistakes end with a one-line message and exit code 2; a bug (any
    other exception, a ValueError from numpy say) keeps its traceback."""
    try:
        app()
    # OSError: a read-only or full store, a missing file, a port: the OS names it.
    except (ScalepipeError, OSError) as error:
        console.print(f"[bold red]error:[/] {error}", highlight=False)
        sys.exit(2)


def _version(value: bool) -> None:
    if value:
        out.print(f"scalepipe {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_version, is_eager=True, help="Show the version and exit."
        ),
    ] = False,
) -> None:
    """Take a predictive model from a notebook to production."""


def _progress() -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    )


def _print_json(payload: Any) -> None:
    out.print_json(json.dumps(payload, default=str))


@data_app.command("list")
def data_list(json_output: JsonOption = False) -> None:
    """List the named datasets.

    Example: scalepipe data list --json
    """
    if json_output:
        _print_json(
            [
                {
                    "name": d.name,
                    "tables": list(d.tables),
                    "target": d.target,
                    "task": d.task,
                    "features": list(d.features),
                    "default_rows": d.default_rows,
                    "row_unit": d.row_unit,
                    "summary": d.summary,
                }
                for d in DATASETS.values()
            ]
        )
        return
    table = Table("name", "tables", "target", "task", "default rows", "what it is")
    for dataset in DATASETS.values():
        table.add_row(
            dataset.name,
            ", ".join(dataset.tables),
            dataset.target or "-",
            dataset.task or "-",
            f"{dataset.default_rows:,} {dataset.row_unit}",
            dataset.summary,
        )
    out.print(table)


@data_app.command("show")
def data_show(
    name: Annotated[str, typer.Argument(help="Dataset name: games, housing, natality or nhl.")],
    source: SourceOption = None,
    table: Annotated[str | None, typer.Option(help="Table of a multi-table dataset (nhl).")] = None,
    rows: Annotated[int, typer.Option(help="Rows to preview.", min=1)] = 10,
    warehouse: WarehouseOption = None,
    json_output: JsonOption = False,
) -> None:
    """Preview a dataset: its first rows, size and column types.

    Example: scalepipe data show games --source ../shared/data/games-expand.csv
    """
    from scalepipe.data.sources import load

    described = spec(name)
    if table is None and len(described.tables) > 1:
        names = described.tables
    else:
        names = (table or described.main_table,)
    shown = {}
    for wanted in names:
        frame = load(name, table=wanted, source=source, warehouse=warehouse)
        if json_output:
            shown[wanted] = {
                "rows": len(frame),
                "columns": {str(c): str(t) for c, t in frame.dtypes.items()},
                "head": json.loads(frame.head(rows).to_json(orient="records")),
            }
            continue
        out.print(f"[bold]{name}.{wanted}[/]: {len(frame):,} rows x {frame.shape[1]} columns")
        out.print(frame.head(rows).to_string(index=False), highlight=False, soft_wrap=True)
        out.print(f"column types: {', '.join(f'{c}={t}' for c, t in frame.dtypes.items())}")
    if json_output:
        _print_json({"dataset": name, "tables": shown})


@data_app.command("load")
def data_load(
    name: Annotated[str, typer.Argument(help="Dataset name: games, housing, natality or nhl.")],
    rows: Annotated[
        int | None, typer.Option(help="Rows to generate (games for nhl).", min=0)
    ] = None,
    to: Annotated[
        str | None, typer.Option("--to", help="Warehouse URL \\[default: setting 'warehouse']")
    ] = None,
    source: SourceOption = None,
    seed: Annotated[int, typer.Option(help="Generator seed.")] = 0,
    json_output: JsonOption = False,
) -> None:
    """Write a dataset into warehouse tables (replacing them atomically).

    Example: scalepipe data load games --rows 1000000 --to postgresql://127.0.0.1/test
    """
    from scalepipe.data.loading import write_dataset
    from scalepipe.data.warehouse import Warehouse

    store = Warehouse(to or Settings.load().warehouse)
    with _progress() as progress:
        written = write_dataset(
            name,
            store,
            rows=rows,
            source=source,
            seed=seed,
            on_block=_block_reporter(progress),
        )
    if json_output:
        _print_json({"dataset": name, "warehouse": repr(store), "tables": written})
    else:
        for table, count in written.items():
            out.print(f"{name}: wrote {count:,} rows to table {table} in {store!r}")


def _block_reporter(progress: Progress) -> Callable[[str, int, int], None]:
    tasks: dict[str, Any] = {}

    def report(dataset: str, done: int, total: int) -> None:
        if dataset not in tasks:
            tasks[dataset] = progress.add_task(f"loading {dataset}", total=total)
        progress.update(tasks[dataset], completed=done)

    return report


@app.command()
def train(
    dataset: Annotated[str, typer.Argument(help="Dataset name: games, housing or natality.")],
    model: Annotated[
        str | None,
        typer.Option(help="linear, logistic, mlp or gbm \\[default: logistic or linear by task]"),
    ] = None,
    source: SourceOption = None,
    rows: Annotated[int | None, typer.Option(help="Use at most this many rows.", min=10)] = None,
    warehouse: WarehouseOption = None,
    seed: Annotated[int, typer.Option(help="Seed of the split and of the model.")] = 0,
    test_size: Annotated[float, typer.Option(help="Held-out share of the rows.")] = 0.3,
    epochs: Annotated[
        int | None, typer.Option(help="Epochs of the mlp \\[default: 100].", min=1)
    ] = None,
    plot: Annotated[bool, typer.Option(help="Write a PNG plot to the plots folder.")] = True,
    publish: Annotated[
        bool, typer.Option("--publish", help="Publish the model to the store.")
    ] = False,
    name: Annotated[
        str | None, typer.Option(help="Model name in the store \\[default: the dataset]")
    ] = None,
    alias: Annotated[str | None, typer.Option(help="Point this alias at the new version.")] = None,
    store: StoreOption = None,
    json_output: JsonOption = False,
) -> None:
    """Train a model on a dataset and report held-out metrics (and a plot).

    Example: scalepipe train games --model mlp --source ../shared/data/games-expand.csv
    Example: scalepipe train games --publish --alias champion
    """
    from scalepipe.train.run import train as run_training

    if (name or alias) and not publish:
        raise typer.BadParameter("--name and --alias apply with --publish")
    with _progress() as progress:
        task = progress.add_task(
            f"{dataset} {model or ''} epochs".replace("  ", " "), total=None, visible=False
        )

        def on_epoch(epoch: int, total: int, logs: dict[str, float]) -> None:
            progress.update(task, completed=epoch, total=total, visible=True)

        trained = run_training(
            dataset,
            model,
            source=source,
            rows=rows,
            warehouse=warehouse,
            seed=seed,
            test_size=test_size,
            epochs=epochs,
            plot=plot,
            on_epoch=on_epoch,
        )
    published = _publish_trained(trained, name, alias, store) if publish else None
    if json_output:
        _print_json(
            {
                "dataset": trained.dataset,
                "model": trained.recipe,
                "metrics": trained.metrics,
                "params": trained.params,
                "signature": trained.signature.to_dict(),
                "data_fingerprint": trained.data_fingerprint,
                "plot": str(trained.plot) if trained.plot else None,
                "published": published,
            }
        )
        return
    table = Table("metric", "held-out value", title=f"{trained.dataset} {trained.recipe}")
    for metric, value in trained.metrics.items():
        table.add_row(metric, f"{value:.4f}")
    out.print(table)
    if trained.plot:
        out.print(f"plot: {trained.plot}")
    if published:
        out.print(f"published {published['uri']}" + (f" as {alias}" if alias else ""))


def _publish_trained(
    trained: Any, name: str | None, alias: str | None, store_url: str | None
) -> dict[str, Any]:
    from scalepipe.store import ModelStore

    store = ModelStore(store_url)
    model_name = name or trained.dataset
    version = trained.publish(store, name=model_name, alias=alias)
    return {
        "store": store.url,
        "name": model_name,
        "version": version,
        "alias": alias,
        "uri": f"{store.url}/{model_name}:{version}",
    }


@app.command()
def reproduce(
    data_dir: Annotated[
        Path | None,
        typer.Option(
            help="Folder with the book's games-expand.csv and BostonHousing.csv "
            "\\[default: generated data]"
        ),
    ] = None,
    splits: Annotated[int, typer.Option(help="Random 70/30 splits per model.", min=2)] = 30,
    mlp_splits: Annotated[int, typer.Option(help="Splits for the mlp (~35 s each).", min=2)] = 3,
    models: Annotated[
        str, typer.Option(help="Comma-separated models to run.")
    ] = "linear,logistic,gbm,mlp",
    json_output: JsonOption = False,
) -> None:
    """Reproduce the book's chapter-1 table over many random splits, with spreads.

    Example: scalepipe reproduce --data-dir ../shared/data --splits 30 --mlp-splits 3
    """
    from scalepipe.train.reproduce import reproduce as run

    recipes = tuple(name.strip() for name in models.split(",") if name.strip())
    with _progress() as progress:
        tasks: dict[str, Any] = {}

        def on_split(label: str, done: int) -> None:
            if label not in tasks:
                total = mlp_splits if label.endswith("mlp") else splits
                tasks[label] = progress.add_task(label, total=total)
            progress.update(tasks[label], completed=done)

        results = run(
            data_dir,
            splits=splits,
            mlp_splits=mlp_splits,
            recipes=recipes,
            plot_dir=Path(Settings.load().plots_dir),
            on_split=on_split,
        )
    if json_output:
        _print_json([result.to_dict() for result in results])
        return
    out.print(book_table(results, "real files" if data_dir else "generated data"))


def book_table(results: list[Any], data: str) -> Table:
    table = Table(
        "dataset", "model", "metric", "book", "reference", f"scalepipe ({data})", "splits", "ok",
        title="The book's chapter-1 results",
    )  # fmt: skip
    for result in results:
        b = result.benchmark
        table.add_row(
            b.dataset,
            b.recipe,
            b.metric,
            "-" if b.book is None else f"{b.book:.3f}",
            f"{b.reference:.3f} ± {b.tolerance:.3f}",
            _spread(result),
            str(len(result.values)),
            "yes" if result.within_tolerance else "[red]no[/]",
        )
    return table


def _spread(result: Any) -> str:
    if len(result.values) == 1:
        return f"{result.mean:.3f}"
    low, high = min(result.values), max(result.values)
    return f"{result.mean:.3f} ± {result.std:.3f} [{low:.3f}, {high:.3f}]"


def _aliases_text(aliases: dict[str, int]) -> str:
    return ", ".join(f"{alias} -> {version}" for alias, version in sorted(aliases.items())) or "-"


def _pointing_at(aliases: dict[str, int], version: int) -> list[str]:
    return sorted(alias for alias, target in aliases.items() if target == version)


def _metrics_text(metrics: dict[str, float]) -> str:
    return ", ".join(f"{name} {value:.4f}" for name, value in metrics.items()) or "-"


def _store(url: str | None) -> Any:
    from scalepipe.store import ModelStore

    return ModelStore(url)


@models_app.command("list")
def models_list(store: StoreOption = None, json_output: JsonOption = False) -> None:
    """List the models in the store with their versions and aliases.

    Example: scalepipe models list --store s3://bucket/models
    """
    models = _store(store)
    rows = [
        {"name": name, "versions": models.versions(name), "aliases": models.aliases(name)}
        for name in models.names()
    ]
    if json_output:
        _print_json(rows)
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
    name: Annotated[str, typer.Argument(help="Model name.")],
    store: StoreOption = None,
    json_output: JsonOption = False,
) -> None:
    """List the published versions of a model with their metrics.

    Example: scalepipe models versions games
    """
    models = _store(store)
    aliases = models.aliases(name)
    cards = [models.card(name, version) for version in models.versions(name)]
    if json_output:
        _print_json(
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
    uri: Annotated[str, typer.Argument(help="Model URI: NAME, NAME@ALIAS or NAME:VERSION.")],
    store: StoreOption = None,
    json_output: JsonOption = False,
) -> None:
    """Show one version's card: signature, metrics, parameters, provenance, alias history.

    Example: scalepipe models show games@champion
    """
    from scalepipe.store import ModelURI

    ref = ModelURI.parse(uri)
    models = _store(store or ref.store)
    name, version = models.resolve(ref)
    card = models.card(name, version)
    aliases = models.aliases(name)
    payload = json.loads(card.to_json()) | {"aliases": aliases, "history": models.audit(name)}
    if json_output:
        _print_json(payload)
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


@models_app.command("promote")
def models_promote(
    name: Annotated[str, typer.Argument(help="Model name.")],
    version: Annotated[int, typer.Argument(help="Version to point the alias at.", min=1)],
    alias: Annotated[str, typer.Option(help="Alias to move.")] = "champion",
    store: StoreOption = None,
) -> None:
    """Point an alias (champion by default) at a version, atomically, with an audit record.

    Example: scalepipe models promote games 3 --alias champion
    """
    models = _store(store)
    previous = models.aliases(name).get(alias)
    models.promote(name, version, alias)
    out.print(f"{name}@{alias}: {previous if previous is not None else '-'} -> {version}")


@models_app.command("delete")
def models_delete(
    name: Annotated[str, typer.Argument(help="Model name.")],
    version: Annotated[int, typer.Argument(help="Version to delete.", min=1)],
    force: Annotated[
        bool, typer.Option(help="Delete even an alias target (drops the alias).")
    ] = False,
    store: StoreOption = None,
) -> None:
    """Delete a version; an alias target only with --force. Numbers are never reused.

    Example: scalepipe models delete games 2
    """
    _store(store).delete(name, version, force=force)
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
        _print_json({"verified": checked})
        return
    for line in checked:
        out.print(f"ok {line}")


def _versions_named(uri: str, version: int | None, store: str | None) -> tuple[Any, str, list[int]]:
    from scalepipe.store import ModelURI

    ref = ModelURI.parse(uri)
    if version is not None:
        ref = ModelURI(ref.name, ref.store, version=version)
    models = _store(store or ref.store)
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


package_app = typer.Typer(
    help="Deployment packages for serverless platforms.", no_args_is_help=True
)
app.add_typer(package_app, name="package")


@package_app.command("lambda")
def package_lambda(
    model: Annotated[str, typer.Argument(help="Model URI: NAME, NAME@ALIAS, NAME:VERSION.")],
    destination: Annotated[Path, typer.Option("--out", help="The zip to write.")] = Path(
        "dist/lambda.zip"
    ),
    python: Annotated[str, typer.Option(help="Lambda's Python version.")] = "3.11",
    bundle_model: Annotated[
        bool, typer.Option("--bundle-model", help="Put the model's files in the zip.")
    ] = False,
    store: StoreOption = None,
    json_output: JsonOption = False,
) -> None:
    """Build an AWS Lambda deployment zip (handler: lambda_function.handler).

    Example: scalepipe package lambda games@champion --bundle-model --out dist/lambda.zip
    """
    from scalepipe.functions.package import (
        LAMBDA_UNZIPPED_LIMIT,
        LAMBDA_ZIPPED_LIMIT,
        MB,
        build_lambda_zip,
    )

    built = build_lambda_zip(
        model, destination, python=python, bundle_model=bundle_model, store=store
    )
    if json_output:
        _print_json(built.to_dict())
        return
    out.print(
        f"wrote {built.path} for {built.model}: {built.zipped_bytes / MB:.2f} MB zipped "
        f"(limit {LAMBDA_ZIPPED_LIMIT / MB:.0f} MB), {built.unzipped_bytes / MB:.2f} MB "
        f"unzipped (limit {LAMBDA_UNZIPPED_LIMIT / MB:.0f} MB); libraries: "
        f"{', '.join(built.requirements) or 'none (the standard library suffices)'}",
        highlight=False,
    )


@package_app.command("gcf")
def package_gcf(
    model: Annotated[str, typer.Argument(help="Model URI: NAME, NAME@ALIAS, NAME:VERSION.")],
    destination: Annotated[Path, typer.Option("--out", help="The folder to write.")] = Path(
        "dist/gcf"
    ),
    bundle_model: Annotated[
        bool, typer.Option("--bundle-model", help="Put the model's files in the folder.")
    ] = False,
    store: StoreOption = None,
    json_output: JsonOption = False,
) -> None:
    """Build a Cloud Functions source folder (main.py, requirements.txt, scalepipe).

    Example: scalepipe package gcf games@champion --bundle-model --out dist/gcf
    """
    from scalepipe.functions.package import build_gcf_folder

    built = build_gcf_folder(model, destination, bundle_model=bundle_model, store=store)
    if json_output:
        _print_json(built.to_dict())
        return
    out.print(
        f"wrote {built.path}/ for {built.model}; deploy with: gcloud functions deploy predict "
        f"--entry-point predict --runtime python311 --trigger-http --source {built.path}",
        highlight=False,
    )


@app.command()
def invoke(
    platform: Annotated[str, typer.Argument(help="lambda or gcf.")],
    event: Annotated[Path, typer.Argument(help="A JSON file: the event (lambda) or body (gcf).")],
    model: Annotated[
        str | None, typer.Option(help="Model URI \\[default: $SCALEPIPE_MODEL]")
    ] = None,
) -> None:
    """Run a function handler locally on an event file and print its answer.

    Example: scalepipe invoke lambda event.json --model games@champion
    """
    import os

    if model:
        os.environ["SCALEPIPE_MODEL"] = model
    try:
        payload = json.loads(event.read_text())
    except (OSError, ValueError) as error:
        raise typer.BadParameter(f"cannot read the event {event}: {error}") from None
    if platform == "lambda":
        from scalepipe.functions import aws_lambda

        _print_json(aws_lambda.handler(payload, None))
    elif platform == "gcf":
        import flask

        from scalepipe.functions import gcp

        with flask.Flask("scalepipe").test_request_context("/", method="POST", json=payload):
            body, status, headers = gcp.predict(flask.request)
        _print_json({"status": status, "headers": headers, "body": json.loads(body)})
    else:
        raise typer.BadParameter(f"platform must be lambda or gcf, not {platform!r}")


@app.command()
def serve(
    models: Annotated[
        list[str] | None,
        typer.Argument(help="Model URIs: NAME (alias champion), NAME@ALIAS, NAME:VERSION."),
    ] = None,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on (0: any free port).", min=0)] = 8000,
    workers: Annotated[int, typer.Option(help="Worker processes.", min=1)] = 2,
    api_key_file: Annotated[
        Path | None,
        typer.Option(help="File of API keys, one a line; every route but health needs one."),
    ] = None,
    refresh: Annotated[
        float | None, typer.Option(help="Re-resolve aliases every N seconds.", min=0.1)
    ] = None,
    body_limit: Annotated[int, typer.Option(help="Largest request body in bytes.", min=1)] = 1
    << 20,
    allow_pickle: Annotated[
        bool,
        typer.Option("--allow-pickle", help="Load models stored with pickle (runs their code)."),
    ] = False,
    log_predictions: Annotated[
        Path | None,
        typer.Option(help="Append every prediction to this JSONL file (or .parquet folder)."),
    ] = None,
    max_connections: Annotated[
        int, typer.Option(help="Open connections per worker; past it new ones get 503.", min=1)
    ] = 1024,
    request_timeout: Annotated[
        float,
        typer.Option(help="Seconds a client has to send a whole request (else 408).", min=0.1),
    ] = 10.0,
    keep_alive: Annotated[
        int, typer.Option(help="Seconds an idle keep-alive connection stays open.", min=1)
    ] = 5,
    header_limit: Annotated[
        int, typer.Option(help="Largest request line + headers in bytes (else 431).", min=1024)
    ] = 64 << 10,
    store: StoreOption = None,
) -> None:
    """Serve published models over HTTP on a production server (uvicorn workers).

    Example: scalepipe serve games housing@champion --workers 2 --port 8000
    """
    from scalepipe.serve.limits import ConnectionLimits
    from scalepipe.serve.runner import ServerOptions
    from scalepipe.serve.runner import serve as run_server

    options = ServerOptions(
        uris=models or ["games"],
        host=host,
        port=port,
        workers=workers,
        store=store,
        api_key_file=api_key_file,
        refresh_seconds=refresh,
        body_limit=body_limit,
        allow_pickle=allow_pickle,
        log_predictions=log_predictions,
        limits=ConnectionLimits(max_connections, request_timeout, keep_alive, header_limit),
        on_ready=lambda url: console.print(f"serving on {url}  (docs: {url}/docs; Ctrl-C stops)"),
    )
    run_server(options)


@app.command()
def quickstart(
    serve_models: Annotated[
        bool, typer.Option("--serve/--no-serve", help="End by serving the champions over HTTP.")
    ] = True,
    port: Annotated[int, typer.Option(help="Port to serve on (0: any free port).", min=0)] = 8000,
    json_output: JsonOption = False,
) -> None:
    """Load the datasets, train the book's two models, publish and serve them.

    Example: scalepipe quickstart
    """
    from scalepipe.quickstart import example_calls, run_quickstart

    settings = Settings.load()
    with _progress() as progress:
        report = run_quickstart(settings, on_block=_block_reporter(progress))
    if json_output:
        _print_json(report.to_dict())
    else:
        for dataset, tables in report.loaded.items():
            for table, count in tables.items():
                out.print(f"loaded {dataset}: {count:,} rows into {table}")
        out.print(f"warehouse: {settings.warehouse}")
        out.print(book_table(report.results, "generated data, 1 split"))
        for trained in report.models:
            out.print(f"plot of {trained.dataset} {trained.recipe}: {trained.plot}")
        for uri in report.published:
            out.print(f"published {uri}")
        out.print(
            "The book's table on the real files: scalepipe reproduce --data-dir ../shared/data"
        )
    if serve_models:
        from scalepipe.serve.runner import ServerOptions
        from scalepipe.serve.runner import serve as run_server

        def show_calls(url: str) -> None:
            console.print(example_calls(url), highlight=False, soft_wrap=True, markup=False)

        run_server(
            ServerOptions(
                uris=["games", "housing"], store=settings.store, port=port, on_ready=show_calls
            )
        )


if __name__ == "__main__":
    main()
