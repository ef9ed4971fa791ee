"""Dataset generation: scalepipe's generators beside reading the same rows from files.

Each case runs in a fresh process, which reports its wall time and peak memory (max
RSS). The issue's goal: 10 million games rows or 5 million NHL plays in seconds, in
bounded memory. The file readers are what a user would otherwise do with a download.

    python benchmarks/datasets.py [--games-rows 10000000] [--nhl-games 17000]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

CASE = textwrap.dedent(
    """
    import json, resource, time
    import pandas as pd
    from scalepipe.data import spec
    start = time.perf_counter()
    {body}
    print(json.dumps({{"seconds": time.perf_counter() - start, "rows": rows,
        "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}}))
    """
)
CASES = {
    "games: scalepipe generator, streamed blocks": (
        "rows = sum(len(b['games']) for b in spec('games').generate_blocks({games_rows}))"
    ),
    "games: scalepipe generator, one DataFrame": (
        "rows = len(spec('games').generate({games_rows})['games'])"
    ),
    "games: pandas.read_csv of the same rows": "rows = len(pd.read_csv({csv!r}))",
    "games: pandas.read_parquet of the same rows": "rows = len(pd.read_parquet({parquet!r}))",
    "nhl plays: scalepipe generator, streamed blocks": (
        "rows = sum(len(b['game_plays']) for b in spec('nhl').generate_blocks({nhl_games}))"
    ),
    "nhl plays: scalepipe generator, one DataFrame": (
        "rows = len(spec('nhl').generate({nhl_games})['game_plays'])"
    ),
}


def run_case(body: str) -> dict[str, float]:
    code = CASE.format(body=body)
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=900
    )
    measured: dict[str, float] = json.loads(result.stdout.strip().splitlines()[-1])
    return measured


def write_files(games_rows: int, folder: Path) -> tuple[Path, Path]:
    import pyarrow as pa
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    from scalepipe.data import spec

    csv, parquet = folder / "games.csv", folder / "games.parquet"
    writer_csv: pacsv.CSVWriter | None = None
    writer_parquet: pq.ParquetWriter | None = None
    for block in spec("games").generate_blocks(games_rows):
        table = pa.Table.from_pandas(block["games"], preserve_index=False)
        writer_csv = writer_csv or pacsv.CSVWriter(csv, table.schema)
        writer_parquet = writer_parquet or pq.ParquetWriter(parquet, table.schema)
        writer_csv.write_table(table)
        writer_parquet.write_table(table)
    assert writer_csv is not None and writer_parquet is not None
    writer_csv.close()
    writer_parquet.close()
    return csv, parquet


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--games-rows", type=int, default=10_000_000)
    parser.add_argument("--nhl-games", type=int, default=17_000, help="~295 plays each")
    options = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        csv, parquet = write_files(options.games_rows, Path(folder))
        values = {"games_rows": options.games_rows, "nhl_games": options.nhl_games}
        values |= {"csv": str(csv), "parquet": str(parquet)}
        results = {name: run_case(body.format(**values)) for name, body in CASES.items()}
    baseline = results["games: pandas.read_csv of the same rows"]["seconds"]
    print(
        f"{'case':50} {'rows':>11} {'seconds':>8} {'rows/s':>12} {'peak MB':>8} {'vs read_csv':>11}"
    )
    for name, result in results.items():
        rate = result["rows"] / result["seconds"]
        ratio = f"{baseline / result['seconds']:.2f}x" if name.startswith("games") else "-"
        print(
            f"{name:50} {int(result['rows']):>11,} {result['seconds']:>8.2f} {rate:>12,.0f} "
            f"{result['peak_mb']:>8.0f} {ratio:>11}"
        )


if __name__ == "__main__":
    main()
