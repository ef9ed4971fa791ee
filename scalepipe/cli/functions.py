"""`scalepipe package` and `scalepipe invoke`: serverless functions."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from scalepipe.cli.common import JsonOption, ModelArgument, StoreOption, out, print_json

package_app = typer.Typer(
    help="Deployment packages for serverless platforms.", no_args_is_help=True
)


@package_app.command("lambda")
def package_lambda(
    model: ModelArgument,
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
        print_json(built.to_dict())
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
    model: ModelArgument,
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
        print_json(built.to_dict())
        return
    out.print(
        f"wrote {built.path}/ for {built.model}; deploy with: gcloud functions deploy predict "
        f"--entry-point predict --runtime python311 --trigger-http --source {built.path}",
        highlight=False,
    )


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

    from scalepipe.functions.local import invoke as run_handler

    if model:
        os.environ["SCALEPIPE_MODEL"] = model
    try:
        payload = json.loads(event.read_text())
    except (OSError, ValueError) as error:
        raise typer.BadParameter(f"cannot read the event {event}: {error}") from None
    print_json(run_handler(platform, payload))
