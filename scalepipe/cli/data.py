"""`scalepipe data`: the named datasets, previews, loading into the warehouse."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.table import Table

from scalepipe.cli.common import (
    DatasetArgument,
    JsonOption,
    SourceOption,
    WarehouseOption,
    block_reporter,
    out,
    print_json,
    progress_bar,
)
from scalepipe.config import Settings

data_app = typer.Typer(
    help="Named datasets: list, preview, load into the warehouse.", no_args_is_help=True
)


@data_app.command("list")
def data_list(json_output: JsonOption = False) -> None:
    """List the named datasets.

    Example: scalepipe data list --json
    """
    from scalepipe.data.catalog import DATASETS

    if json_output:
        print_json(
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
    name: DatasetArgument,
    source: SourceOption = None,
    table: Annotated[str | None, typer.Option(help="Table of a multi-table dataset (nhl).")] = None,
    rows: Annotated[int, typer.Option(help="Rows to preview.", min=1)] = 10,
    warehouse: WarehouseOption = None,
    json_output: JsonOption = False,
) -> None:
    """Preview a dataset: its first rows, size and column types.

    Example: scalepipe data show games --source ../shared/data/games-expand.csv
    """
    from scalepipe.data.catalog import spec
    from scalepipe.io.datasets import load

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
        print_json({"dataset": name, "tables": shown})


@data_app.command("load")
def data_load(
    name: DatasetArgument,
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
    from scalepipe.io.datasets import write_dataset
    from scalepipe.io.warehouse import open_warehouse

    store = open_warehouse(to or Settings.load().warehouse)
    with progress_bar() as progress:
        written = write_dataset(
            name,
            store,
            rows=rows,
            source=source,
            seed=seed,
            on_block=block_reporter(progress),
        )
    if json_output:
        print_json({"dataset": name, "warehouse": repr(store), "tables": written})
    else:
        for table, count in written.items():
            out.print(f"{name}: wrote {count:,} rows to table {table} in {store!r}")
