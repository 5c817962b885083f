"""The forecaster's base chosen on validation (statsforecast candidates), the network's
gate, the registry's per-series record, and business days, without a database."""

import json
import os
import stat

import numpy as np
import pandas as pd
import pytest

from sqlml.kinds.forecaster import candidates, choice
from sqlml.kinds.forecaster import model as forecaster
from sqlml.paths import project_root

SPEC = json.loads((project_root() / "models" / "forecaster.json").read_text())
# The network barely trains: these tests are about the choice around it.
TINY = {"ensemble": 1, "units": 4, "epochs": 1, "patience": 1, "refit": False}


def quarterly(n_series=3, length=60, seed=5) -> pd.DataFrame:
    """Trending series with seasonality that grows with the level."""
    rng = np.random.default_rng(seed)
    frames = []
    stamps = pd.date_range("2000-01-01", periods=length, freq="QS")
    for s in range(n_series):
        t = np.arange(length)
        level = (50 + 10 * s) * np.exp(0.01 * t)
        season = 1 + 0.15 * np.sin(2 * np.pi * (t % 4) / 4 + s)
        values = level * season * np.exp(rng.normal(0, 0.02, length))
        frames.append(pd.DataFrame({"series_id": f"q{s}", "period": stamps, "value": values}))
    return pd.concat(frames, ignore_index=True)


def test_validation_windows_end_before_the_held_out_window():
    for n, h, origins in ((100, 8, 2), (365, 14, 2), (40, 5, 3)):
        ends = choice.validation_ends(n, h, origins)
        assert len(ends) == origins and max(ends) == n - h
        assert all(end - h >= 0 for end in ends)


def test_the_choice_of_base_never_reads_the_held_out_window():
    """Changing the held-out periods changes the backtest, never the validation scores
    nor the base that they choose."""
    frame = quarterly(n_series=2, length=48)
    histories = [g.value.to_numpy() for _, g in frame.groupby("series_id")]
    h = 8
    before = choice.evaluate(histories, [0, 1], h, 4, origins=2, coverage=0.8)
    shocked = [np.concatenate([y[:-h], y[-h:] * 3.0]) for y in histories]
    after = choice.evaluate(shocked, [0, 1], h, 4, origins=2, coverage=0.8)
    assert before.validation == after.validation
    assert before.first_window == after.first_window
    assert (choice.pick(before.mean(before.validation), before.names)
            == choice.pick(after.mean(after.validation), after.names))
    assert before.backtest != after.backtest


def _evaluation(validation: dict[str, list[float]]) -> choice.Evaluation:
    names = list(validation)
    return choice.Evaluation(series=list(range(len(validation[names[0]]))), names=names,
                             validation=validation)


def test_the_group_keeps_the_ets_arima_combination_unless_another_beats_it_clearly():
    order = ["naive", "ets", "arima", "theta", "ets_arima"]
    near = {"naive": 2.0, "ets": 1.0, "arima": 1.05, "theta": 1.2, "ets_arima": 1.08}
    assert choice.pick(near, order) == "ets_arima"
    clear = {**near, "ets": 0.9}
    assert choice.pick(clear, order) == "ets"
    # The random walk still stays where the combination does not beat it either.
    assert choice.pick({**near, "naive": 1.1}, order) == "naive"
    # Where the combination is not a candidate (monthly), the least score wins.
    assert choice.pick({"naive": 2.0, "theta": 1.0, "theta_log": 0.99},
                       ["naive", "theta", "theta_log"]) == "theta_log"


@pytest.mark.slow
def test_training_chooses_the_same_base_and_gate_whatever_the_held_out_periods_hold():
    frame = quarterly(n_series=3, length=56)
    last = frame.groupby("series_id").tail(8).index
    shocked = frame.copy()
    shocked.loc[last, "value"] *= 2.5
    options = {**TINY, "horizon": 8}
    one = forecaster.train(frame, SPEC, options).registration["metrics"]["choice"]
    two = forecaster.train(shocked, SPEC, options).registration["metrics"]["choice"]
    for key in ("candidate", "network", "validation_mase", "gate_validation_mase",
                "gate_windows", "series_bases"):
        assert one[key] == two[key], key
    assert one["backtest_mase"] != two["backtest_mase"]


def test_the_gate_uses_the_network_only_where_validation_shows_it_helps():
    ones = [1.0] * 4
    assert choice.gate(ones, [0.5, 0.6, 0.5, 0.6], [0.8] * 4).mode == "alone"
    assert choice.gate(ones, [0.9, 1.1, 0.9, 1.1], [0.7, 0.8, 0.7, 0.8]).mode == "blend"
    # Better, but by less than the margin: the network's early stopping saw these windows.
    assert choice.gate(ones, [0.99] * 4, [0.995] * 4).mode == "off"
    assert choice.gate(ones, [1.2] * 4, [1.1] * 4).mode == "off"


def test_the_gate_stays_shut_on_too_few_windows_or_one_lucky_series():
    # Two windows (one weekly series, two origins): far better, still no evidence.
    shut = choice.gate([1.0, 1.0], [0.5, 0.5], [0.7, 0.7])
    assert shut.mode == "off" and shut.windows == 2
    # Better on the mean only through one window of four.
    lucky = choice.gate([1.0, 1.0, 1.0, 2.0], [1.05, 1.05, 1.05, 0.5], [1.1, 1.1, 1.1, 1.4])
    assert lucky.validation["network"] < 0.9 * lucky.validation["base"]
    assert lucky.wins["network"] == 0.25 and lucky.mode == "off"
    # A few per cent on every one of 10 windows: within what early stopping flatters.
    assert choice.gate([1.0] * 10, [0.94] * 10, [0.95] * 10).mode == "off"


def test_pick_takes_the_least_and_ties_keep_the_earlier_candidate():
    order = ["naive", "ets", "arima"]
    assert choice.pick({"naive": 2.0, "ets": 1.0, "arima": 1.5}, order) == "ets"
    assert choice.pick({"naive": 1.0, "ets": 1.0, "arima": 1.0}, order) == "naive"
    assert choice.pick({"ets": 1.0, "arima": 1.0}, ["ets", "arima"]) == "ets"


def test_the_random_walk_stays_unless_beaten_by_the_margin():
    order = ["naive", "seasonal_naive", "ets"]
    assert choice.pick({"naive": 1.0, "seasonal_naive": 0.97, "ets": 0.99}, order) == "naive"
    assert choice.pick({"naive": 1.0, "seasonal_naive": 0.90, "ets": 0.99},
                       order) == "seasonal_naive"


def test_a_large_group_validates_an_evenly_spaced_sample_of_long_enough_series():
    lengths = [100] * 30 + [10] * 5
    picked = choice.sample(lengths, 12, least=50)
    assert len(picked) == 12 and picked[0] == 0 and picked[-1] == 29
    assert choice.sample(lengths, 0, least=50) == list(range(30))
    assert choice.sample([10, 20], 5, least=50) == []


@pytest.mark.slow
def test_the_registry_records_per_series_which_base_won_and_each_candidate_beside_naive():
    frame = quarterly(n_series=3, length=56)
    trained = forecaster.train(frame, SPEC, {**TINY, "horizon": 8})
    metrics = trained.registration["metrics"]
    record = metrics["choice"]
    assert record["candidate"] in candidates.names(True)
    assert record["network"] in choice.NETWORK_MODES
    assert record["evaluated_series"] == 3
    for table in ("validation_mase", "backtest_mase"):
        assert {"seasonal_naive", "naive", "ets", "arima", "theta", "ets_arima",
                "arima_log"} <= set(record[table])
    assert [s["series_id"] for s in record["series"]] == ["q0", "q1", "q2"]
    for row in record["series"]:
        assert row["won_validation"] == choice.pick(row["validation_mase"],
                                                    list(row["validation_mase"]))
        assert row["base"] == record["candidate"]  # every series takes the group's
        assert set(row["backtest_mase"]) == set(row["validation_mase"])
    assert sum(record["series_bases"].values()) == 3
    # Quarterly series: the network corrects the library base, and the gate compared
    # every series on each of the network's 8 validation windows.
    assert record["network_corrects"] == "library_base"
    assert record["gate_windows"] == 3 * 8
    assert len([r["network_added_backtest_mase"] for r in record["series"]]) == 3
    assert record["base_backtest"]["model"] == record["candidate"]
    assert "mase" in metrics["network_backtest"]
    assert np.isclose(record["network_added_backtest_mase"],
                      record["base_backtest"]["mase"] - metrics["mase"])
    # What the version forecasts is what the backtest scored: the chosen base, or the
    # network on it where the gate opened.
    if record["network"] == "off":
        assert np.isclose(metrics["mase"], record["base_backtest"]["mase"])


@pytest.mark.slow
def test_a_version_whose_base_is_a_library_model_forecasts_it_from_the_history_given():
    frame = quarterly(n_series=2, length=56)
    trained = forecaster.train(frame, SPEC, {**TINY, "horizon": 8, "epochs": 0})
    record = trained.registration["metrics"]["choice"]
    out = forecaster.forecast(frame, trained.onnx_artifact,
                              trained.registration["onnx_sha256"])
    assert len(out) == 16 and (out.lower <= out.forecast).all()
    assert (out.forecast <= out.upper).all()
    # epochs 0: the network is its window base, so the gate chose between library
    # models and that base; with the gate off the forecast is the library's own.
    # Each series is forecast by the group's base, fitted on its own history.
    if record["network"] == "off":
        for row in record["series"]:
            y = frame[frame.series_id == row["series_id"]].value.to_numpy()
            expected = candidates.forecast(y, 8, 4, row["base"], 0.8)[0]
            got = out[out.series_id == row["series_id"]].sort_values("step").forecast
            assert np.allclose(got.to_numpy(), expected)


@pytest.mark.slow
def test_candidates_off_is_the_network_alone():
    frame = quarterly(n_series=2, length=56)
    trained = forecaster.train(frame, SPEC, {**TINY, "horizon": 8, "candidates": False})
    assert trained.registration["metrics"]["choice"] == {}
    assert np.isclose(trained.registration["metrics"]["mase"],
                      trained.registration["metrics"]["network_backtest"]["mase"])


def random_walk_prices(n=260, seed=3) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    stamps = pd.bdate_range("2024-01-01", periods=n)  # ends on a weekday
    frames = [pd.DataFrame({"series_id": f"p{k}", "period": stamps,
                            "value": 100 * np.exp(np.cumsum(rng.normal(0, 0.015, n)))})
              for k in range(2)]
    return pd.concat(frames, ignore_index=True)


@pytest.mark.slow
def test_prices_forecast_on_business_days_and_stay_near_the_random_walk():
    frame = random_walk_prices()
    trained = forecaster.train(frame, SPEC, {**TINY, "horizon": 5})
    metrics = trained.registration["metrics"]
    assert metrics["frequency"] == "business_daily"
    assert metrics["naive_step1_rmse"] > 0
    # The random walk is a candidate, so validation can always fall back to it; seasonal
    # naive (a lag of 5 trading days) is not one on business days.
    assert "naive" in metrics["choice"]["validation_mase"]
    assert "seasonal_naive" not in metrics["choice"]["validation_mase"]
    assert metrics["choice"]["candidate"] != "seasonal_naive"
    out = forecaster.forecast(frame, trained.onnx_artifact,
                              trained.registration["onnx_sha256"])
    periods = pd.DatetimeIndex(out[out.series_id == "p0"].sort_values("step").period)
    last = frame.period.max()
    assert list(periods) == list(pd.bdate_range(last + pd.offsets.BDay(1), periods=5))
    assert (periods.day_of_week < 5).all()


def test_the_numba_cache_is_a_folder_only_this_user_can_write(tmp_path, monkeypatch):
    monkeypatch.setattr("tempfile.tempdir", str(tmp_path))
    path = candidates.numba_cache_dir()
    assert path is not None and path.parent == tmp_path
    assert stat.S_IMODE(path.stat().st_mode) == 0o700 and path.stat().st_uid == os.getuid()
    # A folder others may write holds machine code someone else chose: not used.
    path.chmod(0o777)
    assert candidates.numba_cache_dir() is None
