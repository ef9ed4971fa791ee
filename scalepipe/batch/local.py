"""The local engine: Arrow record batches streamed from a source through the scorer into
a sink, on every core, in bounded memory.

Reading (pyarrow's own threads), scoring (numpy and scikit-learn release the GIL) and
writing overlap: batches are scored on a small thread pool while the main thread writes
the ones already scored, in input order. At most `2 x workers` batches are in flight, so
memory does not grow with the input.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

import pyarrow as pa

from scalepipe.batch.scoring import Scored, ScorePlan, score_batch
from scalepipe.predict.scorers import Scorer
from scalepipe.types import Writer

Progress = Callable[[int], None]
# Told of every batch scored, on the scoring thread: the batch, its rows' offset in the
# input, what came out, and the seconds scoring took (--log-predictions).
OnScored = Callable[[pa.RecordBatch, int, Scored, float], None]


@dataclass
class Counts:
    rows_in: int = 0
    rows_out: int = 0
    rejected: int = 0
    logged: int = 0  # prediction records written by the workers (a distributed engine)


def run_local(
    batches: Iterator[pa.RecordBatch],
    scorer: Scorer,
    plan: ScorePlan,
    writer: Writer,
    dead_letter: Writer | None = None,
    *,
    workers: int = 2,
    on_progress: Progress | None = None,
    on_scored: OnScored | None = None,
) -> Counts:
    """Score and write every batch. A writer that takes concurrent writes (a Parquet
    folder: a part file per thread) is written from the scoring threads; any other from
    this thread, in input order."""
    concurrent = bool(getattr(writer, "concurrent", False))

    def work(batch: pa.RecordBatch, offset: int) -> Scored:
        started = time.perf_counter()
        scored = score_batch(batch, scorer, plan, offset)
        if on_scored is not None:
            on_scored(batch, offset, scored, time.perf_counter() - started)
        if concurrent:
            writer.write(scored.output)
        return scored

    counts = Counts()
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="score") as pool:
        for scored, rows in _ordered(pool, batches, work, 2 * workers):
            if not concurrent:
                writer.write(scored.output)
            if scored.rejected is not None and dead_letter is not None:
                dead_letter.write(scored.rejected)
            counts.rows_in += rows
            counts.rows_out += scored.output.num_rows
            counts.rejected += scored.rejected_rows
            if on_progress is not None:
                on_progress(rows)
    return counts


def _ordered(
    pool: ThreadPoolExecutor,
    batches: Iterator[pa.RecordBatch],
    work: Callable[[pa.RecordBatch, int], Scored],
    in_flight: int,
) -> Iterator[tuple[Scored, int]]:
    """Run `work(batch, offset)` on the pool, yielding results in input order, with at
    most `in_flight` batches submitted and not yet taken."""
    pending: deque[tuple[Future[Scored], int]] = deque()
    offset = 0
    try:
        for batch in batches:
            if batch.num_rows == 0:
                continue
            pending.append((pool.submit(work, batch, offset), batch.num_rows))
            offset += batch.num_rows
            if len(pending) >= in_flight:
                future, rows = pending.popleft()
                yield future.result(), rows
        while pending:
            future, rows = pending.popleft()
            yield future.result(), rows
    finally:
        for future, _ in pending:
            future.cancel()
