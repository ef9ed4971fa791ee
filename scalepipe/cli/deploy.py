"""`scalepipe deploy`: container images and the files that run them."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from scalepipe.cli.common import JsonOption, StoreOption, console, out, print_json

deploy_app = typer.Typer(
    help="Container images of the model server, and Heroku, Kubernetes and ECS files.",
    no_args_is_help=True,
)
ModelsArgument = Annotated[
    list[str], typer.Argument(help="Model URIs: NAME (alias champion), NAME@ALIAS, NAME:VERSION.")
]
UiOption = Annotated[bool, typer.Option("--ui", help="Serve the model app at /app too.")]
ReplicasOption = Annotated[int, typer.Option(help="Copies of the server (Kubernetes, ECS).", min=1)]
WorkersOption = Annotated[int, typer.Option(help="Worker processes in each server.", min=1)]
ModelFromOption = Annotated[
    str,
    typer.Option(
        help="bundle: the models' files go in the image; store: the server reads them at "
        "start from the --store bucket (s3://, gs://) and follows alias promotions.",
    ),
]
TagOption = Annotated[
    str | None, typer.Option("--tag", help="The image NAME:TAG (default scalepipe-MODEL:VERSION).")
]
BaseOption = Annotated[
    str | None,
    typer.Option(
        help="Base image: Debian 12 with Python 3.11 (default python:3.11-slim-bookworm)."
    ),
]


@deploy_app.command("render")
def render_command(
    models: ModelsArgument,
    target: Annotated[str, typer.Option(help="docker, heroku, kubernetes or ecs.")] = "docker",
    destination: Annotated[Path, typer.Option("--out", help="The folder to write (new).")] = Path(
        "deploy"
    ),
    ui: UiOption = False,
    replicas: ReplicasOption = 2,
    workers: WorkersOption = 2,
    model_from: ModelFromOption = "bundle",
    tag: TagOption = None,
    base: BaseOption = None,
    api_keys: Annotated[
        bool,
        typer.Option(
            "--api-keys/--no-api-keys",
            help="Kubernetes and ECS servers read API keys from a secret (scalepipe-api-keys).",
        ),
    ] = True,
    store: StoreOption = None,
    json_output: JsonOption = False,
) -> None:
    """Write what a platform needs to run the model server for MODELS.

    Example: scalepipe deploy render games:1 --target kubernetes --replicas 3 --out deploy/k8s
    """
    from scalepipe.deploy import plan_deploy, render
    from scalepipe.deploy.docker import DEFAULT_BASE

    plan = plan_deploy(
        models,
        store=store,
        model_from=model_from,
        ui=ui,
        replicas=replicas,
        workers=workers,
        image=tag,
    )
    written = render(plan, target, destination, base=base or DEFAULT_BASE, api_keys=api_keys)
    if json_output:
        print_json({"target": target, "image": plan.image, "files": [str(p) for p in written]})
        return
    out.print(f"wrote {destination}/ for {target} ({', '.join(plan.models)}):", highlight=False)
    for path in written:
        out.print(f"  {path.relative_to(destination)}{'/' if path.is_dir() else ''}")
    out.print(_next_step(target, destination, plan.image), highlight=False)


def _next_step(target: str, folder: Path, image: str) -> str:
    return {
        "docker": f"build it: docker build -t {image} {folder}   (or scalepipe deploy build)",
        "heroku": f"deploy it: cd {folder} && git init && heroku create && git add -A "
        "&& git commit -m model && git push heroku HEAD:main",
        "kubernetes": f"apply it: kubectl create secret generic scalepipe-api-keys "
        f"--from-file=keys=keys.txt && kubectl apply -f {folder}",
        "ecs": f"register it: aws ecs register-task-definition --cli-input-json "
        f"file://{folder}/task-definition.json (fill in the ACCOUNT_ID, REGION and -ID values)",
    }[target]


@deploy_app.command("build")
def build_command(
    models: ModelsArgument,
    tag: TagOption = None,
    engine: Annotated[str, typer.Option(help="podman or docker.")] = "podman",
    ui: UiOption = False,
    workers: WorkersOption = 2,
    model_from: ModelFromOption = "bundle",
    base: BaseOption = None,
    keep: Annotated[Path | None, typer.Option(help="Keep the rendered build folder here.")] = None,
    store: StoreOption = None,
    json_output: JsonOption = False,
) -> None:
    """Render the image's folder and build it with podman or docker.

    Example: scalepipe deploy build games:1 --tag scalepipe-games:1
    (then: podman run --rm -p 8000:8000 scalepipe-games:1)
    """
    from scalepipe.deploy import build_image, plan_deploy
    from scalepipe.deploy.docker import DEFAULT_BASE

    plan = plan_deploy(
        models, store=store, model_from=model_from, ui=ui, workers=workers, image=tag
    )
    with console.status(f"building {plan.image} with {engine}") as status:
        built = build_image(
            plan,
            engine=engine,
            base=base or DEFAULT_BASE,
            out=keep,
            on_line=lambda line: status.update(f"{engine}: {line[:100]}"),
        )
    if json_output:
        print_json(built.to_dict())
        return
    out.print(
        f"built {built.tag} ({', '.join(built.models)}): {built.size_bytes / 1e6:.0f} MB in "
        f"{built.seconds:.0f} s; run it: {engine} run --rm -p 8000:8000 {built.tag}",
        highlight=False,
    )
