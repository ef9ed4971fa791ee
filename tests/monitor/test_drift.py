"""Drift statistics against a training profile: equal to scipy's where scipy has them,
shifts of known size on each kind of feature detected, and no alarm on 100 resamples of
the training distribution."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from scipy.spatial.distance import jensenshannon

from scalepipe.monitor import MonitorError, measure
from scalepipe.monitor.drift import column_drift, js, ks, psi, wasserstein
from scalepipe.train.profile import feature_profile

TRAINING_ROWS = 50_000


def training(rng: np.random.Generator, rows: int = TRAINING_ROWS) -> pd.DataFrame:
    """A numeric, a count, a binary and a categorical feature."""
    return pd.DataFrame({
        "income": rng.normal(50.0, 10.0, rows),
        "visits": rng.poisson(30.0, rows),
        "member": rng.binomial(1, 0.5, rows),
        "plan": rng.choice([1, 2, 3], size=rows, p=[0.6, 0.3, 0.1]),
    })  # fmt: skip


def profile_of(frame: pd.DataFrame) -> dict[str, Any]:
    return feature_profile(frame, list(frame.columns))


def current(frame: pd.DataFrame) -> dict[str, np.ndarray]:
    return {name: frame[name].to_numpy(dtype=np.float64) for name in frame.columns}


@pytest.mark.parametrize("seed", range(5))
def test_ks_and_wasserstein_equal_scipys(seed: int) -> None:
    rng = np.random.default_rng(seed)
    reference = rng.normal(0.0, 1.0, 201)
    now = rng.normal(0.3, 1.2, 5_000)
    assert ks(reference, now) == pytest.approx(stats.ks_2samp(reference, now).statistic, abs=1e-12)
    assert wasserstein(reference, now) == pytest.approx(
        stats.wasserstein_distance(reference, now), rel=1e-12
    )
    tied, tied_now = rng.integers(0, 5, 201).astype(float), rng.integers(0, 7, 3_000).astype(float)
    assert ks(tied, tied_now) == pytest.approx(stats.ks_2samp(tied, tied_now).statistic, abs=1e-12)
    assert wasserstein(tied, tied_now) == pytest.approx(
        stats.wasserstein_distance(tied, tied_now), rel=1e-12
    )


@pytest.mark.parametrize(
    ("n", "m"),
    [(201, 201), (201, 402), (201, 1_005), (201, 100), (5, 7), (7, 5), (1, 3), (201, 99_991)],
)
def test_wasserstein_equals_scipys_whatever_the_two_sizes(n: int, m: int) -> None:
    """Current values' shares that hold several reference steps, none, or begin exactly
    on one (m a multiple of n), with ties and without."""
    rng = np.random.default_rng(n * m)
    for reference, now in [
        (rng.normal(0.0, 1.0, n), rng.normal(0.2, 1.1, m)),
        (rng.integers(0, 4, n).astype(float), rng.integers(0, 6, m).astype(float)),
    ]:
        assert wasserstein(reference, now) == pytest.approx(
            stats.wasserstein_distance(reference, now), rel=1e-12
        )


def test_against_a_profile_ks_is_scipys_on_the_sketch_and_close_to_the_training_rows() -> None:
    rng = np.random.default_rng(7)
    frame = training(rng)
    profile = profile_of(frame)
    now = rng.normal(53.0, 10.0, 20_000)
    found = column_drift("income", profile["features"]["income"], now)
    sketch = np.asarray(profile["features"]["income"]["sketch"])
    assert found.ks == pytest.approx(stats.ks_2samp(sketch, now).statistic, abs=1e-12)
    assert found.ks == pytest.approx(
        stats.ks_2samp(frame["income"], now).statistic, abs=1 / 200 + 0.01
    )
    assert found.wasserstein == pytest.approx(stats.wasserstein_distance(sketch, now), rel=1e-12)
    assert found.wasserstein == pytest.approx(3.0, abs=0.5)


def test_psi_and_js_follow_their_formulas_on_known_shares() -> None:
    before, after = [0.6, 0.3, 0.1], [0.3, 0.3, 0.4]
    expected = sum((a - b) * np.log(a / b) for a, b in zip(after, before, strict=True))
    assert psi(before, after) == pytest.approx(expected, rel=1e-3)
    assert psi(before, before) == pytest.approx(0.0, abs=1e-12)
    assert js(before, after) == pytest.approx(jensenshannon(before, after, base=2), rel=1e-3)


@pytest.mark.parametrize(
    ("name", "shifted"),
    [
        ("income", lambda rng, n: rng.normal(60.0, 10.0, n)),  # the mean moves by one sd
        ("visits", lambda rng, n: rng.poisson(36.0, n)),  # one sd of a Poisson(30)
        ("member", lambda rng, n: rng.binomial(1, 0.8, n)),  # 50 % -> 80 %
        ("plan", lambda rng, n: rng.choice([1, 2, 3], size=n, p=[0.3, 0.3, 0.4])),
    ],
)
def test_a_shift_of_known_size_on_each_kind_of_feature_is_detected(name: str, shifted: Any) -> None:
    rng = np.random.default_rng(11)
    profile = profile_of(training(rng))
    now = training(rng, 2_000)
    now[name] = shifted(rng, 2_000)
    report = measure(profile, current(now), model="m", version=1)
    assert report.drifted == [name]
    assert report.share == 0.25 and not report.drift  # one feature of four is under the share
    column = next(column for column in report.features if column.name == name)
    assert column.psi >= 0.2 and column.ks > 0.1
    if name == "plan":  # known shares: the PSI of 60/30/10 -> 30/30/40, within sampling error
        assert column.kind == "categorical"
        exact = 0.3 * np.log(0.3 / 0.6) * -1 + 0.3 * np.log(0.4 / 0.1)
        assert column.psi == pytest.approx(exact, rel=0.15)
    strict = measure(profile, current(now), model="m", version=1, share=0.25)
    assert strict.drift and strict.verdict == "drift: 1 of 4 features drifted"


def test_100_resamples_without_a_shift_raise_no_alarm() -> None:
    rng = np.random.default_rng(5)
    profile = profile_of(training(rng))
    largest = {statistic: 0.0 for statistic in ("psi", "ks", "js")}
    for _ in range(100):
        report = measure(profile, current(training(rng, 1_000)), model="m", version=1)
        assert not report.drift and report.drifted == []
        for column in report.features:
            for statistic in largest:
                largest[statistic] = max(largest[statistic], getattr(column, statistic))
    # the thresholds of KS and JS hold too on these resamples of 1,000 rows (Wasserstein's
    # 0.1 of a standard deviation does not: its noise at 1,000 rows reaches 0.12)
    assert largest["psi"] < 0.2 and largest["ks"] < 0.1 and largest["js"] < 0.1


def test_the_output_drifting_alone_is_drift() -> None:
    rng = np.random.default_rng(2)
    frame = training(rng)
    scores = rng.beta(2, 5, TRAINING_ROWS)
    profile = feature_profile(frame, list(frame.columns), output=scores)
    now = current(training(rng, 2_000)) | {"output": rng.beta(5, 2, 2_000)}
    report = measure(profile, now, model="m", version=1)
    assert report.drifted == [] and report.output is not None and report.output.drifted
    assert report.drift and report.verdict == "drift: 0 of 4 features drifted, the output drifted"


def test_too_few_rows_or_no_known_feature_is_an_error_not_a_verdict() -> None:
    rng = np.random.default_rng(1)
    profile = profile_of(training(rng))
    with pytest.raises(MonitorError, match="at least 100"):
        measure(profile, current(training(rng, 50)), model="m", version=1)
    with pytest.raises(MonitorError, match="none of the model's features"):
        measure(profile, {"other": np.zeros(500)}, model="m", version=1)
    with pytest.raises(MonitorError, match="--stat"):
        measure(profile, current(training(rng, 500)), model="m", version=1, statistic="chi2")  # type: ignore[arg-type]
