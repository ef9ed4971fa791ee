"""`scalepipe stream`: score messages from a broker as they come; replay rows as messages."""

from __future__ import annotations

import signal
import threading
from typing import Annotated, Any

import typer

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

stream_app = typer.Typer(
    help="Stream scoring (book chapter 8): messages in, predictions out (docs/streams.md).",
    no_args_is_help=True,
)
URL_FORMS = (
    "redis://HOST:6379/DB?stream=NAME, nats://HOST:4222?stream=S&subject=X, "
    "kafka://HOST:9092?topic=T, pubsub://PROJECT/topics/T or pubsub://PROJECT/subscriptions/S"
)


@stream_app.command("score")
def stream_score(
    model: ModelArgument,
    source: Annotated[str, typer.Option(help=f"The stream to read: {URL_FORMS}.")],
    sink: Annotated[
        str,
        typer.Option(
            help="Where results go: a stream (the same URL forms), or "
            "redis://HOST:6379/DB?prefix=P (a hash per id), datastore://PROJECT/KIND, "
            "table:NAME (the warehouse), or a folder (Parquet files)."
        ),
    ],
    group: Annotated[
        str,
        typer.Option(
            help="Consumer group: a new one starts at --from; an existing one "
            "goes on where it stopped."
        ),
    ] = "scalepipe",
    consumer: Annotated[
        str | None,
        typer.Option(help="This consumer's name in the group (Redis) \\[default: host name]."),
    ] = None,
    batch: Annotated[int, typer.Option(help="Messages per micro-batch, at most.")] = 1_000,
    max_wait: Annotated[
        float, typer.Option(help="Milliseconds to wait for a message when none is there.")
    ] = 50.0,
    dead_letter: Annotated[
        str | None,
        typer.Option(
            help="Where messages the model cannot score go, with the error "
            "(the forms of --sink) \\[default: the source's stream + '-dead-letter', on "
            "the same broker]."
        ),
    ] = None,
    attempts: Annotated[
        int,
        typer.Option(help="Deliveries of a message that cannot be scored before its dead letter."),
    ] = 3,
    start: Annotated[
        str,
        typer.Option(
            "--from",
            help="Where a new group starts: earliest (the oldest message "
            "kept) or latest (new messages only).",
        ),
    ] = "earliest",
    refresh: Annotated[
        float | None,
        typer.Option(
            help="Check every N seconds for a new version behind the model's "
            "alias and switch to it without a restart."
        ),
    ] = None,
    until_idle: Annotated[
        float | None,
        typer.Option(
            help="Stop after N seconds without a message \\[default: run until SIGTERM or Ctrl-C]."
        ),
    ] = None,
    report_every: Annotated[
        float, typer.Option(help="Seconds between progress lines (throughput and lag).")
    ] = 10.0,
    metrics_port: Annotated[
        int | None,
        typer.Option(help="Serve Prometheus metrics on 127.0.0.1:PORT/metrics."),
    ] = None,
    engine: Annotated[
        str,
        typer.Option(
            help="native (scalepipe's consumer), spark (Spark Structured Streaming: Kafka "
            "in, checkpointed) or beam (the book's Dataflow pipeline: Pub/Sub in; a Pub/Sub "
            "topic or datastore://PROJECT/KIND out)."
        ),
    ] = "native",
    beam_runner: Annotated[
        str | None,
        typer.Option(
            help=r"Beam runner for --engine beam (DataflowRunner...) \[default: Beam's local "
            "streaming runner]."
        ),
    ] = None,
    beam_option: Annotated[
        list[str] | None,
        typer.Option(help="A Beam pipeline option, passed through (repeat)."),
    ] = None,
    spark_master: SparkMasterOption = None,
    checkpoint: Annotated[
        str | None,
        typer.Option(
            help="Spark's checkpoint folder: a restarted job goes on from it \\[default: "
            "in the cache folder, per source and group]."
        ),
    ] = None,
    log_predictions: LogPredictionsOption = None,
    store: StoreOption = None,
    allow_pickle: AllowPickleOption = False,
    json_output: JsonOption = False,
) -> None:
    """Score every message of a stream and write the results to another, at least once.

    SIGTERM (or Ctrl-C) finishes the micro-batch in flight, acknowledges it and exits 0.

    Example: scalepipe stream score games --source 'redis://127.0.0.1:6379/0?stream=games'
    --sink 'redis://127.0.0.1:6379/0?stream=predictions'
    """
    from scalepipe.stream import Limits, StreamStats, score

    stop = threading.Event()
    for number in (signal.SIGTERM, signal.SIGINT):
        signal.signal(number, lambda *_: stop.set())

    def report(stats: StreamStats) -> None:
        lag = "-" if stats.lag is None else f"{stats.lag:,}"
        console.print(
            f"scored {stats.scored:,} ({stats.messages_per_second:,.0f} msg/s), dead letters "
            f"{stats.dead_lettered:,}, model errors {stats.model_errors:,}, lag {lag}",
            highlight=False,
            markup=False,
        )

    stats = score(
        model,
        source,
        sink,
        group=group,
        consumer=consumer,
        batch=batch,
        max_wait=max_wait / 1000,
        dead_letter_url=dead_letter,
        attempts=attempts,
        start=start,  # type: ignore[arg-type]
        refresh=refresh,
        store=store,
        allow_pickle=allow_pickle,
        limits=Limits(idle=until_idle),
        stop=stop,
        on_report=report,
        report_every=report_every,
        metrics_port=metrics_port,
        engine=engine,  # type: ignore[arg-type]
        beam_runner=beam_runner,
        beam_options=beam_option or (),
        spark_master=spark_master,
        checkpoint=checkpoint,
        log_predictions=log_predictions,
    )
    if json_output:
        print_json(stats.to_dict())
        return
    out.print(
        f"scored {stats.scored:,} messages with {stats.model}:{stats.version} in "
        f"{stats.seconds:.1f} s to {_shown(stats.sink)}; {stats.dead_lettered:,} to "
        f"{_shown(stats.dead_letter)}",
        highlight=False,
        markup=False,
    )
    if stats.logged is not None:
        out.print(f"logged {stats.logged:,} predictions to {log_predictions}", highlight=False)


@stream_app.command("produce")
def stream_produce(
    source: Annotated[
        str,
        typer.Argument(
            help="Rows to send: 'dataset:games?rows=N', a .csv/.parquet file or "
            "folder, 'sql:SELECT ...', 'table:NAME'."
        ),
    ],
    to: Annotated[str, typer.Option(help=f"The stream to write: {URL_FORMS}.")],
    rate: Annotated[
        float | None,
        typer.Option(
            help="Messages per second, at most \\[default: as fast as the broker takes them]."
        ),
    ] = None,
    limit: Annotated[int | None, typer.Option(help="Send at most N messages.")] = None,
    json_output: JsonOption = False,
) -> None:
    """Send rows as JSON messages with an id (the source's 'id' column, else the row's
    number): the book's producer.

    Example: scalepipe stream produce 'dataset:games?rows=100000'
    --to 'redis://127.0.0.1:6379/0?stream=games' --rate 10000
    """
    from scalepipe.cli.common import progress_bar
    from scalepipe.stream import produce

    with progress_bar() as progress:
        task = progress.add_task("sending", total=limit)
        produced = produce(
            source,
            to,
            rate=rate,
            limit=limit,
            on_progress=lambda sent: progress.update(task, completed=sent),
        )
    if json_output:
        print_json(
            {
                "messages": produced.messages,
                "seconds": produced.seconds,
                "messages_per_second": round(produced.messages_per_second),
                "to": produced.target,
            }
        )
        return
    out.print(
        f"sent {produced.messages:,} messages to {_shown(produced.target)} in "
        f"{produced.seconds:.1f} s ({produced.messages_per_second:,.0f} msg/s)",
        highlight=False,
        markup=False,
    )


def _shown(described: dict[str, Any]) -> str:
    if "table" in described:
        return f"table:{described['table']}"
    name = (
        described.get("stream") or described.get("topic") or described.get("name")
        or described.get("prefix") or described["kind"]
    )  # fmt: skip
    return f"{described.get('url')} ({name})"
