"""Drift monitoring: logged predictions against the training profile in the model card
(book chapter 3: watch the inputs and the output to know when to retrain)."""

from __future__ import annotations

from datetime import datetime, timedelta

from scalepipe.config import Settings
from scalepipe.monitor.drift import (
    SHARE,
    STATISTICS,
    THRESHOLDS,
    ColumnDrift,
    DriftReport,
    MonitorError,
    Statistic,
    measure,
)
from scalepipe.monitor.times import duration, moment
from scalepipe.store import ModelStore, ModelURI

__all__ = [
    "SHARE",
    "STATISTICS",
    "THRESHOLDS",
    "ColumnDrift",
    "DriftReport",
    "MonitorError",
    "Statistic",
    "drift",
    "duration",
    "measure",
    "moment",
]


def drift(
    model: str,
    log: str,
    *,
    since: datetime | None = None,
    window: timedelta | None = None,
    statistic: Statistic = "psi",
    threshold: float | None = None,
    share: float = SHARE,
    store: str | ModelStore | None = None,
    settings: Settings | None = None,
) -> DriftReport:
    """The drift of `model`'s logged predictions in `log` against its training profile
    (the card's only: the model itself is not loaded)."""
    from scalepipe.monitor.logs import read_log  # pyarrow: not in the model server's image

    settings = settings or Settings.load()
    ref = ModelURI.parse(model)
    models = (
        store if isinstance(store, ModelStore) else ModelStore(store or ref.store or settings.store)
    )
    name, version = models.resolve(ref)
    card = models.card(name, version)
    if not card.profile or not card.profile.get("features"):
        raise MonitorError(
            f"{name}:{version} has no training profile to compare with: train and publish it "
            "again with this version of scalepipe"
        )
    logged = read_log(log, name, list(card.signature.names), since=since, window=window,
                      settings=settings)  # fmt: skip
    shown = {
        "log": log,
        "start": logged.start.isoformat() if logged.start else None,
        "end": logged.end.isoformat() if logged.end else None,
        "versions": ",".join(str(v) for v in logged.versions) or None,
        "errors": str(logged.errors),
    }
    return measure(card.profile, logged.columns, model=name, version=version,
                   statistic=statistic, threshold=threshold, share=share,
                   window=shown)  # fmt: skip
