"""The book's chapter 8 consumer, on a Redis stream: one message at a time, a one-row
DataFrame, predict_proba, one result written and the message acknowledged.

    python benchmarks/book_stream_consumer.py MODEL.pkl SOURCE_STREAM RESULT_STREAM COUNT

Prints the seconds from its first message to its COUNT-th result."""

from __future__ import annotations

import json
import pickle
import sys
import time
from typing import Any

import pandas as pd
import redis

FEATURES = [f"G{i}" for i in range(1, 11)]


def main() -> None:
    model = pickle.loads(open(sys.argv[1], "rb").read())  # noqa: PTH123, SIM115
    source, results, count = sys.argv[2], sys.argv[3], int(sys.argv[4])
    client: Any = redis.Redis(protocol=2)  # replies as lists, as in redis-py < 8
    client.xgroup_create(source, "book", id="0", mkstream=True)
    done = 0
    started = None
    while done < count:
        answer = client.xreadgroup("book", "book", {source: ">"}, count=1, block=1000)
        if not answer:
            continue
        started = started or time.perf_counter()
        for entry_id, fields in answer[0][1]:
            record = json.loads(fields[b"data"])
            frame = pd.DataFrame([record])[FEATURES]
            prediction = model.predict_proba(frame)[0][1]
            result = {"id": record["id"], "prediction": float(prediction)}
            client.xadd(results, {"data": json.dumps(result)})
            client.xack(source, "book", entry_id)
            done += 1
    print(time.perf_counter() - (started or time.perf_counter()))


if __name__ == "__main__":
    main()
