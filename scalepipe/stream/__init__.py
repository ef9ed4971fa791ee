"""Stream jobs (book chapter 8): score messages from a broker as they come, at least once.

from scalepipe.stream import score, produce
produce("dataset:games?rows=100000", "redis://127.0.0.1:6379/0?stream=games")
score("games", "redis://127.0.0.1:6379/0?stream=games",
      "redis://127.0.0.1:6379/0?stream=predictions", limits=Limits(idle=5))
"""

from scalepipe.stream.brokers import open_broker
from scalepipe.stream.job import Limits, StreamStats, score
from scalepipe.stream.produce import produce
from scalepipe.stream.urls import parse

__all__ = ["Limits", "StreamStats", "open_broker", "parse", "produce", "score"]
