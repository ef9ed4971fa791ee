"""`scalepipe features`: the book's deep feature synthesis, compiled to SQL."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer

from scalepipe.cli.common import (
    DatasetArgument,
    JsonOption,
    SourceOption,
    SparkMasterOption,
    console,
    out,
    print_json,
)
from scalepipe.errors import DatasetError

features_app = typer.Typer(
    help="Automated feature engineering: deep feature synthesis as SQL (docs/features.md).",
    no_args_is_help=True,
)


@features_app.command("build")
def features_build(
    name: DatasetArgument,
    engine: Annotated[str, typer.Option(help="duckdb (in process) or spark.")] = "duckdb",
    out_path: Annotated[
        Path | None,
        typer.Option("--out", help="Write the feature rows to this .parquet or .csv file."),
    ] = None,
    show_sql: Annotated[bool, typer.Option(help="Print the generated SQL.")] = False,
    rows: Annotated[
        int | None, typer.Option(help="Rows to generate (games for nhl).", min=1)
    ] = None,
    source: SourceOption = None,
    seed: Annotated[int, typer.Option(help="Generator seed.")] = 0,
    spark_master: SparkMasterOption = None,
    json_output: JsonOption = False,
) -> None:
    """Compute a dataset's features: one row per parent (an NHL game), named as
    featuretools names them.

    Example: scalepipe features build nhl --out nhl-features.parquet --show-sql
    """
    from scalepipe.features import dfs, spec_for
    from scalepipe.io import load_tables

    if engine not in ("duckdb", "spark"):
        raise DatasetError(f"--engine must be duckdb or spark, not {engine!r}")
    if out_path is not None and out_path.suffix not in (".parquet", ".csv"):
        raise DatasetError(f"--out must name a .parquet or .csv file, not {str(out_path)!r}")
    spec = spec_for(name)
    started = time.perf_counter()
    with console.status(f"building the {name} features on {engine}"):
        tables = load_tables(name, source=source, rows=rows, seed=seed)
        spark = None
        if engine == "spark":
            from scalepipe.spark import spark_session

            spark = spark_session(spark_master)
        features = dfs(spec, tables, engine=engine, spark=spark)  # type: ignore[arg-type]
        if out_path is not None:
            _write(features.table, out_path)
    seconds = time.perf_counter() - started
    if show_sql and not json_output:
        out.print(features.compiled.sql, highlight=False, soft_wrap=True)
    summary = {
        "dataset": name,
        "engine": engine,
        "rows": features.table.num_rows,
        "features": len(features.names),
        "seconds": round(seconds, 3),
        "out": str(out_path) if out_path else None,
        "vocabulary": features.vocabulary,
    }
    if json_output:
        print_json({**summary, "sql": features.compiled.sql} if show_sql else summary)
        return
    out.print(
        f"{name}: {len(features.names)} features for {features.table.num_rows:,} "
        f"{spec.parent} on {engine} in {seconds:.1f} s"
        + (f"; wrote {out_path}" if out_path else ""),
        highlight=False,
    )


def _write(table: object, path: Path) -> None:
    """Into a file beside the target, then renamed: a failed run leaves no half file."""
    import pyarrow.csv as pcsv
    import pyarrow.parquet as pq

    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.partial")
    try:
        if path.suffix == ".parquet":
            pq.write_table(table, partial)
        else:
            pcsv.write_csv(table, partial)
        partial.replace(path)
    finally:
        partial.unlink(missing_ok=True)
