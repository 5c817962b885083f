"""Input drift (sqlml.kinds.drift): profiles at training, PSI at every run."""

import json

import numpy as np
import pandas as pd
import pytest

from sqlml import entrypoints
from sqlml.kinds import drift
from sqlml.kinds.churn.encode import Coded

pytestmark = pytest.mark.unit


def customers(n=4000, seed=0, tenure_shift=0.0, plan_weights=(0.6, 0.3, 0.1)):
    rng = np.random.default_rng(seed)
    return pd.DataFrame({
        "customer_id": np.arange(n),
        "tenure_months": rng.gamma(2.0, 12.0, n) + tenure_shift,
        "monthly_charges": rng.normal(60, 15, n),
        "plan": rng.choice(["basic", "plus", "pro"], n, p=list(plan_weights)),
    })


def churn_profile(frame):
    return drift.feature_profile(frame.drop(columns=["customer_id"]),
                                 ["tenure_months", "monthly_charges"], ["plan"])


def by_feature(rows):
    return {r.feature: r for r in rows.itertuples(index=False)}


def test_psi_is_zero_for_equal_shares_and_grows_with_the_shift():
    assert drift.psi([0.5, 0.5], [0.5, 0.5]) == pytest.approx(0.0)
    small, large = drift.psi([0.5, 0.5], [0.45, 0.55]), drift.psi([0.5, 0.5], [0.1, 0.9])
    assert 0 < small < 0.1 < drift.PSI_THRESHOLD < large


def test_same_population_is_not_flagged():
    profile = churn_profile(customers(seed=0))
    rows = by_feature(entrypoints.drift(customers(seed=1), profile))
    assert set(rows) == {"tenure_months", "monthly_charges", "plan"}
    for row in rows.values():
        assert row.psi < 0.05 and not row.flagged


def test_shifted_numeric_and_categorical_inputs_are_flagged():
    profile = churn_profile(customers(seed=0))
    shifted = customers(seed=1, tenure_shift=30.0, plan_weights=(0.1, 0.3, 0.6))
    rows = by_feature(entrypoints.drift(shifted, json.dumps(profile)))
    assert rows["tenure_months"].flagged and rows["tenure_months"].psi > drift.PSI_THRESHOLD
    assert rows["plan"].flagged
    assert not rows["monthly_charges"].flagged
    detail = json.loads(rows["tenure_months"].detail)
    assert detail["threshold"] == drift.PSI_THRESHOLD
    assert detail["mean_actual"] > detail["mean_expected"] + 25


def test_nulls_unseen_categories_and_missing_columns_are_measured_not_fatal():
    base = customers(seed=0)
    profile = churn_profile(base)
    other = customers(seed=1)
    other.loc[: len(other) // 2, "monthly_charges"] = np.nan
    other.loc[: len(other) // 2, "plan"] = "enterprise"
    other = other.drop(columns=["tenure_months"])
    rows = by_feature(entrypoints.drift(other, profile))
    assert rows["monthly_charges"].flagged
    assert json.loads(rows["monthly_charges"].detail)["null_actual"] > 0.4
    assert rows["plan"].flagged
    assert "enterprise" in json.loads(rows["plan"].detail)["unseen"]
    assert pd.isna(rows["tenure_months"].psi) and not rows["tenure_months"].flagged


@pytest.mark.parametrize("profile", [None, "{}", {"kind": "features"}])
def test_a_version_without_a_profile_gives_one_row_that_says_so(profile):
    rows = entrypoints.drift(customers(n=50), profile)
    assert list(rows["feature"]) == ["*"] and not rows["flagged"].any()
    assert "retrain" in json.loads(rows["detail"].iloc[0])["error"]


def test_a_broken_input_never_raises():
    rows = entrypoints.drift(pd.DataFrame({"series_id": ["a"]}),
                             {"kind": "series", "features": {}, "min_rows": 1})
    assert list(rows["feature"]) == ["*"]
    assert "could not be measured" in json.loads(rows["detail"].iloc[0])["error"]


def series(levels, months=48, seed=0):
    rng = np.random.default_rng(seed)
    periods = pd.date_range("2020-01-01", periods=months, freq="MS")
    return pd.DataFrame([
        {"series_id": f"s{i}", "period": p,
         "value": level * (1 + 0.1 * np.sin(2 * np.pi * k / 12)) + rng.normal(0, level * 0.02)}
        for i, level in enumerate(levels) for k, p in enumerate(periods)
    ])


def test_series_level_shift_is_flagged_and_the_moved_series_named():
    levels = list(np.geomspace(10, 10_000, 40))
    profile = drift.series_profile(series(levels))
    same = by_feature(entrypoints.drift(series(levels, seed=1), profile))
    assert not same["series_level"].flagged and not same["series_scale"].flagged
    shifted = series([level * 8 for level in levels], seed=1)
    rows = by_feature(entrypoints.drift(shifted, profile))
    assert rows["series_level"].flagged
    detail = json.loads(rows["series_level"].detail)
    assert detail["series_compared"] == 40 and detail["series_moved_3_scales"] == 40
    assert len(detail["most_moved"]) == 5


def test_as_json_is_what_the_procedures_unpack():
    rows = entrypoints.drift(customers(seed=1), churn_profile(customers(seed=0)))
    records = json.loads(drift.as_json(rows))
    assert {r["feature"] for r in records} == {"tenure_months", "monthly_charges", "plan"}
    assert all(isinstance(r["detail"], dict) and isinstance(r["flagged"], bool)
               for r in records)


def test_values_on_a_bin_edge_fall_in_the_same_bin_at_training_and_at_a_run():
    # few values: the quantile edges are the values themselves (to many decimals)
    values = pd.DataFrame({"x": [155.5158333333, 208.5441666667, 226.9033333333,
                                 487.2208333333, 689.7425, 839.2341666667]})
    profile = drift.feature_profile(values, ["x"], [], min_rows=1)
    rows = entrypoints.drift(values, profile)
    assert rows["psi"].iloc[0] == pytest.approx(0.0) and not rows["flagged"].iloc[0]


def test_columns_as_the_postgres_adapter_reads_them_give_the_same_drift():
    base, other = customers(seed=0), customers(seed=1, tenure_shift=30.0)
    profile = churn_profile(base)
    other.loc[:10, "plan"] = None
    columns = {"customer_id": other["customer_id"].astype(str).to_numpy(dtype=object),
               "tenure_months": other["tenure_months"].to_numpy(),
               "monthly_charges": other["monthly_charges"].to_numpy(),
               "plan": other["plan"].to_numpy(dtype=object)}
    from_columns = entrypoints.drift_columns(columns, len(other), profile)
    from_frame = entrypoints.drift(other, profile)
    pd.testing.assert_frame_equal(from_columns, from_frame)
    assert from_columns.set_index("feature").loc["tenure_months", "flagged"]


def test_the_numpy_comparison_equals_the_pandas_one_on_awkward_columns():
    # kinds/drift_columns.py (scoring's path, no pandas) against kinds/drift.py,
    # value for value and detail for detail: blanks and padding, unseen and NULL
    # categories, NULL numbers, a column missing, a type that does not fit its profile.
    base = customers(seed=0)
    profile = churn_profile(base)
    other = customers(n=3000, seed=2, tenure_shift=5.0, plan_weights=(0.2, 0.3, 0.5))
    plan = other["plan"].to_numpy(dtype=object).copy()
    plan[:40] = None
    plan[40:60] = "  "
    plan[60:90] = " plus "
    plan[90:120] = "enterprise"
    plan[120:125] = "legacy"
    tenure = other["tenure_months"].to_numpy().copy()
    tenure[::7] = np.nan
    columns = {"CUSTOMER_ID": other["customer_id"].astype(str).to_numpy(dtype=object),
               "Tenure_Months": tenure, "plan": plan}
    frame = pd.DataFrame({k: v for k, v in columns.items()})
    pd.testing.assert_frame_equal(entrypoints.drift_columns(columns, len(other), profile),
                                  entrypoints.drift(frame, profile), check_exact=True)
    as_text = {**columns, "monthly_charges": other["monthly_charges"].astype(str)
               .to_numpy(dtype=object)}
    pd.testing.assert_frame_equal(
        entrypoints.drift_columns(as_text, len(other), profile),
        entrypoints.drift(pd.DataFrame(as_text), profile), check_exact=True)
    empty = {k: v[:0] for k, v in as_text.items()}
    pd.testing.assert_frame_equal(entrypoints.drift_columns(empty, 0, profile),
                                  entrypoints.drift(pd.DataFrame(empty), profile))
    rows = entrypoints.drift_column_rows(columns, len(other), profile)
    assert [r[0] for r in rows] == ["tenure_months", "monthly_charges", "plan"]
    assert json.loads(rows[2][3])["unseen"] == ["enterprise", "legacy"]
    # The PostgreSQL reader hands text columns coded too: the same rows, counted so.
    coded = {"PLAN": Coded.of(plan.tolist())}
    assert entrypoints.drift_column_rows(columns, len(other), profile, coded) == rows


def test_the_sql_server_adapter_measures_drift_as_pandas_does():
    # adapters.mssql hands InputDataSet's columns to the NumPy comparison: integers,
    # NULL numbers, pandas' str dtype with missing values, bits; the same rows.
    from sqlml.adapters import mssql

    base = customers(seed=0)
    base["paperless"] = base["customer_id"] % 3 == 0
    profile = drift.feature_profile(base.drop(columns=["customer_id"]),
                                    ["tenure_months", "monthly_charges", "paperless"], ["plan"])
    other = customers(n=2500, seed=4, tenure_shift=8.0, plan_weights=(0.3, 0.3, 0.4))
    other["tenure_months"] = other["tenure_months"].round().astype("int64")
    other["monthly_charges"] = other["monthly_charges"].where(other.index % 9 != 0)
    other["plan"] = other["plan"].astype("str").where(other.index % 11 != 0)
    other["paperless"] = other["customer_id"] % 2 == 0
    profile_text = json.dumps(profile)
    pd.testing.assert_frame_equal(mssql._drift_rows(other, profile_text),
                                  entrypoints.drift(other, profile_text), check_exact=True)


@pytest.mark.parametrize("n", [1, 5, 99])
def test_too_few_rows_are_recorded_as_such_never_flagged(n):
    """Issue 22, finding 10: one made-up customer flagged drift on every feature."""
    profile = churn_profile(customers(seed=0))
    assert profile["min_rows"] == 100
    few = customers(n=n, seed=1, tenure_shift=300.0, plan_weights=(0, 0, 1))
    for rows in (entrypoints.drift(few, profile),
                 entrypoints.drift_columns(
                     {c: few[c].to_numpy(dtype=object if c == "plan" else None)
                      for c in few}, n, profile)):
        assert list(rows["feature"]) == ["*"] and not rows["flagged"].any()
        detail = json.loads(rows["detail"].iloc[0])
        assert detail["too_few_rows"] and detail["rows"] == n and detail["min_rows"] == 100
        assert "too few rows" in detail["error"]
    # at the minimum the shift is measured and flagged
    enough = customers(n=100, seed=1, tenure_shift=300.0)
    assert by_feature(entrypoints.drift(enough, profile))["tenure_months"].flagged


def test_too_few_series_are_recorded_as_such():
    levels = list(np.geomspace(10, 10_000, 40))
    profile = drift.series_profile(series(levels), min_rows=5)
    rows = entrypoints.drift(series([levels[0] * 100] * 1), profile)
    assert list(rows["feature"]) == ["*"] and not rows["flagged"].any()
    assert json.loads(rows["detail"].iloc[0])["series"] == 1
def test_drift_counted_batch_by_batch_is_the_drift_of_the_whole_input():
    """Scoring adds each batch to a Tally (issue 27): PSI and detail are those of all
    the rows at once, with NULLs, unseen categories, coded columns, a column of the wrong
    type and a missing one; only the mean adds up batch sums."""
    from sqlml.kinds.drift_columns import Tally, drift_rows

    base, other = customers(seed=0), customers(n=3001, seed=2, tenure_shift=12.0)
    profile = churn_profile(base)
    profile["features"]["gone"] = profile["features"]["plan"]
    other.loc[::7, "tenure_months"] = np.nan
    other.loc[::11, "plan"] = None
    other.loc[5, "plan"] = "enterprise"
    columns = {"tenure_months": other["tenure_months"].to_numpy(),
               "monthly_charges": other["monthly_charges"].round(1).astype(str).to_numpy(
                   dtype=object),  # text where training saw numbers
               "plan": other["plan"].to_numpy(dtype=object)}
    whole = drift_rows(columns, len(other), profile)
    tally = Tally(profile)
    for start in range(0, len(other), 1000):
        part = {k: v[start:start + 1000] for k, v in columns.items()}
        n = len(part["plan"])
        coded = {"plan": Coded.of(part["plan"].tolist())} if start else None
        tally.add(part, n, coded)
    batched = tally.rows()
    assert [r[0] for r in batched] == [r[0] for r in whole] and len(whole) == 4
    for (f, psi1, flag1, d1), (_, psi2, flag2, d2) in zip(whole, batched, strict=True):
        d1, d2 = json.loads(d1), json.loads(d2)
        mean1, mean2 = d1.pop("mean_actual", None), d2.pop("mean_actual", None)
        assert (psi1 is None and psi2 is None) or psi1 == pytest.approx(psi2, abs=1e-12), f
        assert (flag1, d1) == (flag2, d2), f
        assert (mean1 is None and mean2 is None) or mean1 == pytest.approx(mean2, rel=1e-12)
    detail = {r[0]: json.loads(r[3]) for r in whole}
    assert detail["plan"]["unseen"] == ["enterprise"] and detail["gone"]["missing"]


def test_drift_counts_carried_as_json_between_batches_give_the_same_rows():
    """SQL Server runs each batch in a new process: Tally.state() carries the counts."""
    from sqlml.kinds.drift_columns import Tally

    base, other = customers(seed=0), customers(n=999, seed=3)
    profile = churn_profile(base)
    other.loc[::5, "plan"] = None
    columns = {"tenure_months": other["tenure_months"].to_numpy(),
               "monthly_charges": other["monthly_charges"].to_numpy(),
               "plan": other["plan"].to_numpy(dtype=object)}
    kept, state = Tally(profile), None
    for start in range(0, 999, 400):
        part = {k: v[start:start + 400] for k, v in columns.items()}
        kept.add(part, len(part["plan"]))
        carried = Tally.from_state(json.dumps(profile), state).add(part, len(part["plan"]))
        state = carried.state()
    assert Tally.from_state(profile, state).rows() == kept.rows()
    assert Tally.from_state(profile, None).rows_seen == 0
