"""Issue 22, finding 8: every SQL example of the docs runs (or, where it cannot here,
is checked), against a deployed database with trained models (tests/doc_examples.py
says which fence does what; docs/README.md tells writers)."""

from __future__ import annotations

import json

import pytest
import sqlalchemy as sa
import sqlfluff
from sqlfluff.api.simple import APIParsingError

from doc_examples import LOOKS_LIKE_SQL, SQL_LANGUAGES, examples
from sql_helpers import call
from sqlml.demo import churn_data, series_data

ALL = examples()
SQL = [e for e in ALL if e.language in SQL_LANGUAGES]
ON_POSTGRES = [e for e in SQL if e.language in ("postgresql", "sql")]
AS_TSQL = [e for e in SQL if e.language in ("tsql", "sql")]
CHURN_FAST = json.dumps({"epochs": 2, "hidden_units": [8], "patience": 1, "ensemble_size": 1,
                         "booster": "none"})
FORECAST_FAST = json.dumps({"ensemble": 1, "units": 4, "epochs": 2, "patience": 1,
                            "lookback": 24, "validation_origins": 2})


@pytest.mark.unit
def test_the_docs_have_examples_of_every_language():
    assert {e.language for e in SQL} == set(SQL_LANGUAGES)
    assert len(SQL) >= 30


@pytest.mark.unit
@pytest.mark.parametrize("example", [e for e in ALL if e.language not in SQL_LANGUAGES],
                         ids=lambda e: e.label)
def test_no_sql_hides_in_a_fence_without_its_language(example):
    first = next((line for line in example.body.splitlines()
                  if line.strip() and not line.strip().startswith("--")), "")
    assert not LOOKS_LIKE_SQL.match(first), (
        f"{example.label}: SQL in a ```{example.language} fence: use ```postgresql, "
        "```tsql or ```sql (docs/README.md)")


@pytest.mark.unit
@pytest.mark.parametrize("example", AS_TSQL, ids=lambda e: e.label)
def test_every_tsql_example_parses(example):
    try:
        sqlfluff.parse(example.body, dialect="tsql")
    except APIParsingError as exc:
        pytest.fail(f"{example.label} does not parse as T-SQL: {exc}")


@pytest.fixture(scope="module")
def documented(pg_engine):
    """The database the docs assume: demo customers and series, two churn versions
    (scored with reasons) and a forecaster (forecasting), trained fast."""
    from conftest import DATA_TABLES

    with pg_engine.begin() as connection:
        connection.exec_driver_sql(f"TRUNCATE {', '.join(DATA_TABLES)} RESTART IDENTITY CASCADE")
    churn_data.load_customers(pg_engine, 400)
    series_data.load_series(pg_engine, n_series=6, length=60, min_length=60, seed=4)
    for _ in range(2):
        call(pg_engine, "SELECT * FROM ml.train_churn_model(model_name => 'churn', "
                        "options => :o)", o=CHURN_FAST)
    call(pg_engine, "SELECT * FROM ml.score_churn(model_name => 'churn', explain => 2)")
    call(pg_engine, "SELECT * FROM ml.train_forecaster(model_name => 'forecast', "
                    "options => :o)", o=FORECAST_FAST)
    call(pg_engine, "SELECT * FROM ml.forecast(model_name => 'forecast')")
    return pg_engine


@pytest.mark.postgres
@pytest.mark.slow
@pytest.mark.parametrize("example", ON_POSTGRES, ids=lambda e: e.label)
def test_every_postgresql_example_runs(documented, example):
    with documented.connect() as connection:
        for statement in example.statements:
            sql = f"EXPLAIN {statement}" if example.parse_only else statement
            try:
                connection.exec_driver_sql(sql.replace("%", "%%")).all()
            except sa.exc.DBAPIError as exc:
                pytest.fail(f"{example.label}: {statement!r} failed: {exc.orig}")
        connection.rollback()


@pytest.mark.postgres
@pytest.mark.slow
def test_the_read_queries_return_rows(documented):
    """The docs' reads of the views find what the routines wrote (quick start, analysts)."""
    reads = [s for e in ON_POSTGRES if not e.parse_only for s in e.statements
             if s.lstrip().upper().startswith("SELECT") and "ml." not in s
             and "churn_probability > 0.7" not in s and "north/basic" not in s]
    assert len(reads) >= 8
    with documented.connect() as connection:
        empty = [s for s in reads if not connection.exec_driver_sql(s.replace("%", "%%")).all()]
    assert empty == []
