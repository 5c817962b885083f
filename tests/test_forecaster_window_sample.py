"""The forecaster's windows past the spec's limits: a seeded sample, built without the
whole set (issue 27, kinds/forecaster/window_sample.py)."""

import numpy as np
import pytest

from sqlml.kinds.forecaster import inputs
from sqlml.kinds.forecaster import windows as fw
from sqlml.kinds.forecaster.window_sample import Sampler

pytestmark = pytest.mark.unit

LOOKBACK, HORIZON = 24, 6


def series(n=30):
    rng = np.random.default_rng(3)
    out = []
    for i in range(n):
        length = int(rng.integers(20, 90))  # some too short, some back-filled
        s = inputs.Series(series_id=f"s{i:02d}", start=100 + i, filled=0,
                          values=rng.uniform(1, 10, length))
        out.append(s)
    return inputs.backfill(out, LOOKBACK + HORIZON, 12)


def as_set(w):
    return {(int(s), int(f), tuple(x), tuple(y)) for s, f, x, y in
            zip(w.series, w.first, w.inputs, w.targets, strict=True)}


def test_below_the_limits_every_window_in_the_same_order():
    data = series()
    sampler = Sampler({"max_training_windows": 10**6, "max_validation_windows": 10**6}, 42)
    full = fw.sliding(data, LOOKBACK, HORIZON, cut=5)
    got = sampler.sliding("train", data, LOOKBACK, HORIZON, cut=5)
    for a, b in ((full, got), (fw.tail(data, LOOKBACK, HORIZON, cut=HORIZON, count=4),
                               sampler.tail(data, LOOKBACK, HORIZON, cut=HORIZON, count=4))):
        assert np.array_equal(a.inputs, b.inputs) and np.array_equal(a.targets, b.targets)
        assert np.array_equal(a.first, b.first) and np.array_equal(a.series, b.series)
    assert sampler.record() is None
    unlimited = Sampler({}, 42)  # a spec without the limits: every window
    assert len(unlimited.sliding("refit", data, LOOKBACK, HORIZON, cut=0)) == len(
        fw.sliding(data, LOOKBACK, HORIZON, cut=0))


def test_past_the_training_limit_a_seeded_sample_of_real_windows():
    data = series()
    full = fw.sliding(data, LOOKBACK, HORIZON, cut=0, most_recent=20)
    limit = len(full) // 3
    first = Sampler({"max_training_windows": limit}, 7)
    got = first.sliding("refit", data, LOOKBACK, HORIZON, cut=0, most_recent=20)
    assert len(got) == limit
    assert as_set(got) <= as_set(full)  # each one a window of the whole set
    assert len(as_set(got)) == limit  # no window twice
    again = Sampler({"max_training_windows": limit}, 7).sliding(
        "refit", data, LOOKBACK, HORIZON, cut=0, most_recent=20)
    assert np.array_equal(got.inputs, again.inputs)  # the seed decides
    other = Sampler({"max_training_windows": limit}, 8).sliding(
        "refit", data, LOOKBACK, HORIZON, cut=0, most_recent=20)
    assert not np.array_equal(got.first, other.first)
    assert len(set(got.series.tolist())) > len(data) // 2  # spread over the series
    assert first.record() == {"max_training_windows": limit, "max_validation_windows": 0,
                              "seed": 7, "refit": {"windows": limit, "of": len(full)}}


def test_past_the_validation_limit_every_series_keeps_its_first_window():
    data = series()
    full = fw.tail(data, LOOKBACK, HORIZON, cut=HORIZON, count=5)
    firsts = fw.last(data, LOOKBACK, HORIZON, cut=HORIZON)
    sampler = Sampler({"max_validation_windows": len(firsts) + 10}, 1)
    got = sampler.tail(data, LOOKBACK, HORIZON, cut=HORIZON, count=5)
    assert len(got) == len(firsts) + 10
    assert as_set(firsts) <= as_set(got) <= as_set(full)
    assert sampler.record()["valid"] == {"windows": len(got), "of": len(full),
                                         "every_series_first_window": len(firsts)}
    tight = Sampler({"max_validation_windows": 3}, 1)  # fewer than the series: firsts only
    assert as_set(tight.tail(data, LOOKBACK, HORIZON, cut=HORIZON, count=5)) == as_set(firsts)
