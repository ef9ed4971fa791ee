"""`scalepipe train` and `scalepipe reproduce`: the book's models and its table."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from scalepipe.cli.common import (
    JsonOption,
    SourceOption,
    SparkMasterOption,
    StoreOption,
    WarehouseOption,
    out,
    print_json,
    progress_bar,
)
from scalepipe.config import Settings


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
    engine: Annotated[
        str,
        typer.Option(help="local, or spark: MLlib fits linear and logistic models (book ch. 6)."),
    ] = "local",
    spark_master: SparkMasterOption = None,
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
    Example: scalepipe train games --model logistic --engine spark --publish
    """
    from scalepipe.train.run import train as run_training

    if (name or alias) and not publish:
        raise typer.BadParameter("--name and --alias apply with --publish")
    if engine not in ("local", "spark"):
        raise typer.BadParameter(f"--engine takes local or spark, not {engine!r}")
    with progress_bar() as progress:
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
            engine="spark" if engine == "spark" else "local",
            spark_master=spark_master,
        )
    published = _publish_trained(trained, name, alias, store) if publish else None
    if json_output:
        print_json(
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
    out.print(metrics_table(trained))
    if trained.plot:
        out.print(f"plot: {trained.plot}")
    if published:
        out.print(f"published {published['uri']}" + (f" as {alias}" if alias else ""))


def metrics_table(trained: Any) -> Table:
    """Held-out figures, and beside them the training rows' where they were measured
    (metrics named training_*: the book's chapter 1 reports those)."""
    held_out = {k: v for k, v in trained.metrics.items() if not k.startswith("training_")}
    training = {k.removeprefix("training_"): v for k, v in trained.metrics.items()
                if k.startswith("training_")}  # fmt: skip
    title = f"{trained.dataset} {trained.recipe}"
    table = Table("metric", "held-out value", *(["training data"] if training else []), title=title)
    for metric, value in held_out.items():
        seen = [f"{training[metric]:.4f}"] if metric in training else []
        table.add_row(metric, f"{value:.4f}", *seen)
    return table


def _publish_trained(
    trained: Any, name: str | None, alias: str | None, store_url: str | None
) -> dict[str, Any]:
    from scalepipe.store import ModelStore, ModelURI

    store = ModelStore(store_url)
    model_name = name or trained.dataset
    version = trained.publish(store, name=model_name, alias=alias)
    uri = ModelURI(model_name, store.url, version=version)
    return {"store": store.url, "name": model_name, "version": version, "alias": alias,
            "uri": str(uri)}  # fmt: skip


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
    with progress_bar() as progress:
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
        print_json([result.to_dict() for result in results])
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
