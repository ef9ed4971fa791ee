"""`scalepipe workflow`: run a workflow file now, on a schedule, from cron or Airflow."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.live import Live
from rich.table import Table

from scalepipe.cli.common import JsonOption, WarehouseOption, console, out, print_json

workflow_app = typer.Typer(
    help="Scheduled workflows: load, train, evaluate, promote, score, export.",
    no_args_is_help=True,
)
FileArgument = Annotated[Path, typer.Argument(help="The workflow file (.toml or .yaml).")]
_STYLE = {"succeeded": "green", "failed": "bold red", "skipped": "yellow", "not due": "dim",
          "held": "cyan", "running": "bold", "waiting": "dim"}  # fmt: skip


@workflow_app.command("run")
def run_command(
    file: FileArgument,
    date: Annotated[
        str | None,
        typer.Option(help="The logical date, YYYY-MM-DD [default: today in its time zone]."),
    ] = None,
    json_output: JsonOption = False,
) -> None:
    """Run the workflow once now, for one logical date, showing each step as it goes.

    Example: scalepipe workflow run examples/ch5_workflow.toml --date 2026-11-30
    """
    from scalepipe.workflow import load_workflow, run_workflow

    workflow = load_workflow(file)
    logical_date = _date(date)
    if json_output:
        result = run_workflow(workflow, logical_date)
    else:
        with Live(console=console, refresh_per_second=8) as live:
            result = run_workflow(
                workflow, logical_date, on_event=lambda run, step: live.update(_table(run))
            )
            live.update(_table(result))
    if json_output:
        print_json(_as_dict(result))
    if not result.ok:
        failed = [name for name, step in result.steps.items() if step.status == "failed"]
        console.print(f"[bold red]the run failed[/] at {', '.join(failed)}; later steps skipped")
        raise typer.Exit(1)


@workflow_app.command("schedule")
def schedule_command(
    file: FileArgument,
    catchup: Annotated[
        bool | None,
        typer.Option(
            "--catchup/--no-catchup",
            help="After downtime, make up the missed runs in order, or drop them "
            "[default: the file's catchup].",
        ),
    ] = None,
) -> None:
    """Run the workflow on its schedule until stopped (Ctrl-C or SIGTERM end it between
    runs); one run at a time; after downtime, missed runs are made up or dropped.

    Example: scalepipe workflow schedule examples/ch5_workflow.toml --no-catchup
    """
    import signal

    from scalepipe.config import Settings
    from scalepipe.io.warehouse import open_warehouse
    from scalepipe.workflow import history, load_workflow, run_workflow
    from scalepipe.workflow.scheduler import Firing, due_times, schedule

    workflow = load_workflow(file)
    since = history.last_scheduled(open_warehouse(Settings.load().warehouse), workflow.name)
    stopping: list[int] = []

    def stop(signum: int, frame: Any) -> None:
        console.print("stopping after the run in progress")
        stopping.append(signum)

    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, stop)

    def run(firing: Firing) -> None:
        dropped = f" ({firing.missed} missed run(s) dropped)" if firing.missed else ""
        console.print(f"{firing.started:%Y-%m-%d %H:%M:%S} run for {firing.logical_date}, "
                      f"due {firing.due:%Y-%m-%d %H:%M %Z}{dropped}")  # fmt: skip
        result = run_workflow(workflow, firing.logical_date, scheduled=firing.due)
        console.print(
            "  "
            + ", ".join(f"{name} {_status(step.status)}" for name, step in result.steps.items())
        )

    upcoming = next(due_times(workflow, since or dt.datetime.now(dt.UTC)))
    console.print(f"scheduling {workflow.name} ({workflow.schedule}, {workflow.timezone}); "
                  f"next run due {upcoming:%Y-%m-%d %H:%M %Z}; Ctrl-C stops")  # fmt: skip
    schedule(workflow, run, since=since, catchup=catchup, stop=lambda: bool(stopping))


@workflow_app.command("history")
def history_command(
    file: Annotated[Path | None, typer.Argument(help="Only this workflow's runs.")] = None,
    runs: Annotated[int, typer.Option(help="How many of the latest runs.", min=1)] = 5,
    warehouse: WarehouseOption = None,
    json_output: JsonOption = False,
) -> None:
    """The latest runs, step by step, from the warehouse's run history.

    Example: scalepipe workflow history examples/ch5_workflow.toml --runs 3
    """
    from scalepipe.config import Settings
    from scalepipe.io.warehouse import open_warehouse
    from scalepipe.workflow import history, load_workflow

    name = load_workflow(file).name if file else None
    frame = history.read(open_warehouse(warehouse or Settings.load().warehouse), name, runs=runs)
    if json_output:
        print_json(frame.astype(object).where(frame.notna(), None).to_dict("records"))
        return
    if frame.empty:
        out.print("no runs recorded yet")
        return
    table = Table("run", "date", "step", "status", "tries", "seconds", "rows", "version", "detail")
    for row in frame.itertuples():
        table.add_row(
            str(row.run_id), str(row.logical_date), str(row.step), _status(str(row.status)),
            str(row.attempts), _number(row.seconds, "{:.1f}"), _number(row.rows, "{:,.0f}"),
            _number(row.model_version, "{:.0f}"), str(row.error or row.detail or ""),
        )  # fmt: skip
    out.print(table)


@workflow_app.command("cron")
def cron_command(
    file: FileArgument,
    log: Annotated[Path, typer.Option(help="Where cron appends the runs' output.")] = Path(
        "workflow.log"
    ),
) -> None:
    """Print the crontab lines that run the workflow on its schedule (never two at once).

    Example: scalepipe workflow cron examples/ch5_workflow.toml | crontab -
    """
    from scalepipe.workflow.cron import crontab_lines

    out.print(crontab_lines(file, log), highlight=False, soft_wrap=True)


@workflow_app.command("airflow")
def airflow_command(
    file: FileArgument,
    destination: Annotated[Path, typer.Option("--out", help="The Airflow DAGs folder.")] = Path(
        "dags"
    ),
    start: Annotated[
        str | None,
        typer.Option(
            help="The DAG's start date, YYYY-MM-DD (default yesterday): Airflow runs no "
            "task for an earlier date, backfills included."
        ),
    ] = None,
) -> None:
    """Write an Apache Airflow 3 DAG for the workflow: one task per step, the same
    schedule, retries, timeouts and dependencies.

    Example: scalepipe workflow airflow examples/ch5_workflow.toml --out dags/
    """
    from scalepipe.workflow import load_workflow
    from scalepipe.workflow.dag import write_dag

    workflow = load_workflow(file)
    path = write_dag(workflow, destination, start=_date(start))
    out.print(
        f"wrote {path}: DAG {workflow.name!r}, {len(workflow.steps)} tasks; the Airflow "
        "workers need scalepipe: pip install 'scalepipe[workflow]'",
        highlight=False,
        markup=False,
    )


def _date(text: str | None) -> dt.date | None:
    if text is None:
        return None
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise typer.BadParameter(f"{text!r} is not a date like 2026-11-30") from None


def _table(run: Any) -> Table:
    table = Table(
        title=f"{run.workflow} for {run.logical_date} ({run.run_id})", title_justify="left"
    )
    for column in ("step", "kind", "status", "tries", "detail"):
        table.add_column(column)
    for name, step in run.steps.items():
        detail = step.error or (step.outcome.detail if step.outcome else step.note)
        table.add_row(name, step.kind, _status(step.status), str(step.attempts or ""), detail)
    return table


def _status(status: str) -> str:
    return f"[{_STYLE.get(status, '')}]{status}[/]"


def _number(value: Any, form: str) -> str:
    try:
        return "" if value is None or value != value else form.format(value)
    except (TypeError, ValueError):
        return ""


def _as_dict(run: Any) -> dict[str, Any]:
    return {
        "run_id": run.run_id,
        "workflow": run.workflow,
        "logical_date": run.logical_date.isoformat(),
        "ok": run.ok,
        "steps": {
            name: {
                "status": step.status,
                "attempts": step.attempts,
                "error": step.error,
                "rows": step.outcome.rows if step.outcome else None,
                "model_version": step.outcome.model_version if step.outcome else None,
                "metrics": step.outcome.metrics if step.outcome else {},
                "detail": step.outcome.detail if step.outcome else step.note,
            }
            for name, step in run.steps.items()
        },
    }
