"""`scalepipe app`: the interactive model app (Dash), built from the models' signatures."""

from __future__ import annotations

from typing import Annotated

import typer

from scalepipe.cli.common import StoreOption, console
from scalepipe.errors import ServeError


def app(
    models: Annotated[
        list[str],
        typer.Argument(help="Model URIs: NAME (alias champion), NAME@ALIAS, NAME:VERSION."),
    ],
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.", min=1)] = 8050,
    api_url: Annotated[
        str, typer.Option(help="The model server's URL, for the page's ready-made calls.")
    ] = "http://127.0.0.1:8000",
    store: StoreOption = None,
) -> None:
    """Open a page to try models: an input per feature (ranges and defaults from the
    training data), the live prediction, a what-if chart, example rows, ready-made API
    calls. Needs the 'app' extra (pip install 'scalepipe[app]').

    Example: scalepipe app games housing --port 8050
    """
    try:
        from scalepipe.app.page import build_app
    except ImportError as error:
        raise ServeError(
            f"the model app needs Dash: pip install 'scalepipe[app]' ({error.name} is missing)"
        ) from None
    from scalepipe.predict import Predictor

    predictors = [Predictor.load(uri, store=store) for uri in models]
    page = build_app(predictors, api_url=api_url.rstrip("/"))
    console.print(f"model app on http://{host}:{port}/ (Ctrl-C stops)")
    page.run(host=host, port=port, debug=False)
