"""Champion and challenger on real training, scoring a chosen version, and ml.evaluate,
end to end on PostgreSQL (issue 26)."""

import json

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa
from sklearn import metrics as skm

import sql_helpers
from sql_helpers import call, count, load_customers
from sqlml.demo import series_data
from sqlml.demo.bulk import insert_frame

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

FAST = json.dumps({"epochs": 3, "hidden_units": [16], "patience": 2, "ensemble_size": 1})
COLUMNS = ("customer_id, region, plan_tier, contract, tenure_months, internet_service, "
           "phone_service, streaming, tech_support, payment_method, paperless_billing, "
           "monthly_charges, total_charges, support_calls, monthly_usage_minutes, "
           "usage_change_pct")


def train(engine, name="churn", query=None, options=FAST, activate=True):
    return sql_helpers.train(engine, "train_churn_model", name, query, options, activate)


def evaluate(engine, name, query, version=None):
    [row] = call(engine, "SELECT * FROM ml.evaluate(model_name => :name, input_query => :query,"
                         " version => :version)", name=name, query=query, version=version)
    return row


def test_acceptance_evaluate_gives_the_auc_of_the_scores_score_churn_wrote(db):
    """Train on part of a held-back data set, score the rest with ml.score_churn, and
    ml.evaluate the same rows: the same AUC (within 1e-6), and models.performance
    shows the evaluation."""
    load_customers(db, 2400, seed=23)
    trained = train(db, query="SELECT * FROM features.customers WHERE customer_id % 4 <> 0")
    version = trained["version"]
    held_back = f"SELECT {COLUMNS} FROM features.customers WHERE customer_id % 4 = 0"
    [scored] = call(db, "SELECT * FROM ml.score_churn(model_name => 'churn', input_query => :q,"
                        " version => :v)", q=held_back, v=version)
    assert scored["rows_scored"] == 600
    written = pd.DataFrame(call(db, "SELECT s.churn_probability, c.churned "
                                    "FROM predictions.churn_scores AS s JOIN features.customers"
                                    " AS c ON s.customer_id = c.customer_id::text "
                                    "WHERE s.run_id = :r", r=scored["run_id"]))
    y, p = written["churned"].astype(int).to_numpy(), written["churn_probability"].to_numpy()

    labelled = "SELECT * FROM features.customers WHERE customer_id % 4 = 0"
    result = evaluate(db, "churn", labelled, version)
    assert (result["version"], result["rows"]) == (version, 600)
    realised = json.loads(result["metrics"])
    assert abs(realised["auc"] - skm.roc_auc_score(y, p)) < 1e-6
    # Every metric equals an independent computation on the same rows.
    clipped = np.clip(p, 1e-7, 1 - 1e-7)
    threshold = json.loads(trained["metrics"])["threshold"]
    assert realised["threshold"] == pytest.approx(threshold)
    assert realised["pr_auc"] == pytest.approx(skm.average_precision_score(y, p), abs=1e-6)
    assert realised["log_loss"] == pytest.approx(skm.log_loss(y, clipped), abs=1e-6)
    assert realised["brier"] == pytest.approx(np.mean((clipped - y) ** 2), abs=1e-6)
    assert realised["accuracy"] == pytest.approx(np.mean((clipped >= threshold) == y), abs=1e-9)
    assert realised["baseline"]["scored"] is False

    [perf] = call(db, "SELECT * FROM models.performance WHERE model_name = 'churn' "
                      "AND version = :v", v=version)
    assert perf["evaluation_run_id"] == result["run_id"] and perf["evaluated_rows"] == 600
    assert perf["metric"] == "auc" and abs(perf["realised"] - realised["auc"]) < 1e-12
    assert perf["validation"] == pytest.approx(json.loads(trained["metrics"])["auc"])
    assert perf["drift_run_id"] == scored["run_id"]
    [run] = call(db, "SELECT run_type, status, rows_in, outcome FROM ops.runs WHERE run_id = :r",
                 r=result["run_id"])
    assert (run["run_type"], run["status"], run["rows_in"]) == ("evaluate", "succeeded", 600)
    assert run["outcome"]["auc"] == realised["auc"]
    assert count(db, "models.evaluations") == 1


def sim(engine, table, n, seed, noise, on="x"):
    """Customers who churn when ``on`` (x or w) is far from 0.3 (a U shape, which the
    network's bins and the boosted trees learn and logistic regression cannot), with a
    share ``noise`` of labels flipped."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({"customer_id": np.arange(1, n + 1), "x": rng.normal(size=n),
                          "w": rng.normal(size=n)})
    churned = (np.abs(frame[on] - 0.3) > 0.8).astype(np.int64)
    frame["churned"] = np.where(rng.random(n) < noise, 1 - churned, churned)
    with engine.begin() as connection:
        connection.exec_driver_sql(f"CREATE TABLE IF NOT EXISTS {table} (customer_id bigint, "
                                   "x double precision, w double precision, churned integer)")
    insert_frame(engine, table, frame)


@pytest.fixture
def populations(db):
    yield db
    with db.begin() as connection:
        connection.exec_driver_sql("DROP TABLE IF EXISTS features.sim_a, features.sim_b")


def test_a_challenger_that_wins_on_its_own_split_but_loses_on_the_same_rows(populations):
    """The easier month: the champion learned the rule from a noisy month (a low
    validation AUC); the challenger, a weaker model (no bins), had a clean month to be
    examined on, so its own AUC is far higher, yet on its own rows the champion ranks
    better."""
    db = populations
    sim(db, "features.sim_a", 3000, seed=1, noise=0.3)
    sim(db, "features.sim_b", 1500, seed=2, noise=0.0)
    first = train(db, "sim", "SELECT * FROM features.sim_a")
    weaker = json.dumps({**json.loads(FAST), "numeric_bins": 0})
    second = train(db, "sim", "SELECT * FROM features.sim_b", options=weaker)
    one, two = json.loads(first["metrics"]), json.loads(second["metrics"])
    assert first["status"] == "active", first
    assert two["auc"] > one["auc"] and two["auc"] > two["baseline_auc"]  # the old rule: active
    same = two["same_rows"]
    assert same["champion_version"] == 1 and same["challenger"] == two["auc"]
    assert same["champion"] > same["challenger"] and same["rows"] == two["n_valid"]
    assert second["status"] == "candidate"
    [reason] = call(db, "SELECT status_reason FROM models.registry WHERE version = 2 "
                        "AND model_name = 'sim'")
    assert reason["status_reason"].startswith(f"candidate: auc {two['auc']:.4f} does not beat "
                                              f"active version 1's {same['champion']:.4f} on "
                                              f"the same {two['n_valid']} rows")


def test_a_challenger_that_loses_on_its_own_split_but_wins_on_the_same_rows(populations):
    """The harder month: churn now follows w, which the champion (from a clean month
    where x decided) never learned; the challenger's own AUC is lower than the
    champion's recorded one, but on the challenger's rows the champion is near chance."""
    db = populations
    sim(db, "features.sim_a", 1500, seed=3, noise=0.0, on="x")
    sim(db, "features.sim_b", 1500, seed=4, noise=0.15, on="w")
    first = train(db, "sim", "SELECT * FROM features.sim_a")
    second = train(db, "sim", "SELECT * FROM features.sim_b")
    one, two = json.loads(first["metrics"]), json.loads(second["metrics"])
    assert first["status"] == "active", first
    assert two["auc"] < one["auc"]  # the old rule kept the champion
    assert two["same_rows"]["champion"] < two["same_rows"]["challenger"]
    assert second["status"] == "active"
    # Scoring a chosen version: the retired champion shadows; analysts still see the
    # active version's scores.
    [active] = call(db, "SELECT * FROM ml.score_churn(model_name => 'sim', "
                        "input_query => 'SELECT customer_id, x, w FROM features.sim_b')")
    [shadow] = call(db, "SELECT * FROM ml.score_churn(model_name => 'sim', "
                        "input_query => 'SELECT customer_id, x, w FROM features.sim_b', "
                        "version => 1)")
    assert (active["version"], shadow["version"]) == (2, 1)
    versions = {r["model_version"] for r in call(
        db, "SELECT DISTINCT model_version FROM predictions.churn_latest WHERE model_name = 'sim'")}
    assert versions == {2}, "a retired version's shadow scores must not reach churn_latest"
    [shadowed] = call(db, "SELECT shadow_of FROM ops.runs WHERE run_id = :r", r=shadow["run_id"])
    assert shadowed["shadow_of"] == active["model_id"]
    third = train(db, "sim", "SELECT * FROM features.sim_b", activate=False)
    [cand] = call(db, "SELECT * FROM ml.score_churn(model_name => 'sim', input_query => "
                      "'SELECT customer_id, x, w FROM features.sim_b', version => :v)",
                  v=third["version"])
    assert cand["version"] == 3
    versions = {r["model_version"] for r in call(
        db, "SELECT DISTINCT model_version FROM predictions.churn_latest WHERE model_name = 'sim'")}
    assert versions == {2}, "a candidate's shadow scores must not reach churn_latest"


FORECAST_FAST = json.dumps({"ensemble": 1, "units": 8, "epochs": 2, "patience": 2,
                            "lookback": 24, "validation_origins": 3})
TRAIN_PART = ("SELECT series_id, period, value FROM features.monthly_usage AS m WHERE period <="
              " (SELECT max(x.period) FROM features.monthly_usage AS x"
              " WHERE x.series_id = m.series_id) - interval '12 months'")


def test_forecaster_evaluation_equals_an_independent_computation(db):
    series_data.load_series(db, n_series=8, length=84, min_length=72, seed=4)
    trained = sql_helpers.train(db, "train_forecaster", "fc", TRAIN_PART, FORECAST_FAST, False)
    version = trained["version"]
    [fc] = call(db, "SELECT * FROM ml.forecast(model_name => 'fc', input_query => :q, "
                    "version => :v)", q=TRAIN_PART, v=version)
    assert fc["version"] == version
    assert count(db, "predictions.forecast_latest", "model_name = 'fc'") == 0  # a candidate's
    actuals = "SELECT series_id, period, value FROM features.monthly_usage"
    result = evaluate(db, "fc", actuals, version)
    realised = json.loads(result["metrics"])

    data = pd.DataFrame(call(db, actuals)).assign(period=lambda f: pd.to_datetime(f["period"]))
    forecasts = pd.DataFrame(call(db, "SELECT series_id, period, forecast, lower, upper FROM "
                                      "predictions.forecasts WHERE run_id = :r",
                                  r=fc["run_id"]))
    forecasts["period"] = pd.to_datetime(forecasts["period"])
    mase, smape, inside = [], [], []
    for sid, f in forecasts.groupby("series_id"):
        s = data[data["series_id"] == sid].sort_values("period")
        joined = f.merge(s, on=["series_id", "period"])
        history = s[s["period"] < joined["period"].min()]["value"].to_numpy()
        scale = np.mean(np.abs(history[12:] - history[:-12]))
        a, y = joined["value"].to_numpy(), joined["forecast"].to_numpy()
        mase.append(np.mean(np.abs(a - y)) / scale)
        smape.append(np.mean(200 * np.abs(a - y) / (np.abs(a) + np.abs(y))))
        inside.extend((a >= joined["lower"]) & (a <= joined["upper"]))
    assert result["rows"] == len(inside) == 8 * 12
    assert realised["mase"] == pytest.approx(np.mean(mase), rel=1e-9)
    assert realised["smape"] == pytest.approx(np.mean(smape), rel=1e-9)
    assert realised["coverage"] == pytest.approx(np.mean(inside), rel=1e-9)
    [perf] = call(db, "SELECT metric, realised FROM models.performance WHERE model_name = 'fc'")
    assert perf["metric"] == "mase" and perf["realised"] == pytest.approx(realised["mase"])

    with pytest.raises(sa.exc.DBAPIError, match=r"none of the \d+ actual\(s\) is a period"):
        evaluate(db, "fc", actuals + " WHERE period < (SELECT min(period) + interval "
                 "'24 months' FROM features.monthly_usage)", version)
    [failed] = call(db, "SELECT run_type, status FROM ops.runs ORDER BY run_id DESC LIMIT 1")
    assert (failed["run_type"], failed["status"]) == ("evaluate", "failed")
