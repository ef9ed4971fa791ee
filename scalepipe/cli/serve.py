"""`scalepipe serve` and `scalepipe quickstart`: models over HTTP."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Annotated, Any

import typer

from scalepipe.cli.common import (
    JsonOption,
    StoreOption,
    block_reporter,
    console,
    out,
    print_json,
    progress_bar,
)
from scalepipe.cli.train import book_table
from scalepipe.config import Settings
from scalepipe.errors import ServeError


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
    api_keys_env: Annotated[
        str | None,
        typer.Option(
            help="Environment variable holding the API keys, one a line or comma-separated "
            "(how ECS and Cloud Run hand a container its secrets)."
        ),
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
    drain_delay: Annotated[
        float,
        typer.Option(
            help="Seconds to keep serving after SIGTERM with /readyz answering 503, so "
            "that a load balancer's health check takes the server out first.",
            min=0,
        ),
    ] = 0.0,
    drift_window: Annotated[
        int,
        typer.Option(
            help="Rows per model (and worker) that the drift gauges on /metrics measure "
            "against the training profile; 0: no gauges.",
            min=0,
        ),
    ] = 10_000,
    drift_every: Annotated[
        float, typer.Option(help="Seconds between two drift measures.", min=0.1)
    ] = 30.0,
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
    ui: Annotated[
        bool,
        typer.Option("--ui", help="Serve the model app at /app too (needs '.[app]')."),
    ] = False,
    store: StoreOption = None,
) -> None:
    """Serve published models over HTTP on a production server (uvicorn workers).

    Example: scalepipe serve games housing@champion --workers 2 --port 8000 --ui
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
        api_keys_env=api_keys_env,
        refresh_seconds=refresh,
        body_limit=body_limit,
        allow_pickle=allow_pickle,
        log_predictions=log_predictions,
        drain_delay=drain_delay,
        drift_window=drift_window,
        drift_every=drift_every,
        limits=ConnectionLimits(max_connections, request_timeout, keep_alive, header_limit),
        on_ready=lambda url: console.print(
            f"serving on {url}  (docs: {url}/docs"
            + (f"; the model app: {url}/app/" if ui else "")
            + "; Ctrl-C stops)"
        ),
        mounts=_model_app() if ui else None,
    )
    run_server(options)


def _model_app() -> Callable[[Sequence[Any]], dict[str, Any]]:
    """The model app at /app, for `serve --ui`: made in each worker from its predictors."""
    try:
        from a2wsgi import WSGIMiddleware

        from scalepipe.app.page import build_app
    except ImportError as error:
        raise ServeError(
            f"--ui needs the model app: pip install 'scalepipe[app]' ({error.name} is missing)"
        ) from None

    def mount(predictors: Sequence[Any]) -> dict[str, Any]:
        page = build_app(predictors, prefix="/app/", api_url=None)
        return {"/app": WSGIMiddleware(page.server)}

    return mount


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
    with progress_bar() as progress:
        report = run_quickstart(settings, on_block=block_reporter(progress))
    if json_output:
        print_json(report.to_dict())
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
