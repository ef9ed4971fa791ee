"""`scalepipe monitor`: watch a model in production (drift against its training data)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from scalepipe.cli.common import JsonOption, ModelArgument, StoreOption, out, print_json

if TYPE_CHECKING:
    from scalepipe.monitor import DriftReport

monitor_app = typer.Typer(
    help="Watch a model in production: drift of its logged predictions (docs/monitoring.md).",
    no_args_is_help=True,
)


@monitor_app.command("drift")
def monitor_drift(
    model: ModelArgument,
    log: Annotated[
        str,
        typer.Option(
            help="The prediction log (--log-predictions): a .jsonl file, a .parquet folder, "
            "table:NAME, locally or s3://, gs://."
        ),
    ],
    since: Annotated[
        str | None,
        typer.Option(
            help="Only records from this time on: ISO 8601 (UTC by default) or '24h' ago."
        ),
    ] = None,
    window: Annotated[
        str | None,
        typer.Option(help="Only the last span of the records, ending at the newest: 1h, 30m, 7d."),
    ] = None,
    stat: Annotated[
        str,
        typer.Option(
            help="The statistic that decides a column's drift: psi, ks, js or wasserstein."
        ),
    ] = "psi",
    threshold: Annotated[
        float | None,
        typer.Option(
            help="A column drifts at this value \\[default: psi 0.2, ks 0.1, js 0.1, "
            "wasserstein 0.1 of the training standard deviation]."
        ),
    ] = None,
    share: Annotated[
        float, typer.Option(help="The verdict is drift from this share of drifted features on.")
    ] = 0.5,
    html: Annotated[
        Path | None, typer.Option(help="Write the report here: one static HTML file.")
    ] = None,
    png: Annotated[Path | None, typer.Option(help="Write a PNG summary here.")] = None,
    store: StoreOption = None,
    json_output: JsonOption = False,
) -> None:
    """Compare the logged inputs and outputs of MODEL with its training data: PSI,
    Kolmogorov-Smirnov, Jensen-Shannon and Wasserstein per column, and a verdict.

    Exit code 0: no drift; 1: drift (for CI and workflows); 2: a mistake (no log...).

    Example: scalepipe monitor drift games@champion --log predictions.jsonl --window 24h
    --html drift.html
    """
    from scalepipe.monitor import drift, duration, moment
    from scalepipe.monitor.report import write_html, write_png

    report = drift(
        model,
        log,
        since=moment(since) if since else None,
        window=duration(window) if window else None,
        statistic=stat,  # type: ignore[arg-type]
        threshold=threshold,
        share=share,
        store=store,
    )
    if html is not None:
        write_html(report, html)
    if png is not None:
        write_png(report, png)
    if json_output:
        print_json(report.to_dict())
    else:
        _print(report)
        for written in (html, png):
            if written is not None:
                out.print(f"wrote {written}", highlight=False, markup=False)
    if report.drift:
        raise typer.Exit(1)


def _print(report: DriftReport) -> None:
    from rich.table import Table

    title = f"{report.model}:{report.version}: {report.rows:,} logged predictions"
    table = Table("column", "kind", "rows", "PSI", "KS", "JS", "Wasserstein/std", "drift",
                  title=title)  # fmt: skip
    for column in [*report.features, *([report.output] if report.output else [])]:
        table.add_row(
            column.name, column.kind, f"{column.rows:,}", f"{column.psi:.3f}", f"{column.ks:.3f}",
            f"{column.js:.3f}", f"{column.wasserstein_normed:.3f}",
            "[red]yes[/]" if column.drifted else "no",
        )  # fmt: skip
    out.print(table)
    colour = "red" if report.drift else "green"
    rule = f"a column drifts at {report.statistic} >= {report.threshold:g}"
    out.print(f"[{colour}]{report.verdict}[/] ({rule})")
