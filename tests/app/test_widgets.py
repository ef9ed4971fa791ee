"""The model app's widget for each feature, from its type and the training profile."""

from __future__ import annotations

import pytest

from scalepipe.app.widgets import Widget, widgets
from scalepipe.signature import Feature, Signature


def _signature(*features: tuple[str, str]) -> Signature:
    return Signature(tuple(Feature(name, kind) for name, kind in features), "value", "y")  # type: ignore[arg-type]


def _profile(**features: dict[str, object]) -> dict[str, object]:
    return {"rows": 100, "features": features, "examples": []}


def test_each_feature_gets_the_widget_its_training_values_call_for() -> None:
    signature = _signature(("flag", "integer"), ("rooms", "integer"), ("tax", "integer"),
                           ("crime", "float"), ("yes", "boolean"))  # fmt: skip
    profile = _profile(
        flag={"min": 0, "max": 1, "integer": True, "quantiles": {"0.5": 1.0}},
        rooms={"min": 3, "max": 9, "integer": True, "quantiles": {"0.5": 6.0}},
        tax={"min": 187, "max": 711, "integer": True, "quantiles": {"0.5": 330.0}},
        crime={"min": 0.006, "max": 89.0, "integer": False, "quantiles": {"0.5": 0.25}},
        yes={"min": 0, "max": 1, "integer": True, "quantiles": {"0.5": 0.0}},
    )
    flag, rooms, tax, crime, yes = widgets(signature, profile)
    assert (flag.kind, flag.default) == ("switch", 1.0)
    assert (rooms.kind, rooms.default, rooms.low, rooms.high) == ("slider", 6.0, 3.0, 9.0)
    assert rooms.sweep() == [3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0]
    assert (tax.kind, tax.default) == ("number", 330.0)  # 524 values: too many for a slider
    assert (crime.kind, crime.low, crime.high) == ("number", 0.006, 89.0)
    sweep = crime.sweep()
    assert sweep[0] == 0.006 and sweep[-1] == pytest.approx(89.0) and len(sweep) == 41
    assert (yes.kind, yes.default, yes.sweep()) == ("switch", 0.0, [0.0, 1.0])


def test_without_a_profile_every_input_starts_at_zero_with_no_range() -> None:
    found = widgets(_signature(("a", "float"), ("b", "boolean")), None)
    assert found == [Widget("a", "number", 0.0), Widget("b", "switch", 0.0)]
    assert found[0].sweep() == [0.0]


def test_page_values_become_numbers_and_back() -> None:
    switch, slider, number = Widget("s", "switch", 0.0), Widget("k", "slider", 4.0, 1, 9), Widget(
        "x", "number", 2.5, 0, 10)  # fmt: skip
    assert (switch.value([True]), switch.value([]), switch.shown(1), switch.shown(0)) == (
        1.0, 0.0, True, False)  # fmt: skip
    assert (slider.value(7), slider.shown(7.0)) == (7.0, 7)
    assert (number.value(None), number.value(""), number.value("3.5")) == (2.5, 2.5, 3.5)
