"""Forecasting in batches of whole series on PostgreSQL (issue 27): memory holds a
batch of series, not all of them.

One ``ml.forecast`` call reads its input through a cursor grouped by series
(``adapters/postgres_series.py``), a batch of whole series at a time, and is still
one run: the same forecasts and drift as one batch, and nothing at all when a later
batch fails. Training past the spec's window limits trains on a sample of windows
and records it.
"""

import json

import pytest
import sqlalchemy as sa

from conftest import DATA_TABLES
from sql_helpers import call, count, runs
from sql_helpers import train as train_routine
from sqlml.demo import series_data

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

SERIES = 12
FAST = json.dumps({"ensemble": 1, "units": 8, "epochs": 2, "patience": 1, "lookback": 24,
                   "validation_origins": 3})
SOURCE = "SELECT series_id, period, value FROM features.monthly_usage"


@pytest.fixture(scope="module")
def trained(pg_engine):
    with pg_engine.begin() as connection:  # as the db fixture does, once for the module
        connection.exec_driver_sql(f"TRUNCATE {', '.join(DATA_TABLES)} RESTART IDENTITY CASCADE")
    series_data.load_series(pg_engine, n_series=SERIES, length=84, min_length=72, seed=4)
    train_routine(pg_engine, "train_forecaster", "forecast", None, FAST, True)
    return pg_engine


def forecast(connection, batch_series, query=None):
    """One ml.forecast call in ``connection``'s session with the batch size lowered to
    ``batch_series``; its row, the run's forecasts and its drift."""
    connection.execute(sa.text("SELECT set_config('sqlml.forecast_batch_series', :n, false)"),
                       {"n": str(batch_series)})
    row = connection.execute(sa.text(
        "SELECT * FROM ml.forecast(model_name => 'forecast', input_query => :q)"),
        {"q": query}).mappings().one()
    rows = connection.execute(sa.text(
        "SELECT series_id, period, step, forecast, lower, upper FROM predictions.forecasts"
        " WHERE run_id = :r ORDER BY series_id, step"), {"r": row["run_id"]}).all()
    drift = connection.execute(sa.text(
        "SELECT feature, psi, flagged, detail FROM ops.run_drift WHERE run_id = :r"
        " ORDER BY feature"), {"r": row["run_id"]}).all()
    return row, rows, drift


def assert_same_run(one, many):
    (row1, rows1, drift1), (row2, rows2, drift2) = one, many
    assert row1["rows_written"] == row2["rows_written"] == len(rows1) == len(rows2) > 0
    assert [r[:3] for r in rows1] == [r[:3] for r in rows2]
    worst = max(abs(a[k] - b[k]) for a, b in zip(rows1, rows2, strict=True) for k in (3, 4, 5))
    assert worst <= 1e-6
    assert len(drift1) == len(drift2) == 2
    for a, b in zip(drift1, drift2, strict=True):
        assert (a[0], a[2]) == (b[0], b[2]) and a[1] == pytest.approx(b[1], abs=1e-12)
        assert dict(a[3]) == dict(b[3])


def test_batches_of_series_give_the_forecasts_and_drift_of_one_batch(trained):
    with trained.connect() as connection:
        one = forecast(connection, 2000)
        five = forecast(connection, 5)  # 5, 5 and 2 series
        four = forecast(connection, 4)  # 4, 4 and 4: the last batch is full
        single = forecast(connection, 1)
        connection.commit()
    assert_same_run(one, five)
    assert_same_run(one, four)
    assert_same_run(one, single)
    assert len({r[0] for r in one[1]}) == SERIES
    logged = runs(trained)[-4:]
    assert [r["status"] for r in logged] == ["succeeded"] * 4
    assert {(r["rows_in"], r["rows_out"]) for r in logged} == {(SERIES, one[0]["rows_written"])}


def test_a_failure_in_the_last_batch_leaves_no_forecasts(trained):
    before = count(trained, "predictions.forecasts")
    drift_before = count(trained, "ops.run_drift")
    [last] = call(trained, "SELECT max(series_id) AS s FROM features.monthly_usage")
    failing = {
        # the owner's half: the last batch's series fails as it is forecast
        f"SELECT series_id, period, CASE WHEN series_id = '{last['s']}' THEN -1"
        f" ELSE value END AS value FROM features.monthly_usage": "has a value <= 0",
        # the last series is too short to forecast
        f"SELECT * FROM ({SOURCE}) s WHERE series_id <> '{last['s']}'"
        " OR period > '2025-06-01'": f"series '{last['s']}' is shorter than",
    }
    for query, message in failing.items():
        with trained.connect() as connection:
            connection.execute(sa.text("SET sqlml.forecast_batch_series = 5"))
            with pytest.raises(sa.exc.DBAPIError, match=message):
                connection.execute(sa.text(
                    "SELECT * FROM ml.forecast(model_name => 'forecast', input_query => :q)"),
                    {"q": query})
    assert count(trained, "predictions.forecasts") == before
    assert count(trained, "ops.run_drift") == drift_before
    assert [r["status"] for r in runs(trained)][-2:] == ["failed"] * 2


def test_the_batch_size_is_the_specs_and_a_setting_can_only_lower_it(trained):
    [spec] = call(trained, "SELECT spec #>> '{scoring,batch_series}' AS n FROM models.specs"
                           " WHERE kind = 'forecaster'")
    assert int(spec["n"]) >= 1000
    for bad in ("0", "-5", "many"):
        with trained.connect() as connection:
            connection.execute(sa.text(
                "SELECT set_config('sqlml.forecast_batch_series', :v, false)"), {"v": bad})
            with pytest.raises(sa.exc.DBAPIError, match="sqlml.forecast_batch_series"):
                connection.execute(sa.text("SELECT * FROM ml.forecast(model_name => 'forecast')"))
    with trained.connect() as connection:
        connection.execute(sa.text("SET sqlml.forecast_batch_series = 100000000"))
        row, rows, _ = forecast(connection, 100_000_000)
        connection.commit()
    assert len({r[0] for r in rows}) == SERIES and row["rows_written"] == len(rows)


def test_training_past_the_window_limits_uses_a_sample_and_records_it(trained):
    def limit(train_windows, valid_windows):
        with trained.begin() as connection:
            connection.execute(sa.text(
                "UPDATE models.specs SET spec = jsonb_set(jsonb_set(spec,"
                " '{limits,max_training_windows}', to_jsonb(CAST(:t AS integer))),"
                " '{limits,max_validation_windows}', to_jsonb(CAST(:v AS integer)))"
                " WHERE kind = 'forecaster'"), {"t": train_windows, "v": valid_windows})

    [spec] = call(trained, "SELECT spec -> 'limits' AS limits FROM models.specs"
                           " WHERE kind = 'forecaster'")
    limit(100, 20)
    try:
        row = train_routine(trained, "train_forecaster", "forecast_sampled", None, FAST, False)
    finally:
        limit(spec["limits"]["max_training_windows"], spec["limits"]["max_validation_windows"])
    [reg] = call(trained, "SELECT metrics FROM models.registry WHERE model_id = :m",
                 m=row["model_id"])
    sample = reg["metrics"]["sample"]
    assert (sample["max_training_windows"], sample["max_validation_windows"]) == (100, 20)
    assert sample["train"]["windows"] == reg["metrics"]["windows"]["train"] == 100
    assert sample["train"]["of"] > 100 and sample["refit"]["of"] > sample["train"]["of"]
    # every series' first validation window, and a sample of the others up to the limit
    assert sample["valid"]["every_series_first_window"] == SERIES
    assert sample["valid"]["windows"] == reg["metrics"]["windows"]["valid"] == 20
    assert sample["valid"]["of"] == SERIES * 3
