"""Every T-SQL procedure's ``@script`` through SQL Server's own Python language extension.

Each ``procedures/mssql`` file that calls ``sp_execute_external_script`` runs here
(test ids start with its file name), on the rows the contract harness uses
(tests/tsql_contract: the PostgreSQL engine's features, typed as sqlml's SQL Server
DDL types them) and on rows typed as a SQL Server table sends them: INT with NULLs,
BIT, DATE, DATETIME2, NVARCHAR with non-ASCII text, VARBINARY(MAX) blobs, NaN. What
comes back is held to the procedure's ``WITH RESULT SETS`` and OUTPUT parameter
types (host.problems); errors must come back in ``@script_error``, as each procedure
THROWs them.
"""

from __future__ import annotations

import datetime as dt
import json

import pytest

from sqlml.demo import churn_data, series_data
from sqlml.demo.bulk import insert_frame
from sqlml.paths import project_root
from tsql_contract.harness import emptied_after, kind_spec, postgres_input
from tsql_contract.tsql import read_calls

from .host import problems

pytestmark = pytest.mark.langext

CHURN_FAST = json.dumps({"epochs": 2, "hidden_units": [8], "patience": 1, "ensemble_size": 1,
                         "booster": "none"})
FORECAST_FAST = json.dumps({"ensemble": 1, "units": 4, "epochs": 2, "patience": 1,
                            "lookback": 24, "validation_origins": 2, "refit": False})
CUSTOMERS = 300
SERIES = 4
CHURN_INPUT = "SELECT * FROM features.churn_features"
FORECAST_INPUT = "SELECT * FROM features.forecast_input"
MSSQL = project_root() / "procedures" / "mssql"


def external_script_files() -> list[str]:
    return sorted(p.name for p in MSSQL.glob("*.sql") if read_calls(p))


def call_of(file_name: str, index: int = 0):
    return read_calls(MSSQL / file_name)[index]


def run(langext, file_name: str, *, index: int = 0, columns=(), rows=(), params=None):
    call = call_of(file_name, index)
    result = langext.run(call, columns=columns, rows=rows, params=params)
    return call, result


def assert_accepted(call, result) -> None:
    found = problems(call, result)
    assert not found, "\n".join(found) + f"\nmessages: {result.messages[-2000:]}"


# ---------------------------------------------------------------- inputs


@pytest.fixture(scope="module")
def customers(pg_engine):
    frame, _ = churn_data.customers(CUSTOMERS, seed=29)
    insert_frame(pg_engine, "features.customers", frame)
    yield from emptied_after(pg_engine, "features.customers")


@pytest.fixture(scope="module")
def churn_rows(customers):
    """The contract harness's churn rows, with the SQL Server type of each column."""
    columns, rows = postgres_input(customers, CHURN_INPUT)
    return [(name, str(sql_type)) for name, sql_type in columns], rows


@pytest.fixture(scope="module")
def series(pg_engine):
    series_data.load_series(pg_engine, n_series=SERIES, length=72, min_length=72, seed=5)
    yield from emptied_after(pg_engine, "features.monthly_usage")


@pytest.fixture(scope="module")
def series_rows(series):
    columns, rows = postgres_input(series, FORECAST_INPUT)
    return [(name, str(sql_type)) for name, sql_type in columns], rows


TYPED_CHURN_COLUMNS = [
    ("customer_id", "NVARCHAR(64)", False), ("tenure_months", "INT"),
    ("monthly_charges", "FLOAT"), ("paperless_billing", "BIT"),
    ("contract", "NVARCHAR(32)"), ("signup_date", "DATE"), ("churned", "BIT", False),
]


def typed_churn_rows(n: int = 240) -> list[tuple]:
    """A SQL Server customer table: non-ASCII keys and categories, INT and BIT with
    NULLs, a FLOAT NaN (a NULL: SQL Server's FLOAT holds no NaN), a DATE column."""
    contracts = ["mensuel", "annuel", "biennal", "月額"]
    rows = []
    for i in range(n):
        tenure = None if i % 11 == 0 else (i * 7) % 72 + 1
        churned = (i % 3 == 0) != (tenure is not None and tenure > 40)
        rows.append((
            f"kunde-{i:03d}-Ærø-é", tenure, float("nan") if i % 13 == 0 else 20.0 + (i % 50),
            None if i % 17 == 0 else bool(i % 2), contracts[i % 4],
            dt.date(2020, 1, 1) + dt.timedelta(days=i), churned,
        ))
    return rows


def train(langext, kind: str, columns, rows, options: str, spec: str):
    return run(langext, "ops.run_train.sql", columns=columns, rows=rows,
               params={"kind": kind, "spec": spec, "options": options})


@pytest.fixture(scope="module")
def churn_model(langext, churn_rows, customers):
    columns, rows = churn_rows
    return train(langext, "churn", columns, rows, CHURN_FAST, kind_spec(customers, "churn"))


@pytest.fixture(scope="module")
def typed_churn_model(langext, customers):
    return train(langext, "churn", TYPED_CHURN_COLUMNS, typed_churn_rows(), CHURN_FAST,
                 kind_spec(customers, "churn"))


@pytest.fixture(scope="module")
def forecaster(langext, series_rows, series):
    columns, rows = series_rows
    return train(langext, "forecaster", columns, rows, FORECAST_FAST,
                 kind_spec(series, "forecaster"))


def blobs(trained) -> dict:
    _call, result = trained
    assert result.params["script_error"] is None, result.params["script_error"]
    registration = json.loads(result.params["registration"])
    return {"onnx_artifact": result.params["onnx_artifact"],
            "onnx_sha256": registration["onnx_sha256"],
            "profile": json.dumps(registration["feature_schema"]["profile"])}


# ---------------------------------------------------------------- coverage


def test_every_external_script_procedure_has_a_case_here():
    """A new procedure with an sp_execute_external_script call must get a test id here."""
    import inspect
    import sys

    source = inspect.getsource(sys.modules[__name__])
    assert external_script_files(), "no procedure calls sp_execute_external_script?"
    for name in external_script_files():
        assert f'["{name}"]' in source, f"{name} has no langext case"


# ---------------------------------------------------------------- ml.runtime_info.sql


@pytest.mark.parametrize("file_name", ["ml.runtime_info.sql"])
def test_runtime_info_returns_its_declared_rows(langext, file_name):
    call, result = run(langext, file_name)
    assert_accepted(call, result)
    assert result.params["script_error"] is None
    components = dict(result.records())
    assert {"python", "numpy", "pandas", "onnxruntime"} <= set(components)
    assert components["python"].startswith("3.")


# ---------------------------------------------------------------- ops.run_train.sql


@pytest.mark.parametrize("file_name", ["ops.run_train.sql"])
def test_train_churn_on_the_contract_rows(churn_model, file_name):
    call, result = churn_model
    assert call.procedure == file_name.removesuffix(".sql")
    assert_accepted(call, result)
    out = result.params
    assert out["script_error"] is None, out["script_error"]
    assert out["artifact"][:2] == b"PK" and out["onnx_artifact"][:2] == b"PK"
    registration = json.loads(out["registration"])
    assert registration["trained_rows"] == CUSTOMERS
    assert "epoch 1/2" in result.messages  # progress reaches SQL Server's messages


@pytest.mark.parametrize("file_name", ["ops.run_train.sql"])
def test_train_churn_on_sql_server_typed_rows(typed_churn_model, file_name):
    """INT with NULLs (float64 NaN in the frame), BIT with NULLs (object of bool/None),
    a DATE column (datetime.date objects), non-ASCII NVARCHAR text and a NaN."""
    call, result = typed_churn_model
    assert_accepted(call, result)
    assert result.params["script_error"] is None, result.params["script_error"]
    registration = json.loads(result.params["registration"])
    assert registration["trained_rows"] == len(typed_churn_rows())
    schema = registration["feature_schema"]
    features = set(schema["numeric"]) | set(schema["categorical"])
    assert {"tenure_months", "monthly_charges", "paperless_billing", "contract"} <= features


@pytest.mark.parametrize("file_name", ["ops.run_train.sql"])
def test_train_forecaster_on_the_contract_rows(forecaster, file_name):
    call, result = forecaster
    assert_accepted(call, result)
    assert result.params["script_error"] is None, result.params["script_error"]
    registration = json.loads(result.params["registration"])
    assert registration["trained_rows"] == SERIES * 72
    # The registry's per-series record of the base and what the network added, as
    # SQL Server's registry stores it (monthly: the network corrects its window's Theta).
    record = registration["metrics"]["choice"]
    assert record["network_corrects"] == "window_theta"
    assert [s["base"] for s in record["series"]] == [record["candidate"]] * SERIES
    assert all("network_added_backtest_mase" in s for s in record["series"])


@pytest.mark.parametrize("file_name", ["ops.run_train.sql"])
def test_train_model_carries_a_bad_option_out_in_script_error(langext, churn_rows, customers,
                                                               file_name):
    columns, rows = churn_rows
    call, result = train(langext, "churn", columns, rows[:50], json.dumps({"no_such": 1}),
                         kind_spec(customers, "churn"))
    assert_accepted(call, result)
    assert "no_such" in result.params["script_error"]
    assert result.params["artifact"] is None and result.params["onnx_artifact"] is None


# ---------------------------------------------------------------- ops.run_score_churn.sql


@pytest.mark.parametrize("file_name", ["ops.run_score_churn.sql"])
def test_score_churn_on_the_contract_rows(langext, churn_rows, churn_model, file_name):
    columns, rows = churn_rows
    call, result = run(langext, file_name, columns=columns, rows=rows, params=blobs(churn_model))
    assert_accepted(call, result)
    assert result.params["script_error"] is None, result.params["script_error"]
    ids, probabilities = result.data
    key = [name for name, _ in columns].index("customer_id")
    assert ids == [str(row[key]) for row in rows]  # BIGINT ids leave as '17', not '17.0'
    assert all(0 <= p <= 1 for p in probabilities)
    drift = json.loads(result.params["drift"])
    assert drift and not any(d["flagged"] for d in drift)


@pytest.mark.parametrize("file_name", ["ops.run_score_churn.sql"])
def test_score_churn_with_explain_on_the_contract_rows(langext, churn_rows, churn_model,
                                                        file_name):
    columns, rows = churn_rows
    call, result = run(langext, file_name, index=1, columns=columns, rows=rows[:40],
                       params={**blobs(churn_model), "explain": 2})
    assert_accepted(call, result)
    assert result.params["script_error"] is None, result.params["script_error"]
    records = result.records()
    scores = [r for r in records if r[2] is None]
    reasons = [r for r in records if r[2] is not None]
    assert len(scores) == 40 and all(r[1] is not None for r in scores)
    assert len(reasons) == 80 and {r[2] for r in reasons} == {1.0, 2.0}
    assert all(r[1] is None and r[3] for r in reasons)


@pytest.mark.parametrize("file_name", ["ops.run_score_churn.sql"])
def test_score_churn_on_sql_server_typed_rows(langext, typed_churn_model, file_name):
    """Non-ASCII NVARCHAR keys come back as they went in (UTF-8 CHAR out of the
    extension); INT/BIT NULLs and NaN score; no row is lost or reordered."""
    rows = typed_churn_rows(60)
    columns = [c for c in TYPED_CHURN_COLUMNS if c[0] != "churned"]
    call, result = run(langext, file_name, columns=columns, rows=[r[:-1] for r in rows],
                       params=blobs(typed_churn_model))
    assert_accepted(call, result)
    assert result.params["script_error"] is None, result.params["script_error"]
    assert result.data[0] == [r[0] for r in rows]
    assert all(0 <= p <= 1 for p in result.data[1])


@pytest.mark.parametrize("file_name", ["ops.run_score_churn.sql"])
def test_score_churn_with_explain_on_sql_server_typed_rows(langext, typed_churn_model,
                                                           file_name):
    rows = typed_churn_rows(20)
    columns = [c for c in TYPED_CHURN_COLUMNS if c[0] != "churned"]
    call, result = run(langext, file_name, index=1, columns=columns,
                       rows=[r[:-1] for r in rows],
                       params={**blobs(typed_churn_model), "explain": 3})
    assert_accepted(call, result)
    assert result.params["script_error"] is None, result.params["script_error"]
    values = [r[4] for r in result.records() if r[2] is not None]
    assert len(values) == 60
    assert any(v is not None and "Ærø" not in v for v in values)  # text of each reason


@pytest.mark.parametrize("file_name", ["ops.run_score_churn.sql"])
@pytest.mark.parametrize("index", [0, 1], ids=["plain", "explained"])
def test_score_churn_carries_a_wrong_hash_out_with_no_rows(langext, churn_rows, churn_model,
                                                           file_name, index):
    columns, rows = churn_rows
    params = {**blobs(churn_model), "onnx_sha256": "0" * 64}
    if index:
        params["explain"] = 2
    call, result = run(langext, file_name, index=index, columns=columns, rows=rows[:10],
                       params=params)
    assert_accepted(call, result)
    assert "sha256" in result.params["script_error"]
    assert result.rows == 0 and result.params["drift"] is None


# ---------------------------------------------------------------- ops.run_forecast.sql


@pytest.mark.parametrize("file_name", ["ops.run_forecast.sql"])
@pytest.mark.parametrize("horizon", [None, 3])
def test_forecast_on_the_contract_rows(langext, series_rows, forecaster, file_name, horizon):
    columns, rows = series_rows
    call, result = run(langext, file_name, columns=columns, rows=rows,
                       params={**blobs(forecaster), "horizon": horizon})
    assert_accepted(call, result)
    assert result.params["script_error"] is None, result.params["script_error"]
    steps = horizon or 12
    assert result.rows == SERIES * steps
    assert result.c_types[1] == "SQL_C_TYPE_TIMESTAMP"  # a DATETIME2(0) period
    assert sorted(set(result.data[2])) == list(range(1, steps + 1))


def _as_period(period_type: str, value):
    if period_type == "DATE":
        return value.date() if isinstance(value, dt.datetime) else value
    return value if isinstance(value, dt.datetime) else dt.datetime(value.year, value.month,
                                                                   value.day)


@pytest.mark.parametrize("file_name", ["ops.run_forecast.sql"])
@pytest.mark.parametrize("period_type", ["DATE", "DATETIME2"])
def test_forecast_on_sql_server_typed_periods(langext, series_rows, forecaster, file_name,
                                              period_type):
    """A DATE period arrives as datetime.date objects, a DATETIME2 as datetime64[us];
    either way the forecasts leave as timestamps of the same series (NVARCHAR keys)."""
    columns, rows = series_rows
    names = [name for name, _ in columns]
    period = names.index("period")
    typed_columns = [(name, period_type if name == "period" else sql_type)
                     for name, sql_type in columns]
    typed_rows = [tuple(_as_period(period_type, v) if i == period else v
                        for i, v in enumerate(row)) for row in rows]
    call, result = run(langext, file_name, columns=typed_columns, rows=typed_rows,
                       params={**blobs(forecaster), "horizon": 2})
    assert_accepted(call, result)
    assert result.params["script_error"] is None, result.params["script_error"]
    assert result.rows == SERIES * 2
    assert all(isinstance(p, dt.datetime) for p in result.data[1])


@pytest.mark.parametrize("file_name", ["ops.run_forecast.sql"])
def test_forecast_carries_a_wrong_hash_out_with_no_rows(langext, series_rows, forecaster,
                                                        file_name):
    columns, rows = series_rows
    call, result = run(langext, file_name, columns=columns, rows=rows,
                       params={**blobs(forecaster), "onnx_sha256": "0" * 64, "horizon": 2})
    assert_accepted(call, result)
    assert "sha256" in result.params["script_error"]
    assert result.rows == 0


# ---------------------------------------------------------------- ops.run_evaluate.sql


def _forecasts_as_for_json(columns, rows, last: int = 3) -> str:
    """The version's forecasts as ops.run_evaluate hands them over (FOR JSON PATH:
    DATETIME2 periods as ISO text): the last ``last`` periods of each series, 10% high,
    so the realised metrics are known to be above zero."""
    names = [name for name, _ in columns]
    sid, period, value = (names.index(n) for n in ("series_id", "period", "value"))
    by_series: dict = {}
    for row in rows:
        by_series.setdefault(str(row[sid]), []).append(row)
    records = []
    for series_id, series_rows_ in by_series.items():
        for row in sorted(series_rows_, key=lambda r: r[period])[-last:]:
            stamp = row[period]
            stamp = stamp if isinstance(stamp, dt.datetime) else dt.datetime(
                stamp.year, stamp.month, stamp.day)
            records.append({"series_id": series_id, "period": stamp.isoformat(),
                            "forecast": float(row[value]) * 1.1,
                            "lower": float(row[value]) * 0.5, "upper": float(row[value]) * 1.5})
    return json.dumps(records)


@pytest.mark.parametrize("file_name", ["ops.run_evaluate.sql"])
def test_evaluate_churn_on_the_contract_rows(langext, churn_rows, churn_model, customers,
                                             file_name):
    columns, rows = churn_rows
    trained = blobs(churn_model)
    registration = json.loads(churn_model[1].params["registration"])
    call, result = run(langext, file_name, index=0, columns=columns, rows=rows, params={
        "onnx_artifact": trained["onnx_artifact"], "onnx_sha256": trained["onnx_sha256"],
        "recorded": json.dumps(registration["metrics"]),
        "spec_input": json.dumps(json.loads(kind_spec(customers, "churn"))["input"])})
    assert_accepted(call, result)
    assert result.params["script_error"] is None, result.params["script_error"]
    assert result.params["rows"] == len(rows)
    assert json.loads(result.params["metrics"])


@pytest.mark.parametrize("file_name", ["ops.run_evaluate.sql"])
def test_evaluate_churn_carries_a_wrong_hash_out(langext, churn_rows, churn_model, customers,
                                                 file_name):
    columns, rows = churn_rows
    trained = blobs(churn_model)
    call, result = run(langext, file_name, index=0, columns=columns, rows=rows[:10], params={
        "onnx_artifact": trained["onnx_artifact"], "onnx_sha256": "0" * 64, "recorded": "{}",
        "spec_input": json.dumps(json.loads(kind_spec(customers, "churn"))["input"])})
    assert_accepted(call, result)
    assert "sha256" in result.params["script_error"]
    assert result.params["metrics"] is None


@pytest.mark.parametrize("file_name", ["ops.run_evaluate.sql"])
def test_evaluate_forecaster_on_the_contract_rows(langext, series_rows, file_name):
    columns, rows = series_rows
    call, result = run(langext, file_name, index=1, columns=columns, rows=rows, params={
        "forecasts": _forecasts_as_for_json(columns, rows), "season": 12})
    assert_accepted(call, result)
    assert result.params["script_error"] is None, result.params["script_error"]
    assert result.params["rows"] == SERIES * 3
    metrics = json.loads(result.params["metrics"])
    assert metrics, metrics


@pytest.mark.parametrize("file_name", ["ops.run_evaluate.sql"])
def test_evaluate_forecaster_without_forecasts_says_so(langext, series_rows, file_name):
    columns, rows = series_rows
    call, result = run(langext, file_name, index=1, columns=columns, rows=rows[:20],
                       params={"forecasts": None, "season": None})
    assert_accepted(call, result)
    assert "no forecasts" in result.params["script_error"]


# ---------------------------------------------------------------- ops.run_import.sql
# ---------------------------------------------------------------- ops.run_predict_model.sql

IMPORTED_TABLE = "features.imported_langext"
IMPORTED_INPUT = f"SELECT * FROM {IMPORTED_TABLE}"
IMPORTED_OPTIONS = {"task": "classification", "id_column": "customer_id"}


@pytest.fixture(scope="module")
def imported(pg_engine):
    """An sklearn pipeline as ONNX (ZipMap on), and held-out rows typed for SQL Server."""
    import imported_models as im

    frame, label = im.customers(300, seed=37)
    with pg_engine.begin() as connection:
        connection.exec_driver_sql(f"DROP TABLE IF EXISTS {IMPORTED_TABLE}")
        connection.exec_driver_sql(
            f"CREATE TABLE {IMPORTED_TABLE} (customer_id bigint PRIMARY KEY, plan text, "
            "region text, tenure float8, monthly_charges float8, support_calls integer)")
    held = frame.iloc[200:].reset_index(drop=True)
    insert_frame(pg_engine, IMPORTED_TABLE, held)
    pipeline, blob = im.sklearn_pipeline(frame.iloc[:200], label[:200])
    columns, rows = postgres_input(pg_engine, IMPORTED_INPUT)
    yield (pipeline, blob, held, [(name, str(sql_type)) for name, sql_type in columns], rows,
           kind_spec(pg_engine, "imported"))
    with pg_engine.begin() as connection:
        connection.exec_driver_sql(f"DROP TABLE IF EXISTS {IMPORTED_TABLE}")


def _import(langext, imported, index=0, options=IMPORTED_OPTIONS, **kwargs):
    _pipeline, blob, _held, _columns, _rows, spec = imported
    return run(langext, "ops.run_import.sql", index=index, **kwargs,
               params={"model": blob, "spec": spec, "options": json.dumps(options)})


@pytest.mark.parametrize("file_name", ["ops.run_import.sql"])
def test_import_returns_both_blobs_through_the_extension(langext, imported, file_name):
    call, result = _import(langext, imported)
    assert_accepted(call, result)
    assert result.params["script_error"] is None, result.params["script_error"]
    assert result.params["artifact"] == imported[1]  # VARBINARY(MAX) out, byte for byte
    registration = json.loads(result.params["registration"])
    assert registration["feature_schema"]["classes"] == [0, 1]
    assert registration["trained_rows"] == 0


@pytest.mark.parametrize("file_name", ["ops.run_import.sql"])
def test_import_profiles_the_typed_reference_rows(langext, imported, file_name):
    _pipeline, _blob, held, columns, rows, _spec = imported
    call, result = _import(langext, imported, index=1, columns=columns, rows=rows,
                           options={**IMPORTED_OPTIONS, "reference_query": IMPORTED_INPUT})
    assert_accepted(call, result)
    assert result.params["script_error"] is None, result.params["script_error"]
    registration = json.loads(result.params["registration"])
    assert registration["trained_rows"] == len(held)
    assert "tenure" in registration["feature_schema"]["profile"]["features"]


@pytest.mark.parametrize("file_name", ["ops.run_import.sql"])
def test_import_carries_a_bad_option_out_in_script_error(langext, imported, file_name):
    call, result = _import(langext, imported, options={**IMPORTED_OPTIONS, "task": "dreaming"})
    assert_accepted(call, result)
    assert "task" in result.params["script_error"]
    assert result.params["registration"] is None


@pytest.mark.parametrize("file_name", ["ops.run_predict_model.sql"])
def test_predict_matches_predict_proba_through_the_extension(langext, imported, file_name):
    import numpy as np

    pipeline, _blob, held, columns, rows, _spec = imported
    _call, imported_result = _import(langext, imported)
    registration = json.loads(imported_result.params["registration"])
    call, result = run(langext, file_name, columns=columns, rows=rows, params={
        "onnx_artifact": imported_result.params["onnx_artifact"],
        "onnx_sha256": registration["onnx_sha256"],
        "feature_schema": json.dumps(registration["feature_schema"])})
    assert_accepted(call, result)
    assert result.params["script_error"] is None, result.params["script_error"]
    row_ids, scores = result.data[0], result.data[1]
    assert row_ids == [str(i) for i in held["customer_id"]]
    expected = pipeline.predict_proba(held.drop(columns=["customer_id"]))[:, 1]
    np.testing.assert_allclose(scores, expected, atol=1e-5)
    assert json.loads(result.params["profile"])  # no reference query: this run's profile


@pytest.mark.parametrize("file_name", ["ops.run_predict_model.sql"])
def test_predict_carries_a_wrong_hash_out_with_no_rows(langext, imported, file_name):
    _pipeline, _blob, _held, columns, rows, _spec = imported
    _call, imported_result = _import(langext, imported)
    registration = json.loads(imported_result.params["registration"])
    call, result = run(langext, file_name, columns=columns, rows=rows[:5], params={
        "onnx_artifact": imported_result.params["onnx_artifact"], "onnx_sha256": "0" * 64,
        "feature_schema": json.dumps(registration["feature_schema"])})
    assert_accepted(call, result)
    assert "sha256" in result.params["script_error"]
    assert result.rows == 0
