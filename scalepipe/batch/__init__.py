"""Batch scoring: one job definition run on the local engine, Spark or Beam
(docs/batch.md)."""

from scalepipe.batch.job import BatchResult, new_run_id, score
from scalepipe.batch.scoring import Scored, ScorePlan, score_batch

__all__ = ["BatchResult", "ScorePlan", "Scored", "new_run_id", "score", "score_batch"]
