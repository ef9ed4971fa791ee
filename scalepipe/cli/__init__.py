"""The `scalepipe` command line: one module per command group; each command parses its
options and calls the library. Imports of the heavy parts (pandas, scikit-learn, the
server) happen inside the commands, so `scalepipe serve` starts without the training
stack installed."""

from __future__ import annotations

import sys
from typing import Annotated

import typer
from rich.markup import escape

from scalepipe.cli import app as app_command
from scalepipe.cli import (
    batch,
    data,
    deploy,
    features,
    functions,
    models,
    monitor,
    serve,
    stream,
    train,
    workflow,
)
from scalepipe.cli.common import console, out
from scalepipe.errors import ScalepipeError
from scalepipe.version import __version__

app = typer.Typer(
    help="Take a predictive model from a notebook to production.\n\nExample: scalepipe quickstart",
    no_args_is_help=True,
    rich_markup_mode="rich",
    pretty_exceptions_enable=False,
)
app.add_typer(data.data_app, name="data")
app.command()(train.train)
app.command()(train.reproduce)
app.add_typer(models.models_app, name="models")
app.add_typer(functions.package_app, name="package")
app.add_typer(batch.batch_app, name="batch")
app.add_typer(stream.stream_app, name="stream")
app.add_typer(features.features_app, name="features")
app.add_typer(deploy.deploy_app, name="deploy")
app.add_typer(workflow.workflow_app, name="workflow")
app.add_typer(monitor.monitor_app, name="monitor")
app.command()(functions.invoke)
app.command()(serve.serve)
app.command()(serve.quickstart)
app.command(name="app")(app_command.app)


def main() -> None:
    """Entry point: user mistakes end with a one-line message and exit code 2; a bug (any
    other exception, a ValueError from numpy say) keeps its traceback."""
    try:
        app()
    # OSError: a read-only or full store, a missing file, a port: the OS names it.
    except (ScalepipeError, OSError) as error:
        # escape: a message may hold brackets (pip install 'scalepipe[kaggle]') that rich
        # would otherwise take for markup and drop.
        console.print(f"[bold red]error:[/] {escape(str(error))}", highlight=False)
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
