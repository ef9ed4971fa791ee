"""`scalepipe batch`: score a source in batch into a sink; look an entry up."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.progress import (
    BarColumn,
    Progress,
    ProgressColumn,
    Task,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.text import Text

from scalepipe.cli.common import (
    AllowPickleOption,
    JsonOption,
    LogPredictionsOption,
    ModelArgument,
    SparkMasterOption,
    StoreOption,
    console,
    out,
    print_json,
)

batch_app = typer.Typer(
    help="Batch scoring: a source of rows in, predictions out (docs/batch.md).",
    no_args_is_help=True,
)


@batch_app.command("score")
def batch_score(
    model: ModelArgument,
    input: Annotated[
        str,
        typer.Option(
            "--input",
            "-i",
            help="Rows to score: a .parquet/.csv file or folder (local, s3://, gs://), "
            "'sql:SELECT ...', 'table:NAME', 'dataset:games?rows=N', 'bigquery:SELECT ...'.",
        ),
    ],
    output: Annotated[
        str,
        typer.Option(
            "--output",
            "-o",
            help="Where predictions go: a Parquet folder (local, s3://, gs://), "
            "'table:NAME[?mode=append]', 'redis://HOST:6379/0?prefix=P' or "
            "'datastore://PROJECT/KIND' (these two need --key).",
        ),
    ],
    engine: Annotated[str, typer.Option(help="local (this machine), spark or beam.")] = "local",
    key: Annotated[
        list[str] | None,
        typer.Option(
            "--key",
            "-k",
            help="Key column to carry into the output (repeat for several) "
            "\\[default: every input column].",
        ),
    ] = None,
    run_id: Annotated[
        str | None,
        typer.Option(help="Names the run; rerunning it replaces its rows \\[default: new]."),
    ] = None,
    on_error: Annotated[
        str,
        typer.Option(
            help="Rows that cannot be scored: fail (stop, naming the row), skip (count "
            "them), or dead-letter:SINK (write them there with the reason)."
        ),
    ] = "fail",
    spark_master: SparkMasterOption = None,
    beam_runner: Annotated[
        str | None,
        typer.Option(
            help="Beam runner for --engine beam (DataflowRunner, FlinkRunner...) "
            "\\[default: the FnApiRunner, on this machine]."
        ),
    ] = None,
    beam_option: Annotated[
        list[str] | None,
        typer.Option(
            help="A Beam pipeline option, passed through (repeat): --beam-option=--project=P."
        ),
    ] = None,
    log_predictions: LogPredictionsOption = None,
    store: StoreOption = None,
    allow_pickle: AllowPickleOption = False,
    json_output: JsonOption = False,
) -> None:
    """Score every row of a source with a model; write the predictions into a sink.

    Example: scalepipe batch score games --input dataset:games?rows=1000000 --output predictions/
    """
    from scalepipe.batch import score

    with _progress() as progress:
        task = progress.add_task("scoring", total=None)

        def report(done: int, total: int | None) -> None:
            progress.update(task, completed=done, total=total)

        result = score(
            model,
            input,
            output,
            engine=engine,  # type: ignore[arg-type]
            keys=key,
            run_id=run_id,
            on_error=on_error,
            store=store,
            allow_pickle=allow_pickle,
            on_progress=report,
            spark_master=spark_master,
            beam_runner=beam_runner,
            beam_options=beam_option or (),
            log_predictions=log_predictions,
        )
    if json_output:
        print_json(result.to_dict())
        return
    out.print(
        f"scored {result.rows_in:,} rows with {result.model}:{result.version} on the "
        f"{result.engine} engine in {result.seconds:.1f} s ({result.rows_per_second:,.0f} rows/s)",
        highlight=False,
    )
    out.print(
        f"wrote {result.rows_out:,} rows to {_shown(result.sink)} as run {result.run_id}; "
        f"rejected {result.rejected:,}"
        + (f" (to {_shown(result.dead_letter)})" if result.dead_letter else ""),
        highlight=False,
    )
    if result.logged is not None:
        out.print(f"logged {result.logged:,} predictions to {log_predictions}", highlight=False)


@batch_app.command("lookup")
def batch_lookup(
    sink: Annotated[
        str,
        typer.Argument(
            help="A key-value sink: redis://HOST:6379/0?prefix=P or datastore://P/KIND."
        ),
    ],
    key: Annotated[str, typer.Argument(help="The entry's key (several key columns: a:b).")],
    json_output: JsonOption = False,
) -> None:
    """Read one entry back from a key-value sink, as an application would.

    Example: scalepipe batch lookup 'redis://127.0.0.1:6379/0?prefix=games:' 42
    """
    from scalepipe.batch.lookup import lookup

    entry = lookup(sink, key)
    if json_output:
        print_json(entry)
        return
    for name, value in entry.items():
        out.print(f"{name}: {value}", highlight=False)


def _progress() -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TaskProgressColumn(),
        TextColumn("{task.completed:,.0f} rows"),
        _RateColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=False,
    )


class _RateColumn(ProgressColumn):
    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        return Text(f"{speed:,.0f} rows/s" if speed else "", style="progress.data.speed")


def _shown(described: dict[str, Any] | None) -> str:
    if not described:
        return "-"
    return str(described.get("url") or described.get("table") or described.get("kind"))
