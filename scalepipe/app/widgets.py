"""Which input each feature gets on the model app's page, from its signature type and
the training rows' profile in the card (train/profile.py): a switch for a yes/no
feature, a slider for a whole number of small range, a number box with the training
range otherwise. Defaults are the training median; what-if sweeps cover the training
range. Plain data here: the page (app/page.py) turns it into Dash components."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from scalepipe.signature import Signature

Kind = Literal["switch", "slider", "number"]
SMALL_RANGE = 20  # a whole-number feature spanning at most this many values gets a slider
SWEEP_POINTS = 41


@dataclass(frozen=True)
class Widget:
    name: str
    kind: Kind
    default: float
    low: float | None = None  # the training range, when recorded
    high: float | None = None

    def sweep(self) -> list[float]:
        """The values a what-if chart tries: every value of a switch or slider, else
        evenly over the training range (the default alone without one)."""
        if self.kind == "switch":
            return [0.0, 1.0]
        if self.low is None or self.high is None:
            return [self.default]
        if self.kind == "slider":
            return [float(v) for v in range(int(self.low), int(self.high) + 1)]
        step = (self.high - self.low) / (SWEEP_POINTS - 1)
        return [self.low + step * index for index in range(SWEEP_POINTS)]

    def value(self, shown: Any) -> float:
        """A widget's value on the page as the feature's number."""
        if self.kind == "switch":
            return 1.0 if shown else 0.0
        if shown is None or shown == "":
            return self.default
        return float(shown)

    def shown(self, value: Any) -> Any:
        """A feature's number as the widget shows it (an example row loaded)."""
        if self.kind == "switch":
            return bool(value)
        if value is None:
            return self.default
        return int(value) if self.kind == "slider" else value


def widgets(signature: Signature, profile: Mapping[str, Any] | None) -> list[Widget]:
    """One widget per feature, in signature order."""
    described = (profile or {}).get("features", {})
    return [_widget(f.name, f.type, described.get(f.name)) for f in signature.features]


def _widget(name: str, kind: str, profile: Mapping[str, Any] | None) -> Widget:
    if not profile or "min" not in profile:
        if kind == "boolean":
            return Widget(name, "switch", 0.0)
        return Widget(name, "number", 0.0)
    low, high = float(profile["min"]), float(profile["max"])
    median = float(profile.get("quantiles", {}).get("0.5", low))
    whole = kind in ("integer", "boolean") or bool(profile.get("integer"))
    if kind == "boolean" or (whole and low == 0.0 and high <= 1.0):
        return Widget(name, "switch", round(median), 0.0, 1.0)
    if whole and high - low <= SMALL_RANGE:
        return Widget(name, "slider", float(round(median)), low, high)
    return Widget(name, "number", median, low, high)
