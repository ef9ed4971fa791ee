"""What every command group shares: consoles, common options, progress bars, JSON."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

console = Console(stderr=True)
# Piped output (CI logs, files) gets room for the wide tables instead of 80 columns.
out = Console(width=None if sys.stdout.isatty() else 140)

JsonOption = Annotated[bool, typer.Option("--json", help="Print the figures as JSON on stdout.")]
DatasetArgument = Annotated[
    str, typer.Argument(help="Dataset name: games, housing, natality or nhl.")
]
ModelArgument = Annotated[
    str, typer.Argument(help="Model URI: NAME (alias champion), NAME@ALIAS or NAME:VERSION.")
]
ModelNameArgument = Annotated[str, typer.Argument(help="Model name.")]
SourceOption = Annotated[
    str | None,
    typer.Option(
        "--source",
        help="generated (default), a .csv/.parquet file or folder (local, s3://, gs://), "
        "an http(s) URL, 'sql:SELECT ...', 'table:NAME', 'warehouse' (the dataset's own "
        "tables), 'bigquery:SELECT ...', or 'bigquery' (natality) / 'kaggle' (nhl).",
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

LogPredictionsOption = Annotated[
    str | None,
    typer.Option(
        help="Also write a PredictionRecord per prediction here, for `scalepipe monitor "
        "drift`: a .jsonl file, a .parquet folder (local, s3://, gs://) or table:NAME."
    ),
]
AllowPickleOption = Annotated[
    bool, typer.Option(help="Allow loading a pickled model (runs code from the file).")
]

SparkMasterOption = Annotated[
    str | None,
    typer.Option(help="Spark master URL for --engine spark \\[default: local\\[2]]."),
]


def progress_bar() -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    )


def print_json(payload: Any) -> None:
    out.print_json(json.dumps(payload, default=str))


def block_reporter(progress: Progress) -> Callable[[str, int, int], None]:
    tasks: dict[str, Any] = {}

    def report(dataset: str, done: int, total: int) -> None:
        if dataset not in tasks:
            tasks[dataset] = progress.add_task(f"loading {dataset}", total=total)
        progress.update(tasks[dataset], completed=done)

    return report


def model_store(url: str | None) -> Any:
    from scalepipe.store import ModelStore

    return ModelStore(url)
