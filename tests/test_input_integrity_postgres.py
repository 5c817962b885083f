"""What an input query hands over arrives exactly, or is refused by name (issue 22):
keys round-trip byte for byte, the caller's query is one SELECT by the parser's
word, periods stay in the caller's calendar, non-finite and unsupported values are
refused naming the column. On the embedded PostgreSQL, through the public routines.

One churn model and one forecaster are trained once for the module (tiny options);
every check after that is a scoring or forecasting call, or a refusal."""

import json

import pytest
import sqlalchemy as sa

from sql_helpers import call, count, load_customers
from sql_helpers import train as train_routine
from sqlml.demo import series_data

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

CHURN_TINY = json.dumps({"epochs": 1, "hidden_units": [4], "patience": 1, "ensemble_size": 1,
                         "booster": "none", "numeric_bins": 0, "refit": False})
FORECAST_TINY = json.dumps({"ensemble": 1, "units": 4, "epochs": 0, "lookback": 24,
                            "validation_origins": 1, "horizon": 3})
FEATURES = "c.tenure_months, c.monthly_charges, c.contract"
SERIES = "SELECT series_id, period, value FROM features.monthly_usage"


@pytest.fixture(scope="module")
def models(pg_engine):
    with pg_engine.begin() as c:
        c.exec_driver_sql("TRUNCATE features.customers, features.monthly_usage, "
                          "predictions.churn_scores, predictions.churn_reasons, "
                          "predictions.forecasts, ops.runs, models.registry "
                          "RESTART IDENTITY CASCADE")
    load_customers(pg_engine, 300, seed=5)
    series_data.load_series(pg_engine, n_series=3, length=60, min_length=60, seed=2)
    train_routine(pg_engine, "train_churn_model", "keys",
                  f"SELECT c.customer_id, {FEATURES}, c.churned FROM features.customers AS c",
                  CHURN_TINY)
    train_routine(pg_engine, "train_forecaster", "series", SERIES, FORECAST_TINY)
    return pg_engine


def keyed(ids: list[str], id_type: str = "text") -> str:
    """A scoring query whose customer_id column holds ``ids`` (SQL literals) as ``id_type``."""
    values = ", ".join(f"({n + 1}, {v})" for n, v in enumerate(ids))
    return (f"SELECT k.id::{id_type} AS customer_id, {FEATURES} FROM (VALUES {values}) AS k (n, id)"
            " JOIN features.customers AS c ON c.customer_id = k.n")


def score(engine, query, explain=0, name="keys"):
    [row] = call(engine, "SELECT * FROM ml.score_churn(model_name => :m, input_query => :q,"
                         " explain => :e)", m=name, q=query, e=explain)
    return row


def written(engine, table, run_id, column="customer_id"):
    with engine.connect() as c:
        return sorted(c.execute(sa.text(f"SELECT DISTINCT {column} FROM {table} "
                                        "WHERE run_id = :r"), {"r": run_id}).scalars())


# --- finding 1: keys come back exactly ----------------------------------------------


TEXT_KEYS = [" 42 ", "42", "x\n", "x", "\t7", "7", "é ", "a\\b", ""]


@pytest.mark.parametrize("extra", [[], ["\x1e"], ["y\x1f"]], ids=["payload", "null-mark",
                                                                  "separator"])
def test_text_keys_come_back_byte_for_byte_in_scores_and_reasons(models, extra):
    """Blanks, newlines and control characters are part of a key: nothing is trimmed,
    so ids that differ only there are different customers. (The control characters
    the text payloads use push the reader onto its other paths.)"""
    keys = TEXT_KEYS + extra
    literals = ["E'" + k.replace("\\", "\\\\").replace("'", "''").replace("\n", "\\n")
                .replace("\t", "\\t").replace("\x1e", "\\x1e").replace("\x1f", "\\x1f") + "'"
                for k in keys]
    result = score(models, keyed(literals), explain=1)
    assert result["rows_scored"] == len(keys)
    assert written(models, "predictions.churn_scores", result["run_id"]) == sorted(keys)
    assert written(models, "predictions.churn_reasons", result["run_id"]) == sorted(keys)


@pytest.mark.parametrize("id_type", ["numeric(20,0)", "numeric", "bigint", "decimal(20,0)"])
def test_integer_and_numeric_keys_keep_every_digit(models, id_type):
    """19- and 20-digit keys one apart: as float8 they would be one customer."""
    big = ["9007199254740993", "9007199254740992", "9223372036854775807", "-42"]
    if id_type != "bigint":
        big += ["12345678901234567891", "12345678901234567890"]
    result = score(models, keyed(big, id_type))
    assert written(models, "predictions.churn_scores", result["run_id"]) == sorted(big)


@pytest.mark.parametrize("id_type, literal", [
    ("date", "DATE '2024-01-05'"), ("boolean", "true"), ("float8", "1.5"),
    ("timestamptz", "now()"), ("bytea", "'\\x00'::bytea"), ("int[]", "ARRAY[1]"),
])
def test_keys_without_an_exact_text_are_refused_naming_the_column(models, id_type, literal):
    with pytest.raises(sa.exc.DBAPIError, match="column 'customer_id' is"):
        score(models, keyed([literal, literal], id_type))


def test_training_keeps_keys_that_differ_only_in_blanks(models):
    """Training refuses duplicate ids; ' 7' and '7' are not duplicates."""
    query = ("SELECT CASE WHEN c.customer_id % 2 = 0 THEN ' ' ELSE '' END"
             f" || (c.customer_id / 2)::text AS customer_id, {FEATURES}, c.churned"
             " FROM features.customers AS c")
    row = train_routine(models, "train_churn_model", "blank_keys", query, CHURN_TINY)
    assert row["status"] in ("active", "candidate")


def forecast_rows(engine, query):
    [row] = call(engine, "SELECT * FROM ml.forecast(model_name => 'series', input_query => :q)",
                 q=query)
    return written(engine, "predictions.forecasts", row["run_id"], "series_id")


RANKED = "dense_rank() OVER (ORDER BY series_id)"


def test_series_keys_come_back_exactly_in_forecasts(models):
    text = (f"SELECT CASE {RANKED} WHEN 1 THEN ' A' WHEN 2 THEN 'A' ELSE E'A\\n' END"
            " AS series_id, period, value FROM features.monthly_usage")
    assert forecast_rows(models, text) == sorted([" A", "A", "A\n"])
    big = (f"SELECT (12345678901234567889 + {RANKED})::numeric(20,0) AS series_id, period, value"
           " FROM features.monthly_usage")
    assert forecast_rows(models, big) == [f"1234567890123456789{d}" for d in "012"]
    with pytest.raises(sa.exc.DBAPIError, match="column 'series_id' is date"):
        forecast_rows(models, "SELECT period AS series_id, period, value"
                              " FROM features.monthly_usage")


# --- finding 3: the input query is one SELECT, by the parser's word ---------------------


BREAKOUTS = [
    "SELECT 1 AS x) AS a; SELECT pg_catalog.setval('public.probe_seq', 42); "
    "SELECT * FROM (SELECT 1 AS x",
    "SELECT 1 AS x) AS a; DELETE FROM public.probe; SELECT * FROM (SELECT 1 AS x",
    "SELECT 1 AS x; DELETE FROM public.probe",
    "SELECT 1 AS x) AS a; DELETE FROM public.probe; --",
    "WITH d AS (DELETE FROM public.probe RETURNING n) SELECT n AS x FROM d",
    "DELETE FROM public.probe RETURNING n AS customer_id",
    "SELECT 1 AS x) sqlml_input; SELECT pg_catalog.setval('public.probe_seq', 42) AS x; "
    "SELECT * FROM (SELECT 1 AS x",
]


@pytest.fixture
def probe(models):
    """A table and a sequence that a smuggled statement would change."""
    with models.begin() as c:
        c.exec_driver_sql("DROP TABLE IF EXISTS public.probe")
        c.exec_driver_sql("CREATE TABLE public.probe (n int)")
        c.exec_driver_sql("INSERT INTO public.probe VALUES (1), (2)")
        c.exec_driver_sql("DROP SEQUENCE IF EXISTS public.probe_seq")
        c.exec_driver_sql("CREATE SEQUENCE public.probe_seq")
    return models


@pytest.mark.parametrize("routine", ["score_churn", "forecast", "train_forecaster"])
@pytest.mark.parametrize("query", BREAKOUTS)
def test_an_input_query_cannot_run_a_second_statement(probe, routine, query):
    models = probe
    sql = {"score_churn": "SELECT * FROM ml.score_churn(model_name => 'keys', input_query => :q)",
           "forecast": "SELECT * FROM ml.forecast(model_name => 'series', input_query => :q)",
           "train_forecaster": "SELECT * FROM ml.train_forecaster(model_name => 'series2',"
                               " input_query => :q)"}[routine]
    with pytest.raises(sa.exc.DBAPIError):
        call(models, sql, q=query)
    assert count(models, "public.probe") == 2
    with models.connect() as c:
        assert c.execute(sa.text("SELECT last_value, is_called FROM public.probe_seq")).one() \
            == (1, False)


def test_several_statements_are_refused_as_such(models):
    with pytest.raises(sa.exc.DBAPIError, match="exactly one query"):
        score(models, "SELECT 1 AS customer_id; SELECT 2 AS customer_id")


# --- finding 4: periods stay in the caller's calendar --------------------------------


def forecast_in(engine, settings: str, query: str):
    with engine.begin() as c:
        c.exec_driver_sql(settings)
        row = c.execute(sa.text("SELECT * FROM ml.forecast(model_name => 'series', "
                                "input_query => :q)"), {"q": query}).mappings().one()
        return sorted(c.execute(sa.text(
            "SELECT series_id, to_char(period, 'YYYY-MM-DD HH24:MI:SS'), step"
            " FROM predictions.forecasts WHERE run_id = :r"),
            {"r": row["run_id"]}).all())


@pytest.mark.parametrize("settings", [
    "SET LOCAL TimeZone = 'Europe/Berlin'", "SET LOCAL TimeZone = 'Pacific/Kiritimati'",
    "SET LOCAL DateStyle = 'SQL, DMY'", "SET LOCAL DateStyle = 'German'",
])
@pytest.mark.parametrize("cast", ["date", "timestamp"])
def test_periods_do_not_move_with_the_session_time_zone_or_date_style(models, settings, cast):
    utc = forecast_in(models, "SET LOCAL TimeZone = 'UTC'", SERIES)
    query = f"SELECT series_id, period::{cast} AS period, value FROM features.monthly_usage"
    assert forecast_in(models, settings, query) == utc
    # The first forecast follows each series' last observed month, never relabels it.
    with models.connect() as c:
        last = dict(c.execute(sa.text(
            "SELECT series_id, to_char(max(period), 'YYYY-MM-DD HH24:MI:SS')"
            " FROM features.monthly_usage GROUP BY 1")).all())
    assert all(p > last[sid] for sid, p, step in utc if step == 1)


@pytest.mark.parametrize("routine", ["forecast", "train_forecaster"])
def test_timestamptz_periods_are_refused_naming_the_column(models, routine):
    query = "SELECT series_id, period::timestamptz AS period, value FROM features.monthly_usage"
    sql = ("SELECT * FROM ml.forecast(model_name => 'series', input_query => :q)"
           if routine == "forecast" else
           "SELECT * FROM ml.train_forecaster(model_name => 'series3', input_query => :q,"
           f" options => '{FORECAST_TINY}')")
    with models.begin() as c:
        c.exec_driver_sql("SET LOCAL TimeZone = 'Europe/Berlin'")
        with pytest.raises(sa.exc.DBAPIError, match="column 'period' holds timestamps with a "
                                                    "time zone"):
            c.execute(sa.text(sql), {"q": query})


# --- finding 6: non-finite and overflowing numbers are refused by name ----------------


def churn_query(charges: str, label: bool = False) -> str:
    cast = "::numeric" if "numeric" in charges else ""  # else the query's own cast fails
    return (f"SELECT c.customer_id, c.tenure_months, CASE WHEN c.customer_id = 3 THEN {charges}"
            f" ELSE c.monthly_charges{cast} END AS monthly_charges, c.contract"
            + (", c.churned" if label else "") + " FROM features.customers AS c")


EXTREMES = ["'Infinity'::float8", "'-Infinity'::float8", "1e308::float8", "1e400::numeric",
            "'Infinity'::numeric"]


@pytest.mark.parametrize("extreme", EXTREMES)
def test_scoring_refuses_extreme_values_naming_the_column(models, extreme):
    before = count(models, "predictions.churn_scores")
    with pytest.raises(sa.exc.DBAPIError, match="column 'monthly_charges' has 1 value"):
        score(models, churn_query(extreme))
    assert count(models, "predictions.churn_scores") == before
    with models.connect() as c:
        assert c.execute(sa.text("SELECT status FROM ops.runs ORDER BY run_id DESC LIMIT 1")
                         ).scalar() == "failed"


@pytest.mark.parametrize("extreme", ["1e308::float8", "'Infinity'::numeric"])
def test_training_refuses_extreme_values_naming_the_column(models, extreme):
    with pytest.raises(sa.exc.DBAPIError, match="column 'monthly_charges' has 1 value"):
        train_routine(models, "train_churn_model", "extreme", churn_query(extreme, True),
                      CHURN_TINY)
    assert count(models, "models.registry", "model_name = 'extreme'") == 0


@pytest.mark.parametrize("routine", ["forecast", "train_forecaster"])
@pytest.mark.parametrize("extreme", ["'Infinity'::float8", "1e308::float8", "1e400::numeric"])
def test_forecasting_refuses_extreme_values_naming_the_column(models, routine, extreme):
    query = ("SELECT series_id, period, CASE WHEN period = (SELECT max(period) FROM "
             f"features.monthly_usage) THEN {extreme} ELSE value"
             f"{'::numeric' if 'numeric' in extreme else ''} END AS value"
             " FROM features.monthly_usage")
    sql = ("SELECT * FROM ml.forecast(model_name => 'series', input_query => :q)"
           if routine == "forecast" else
           "SELECT * FROM ml.train_forecaster(model_name => 'series4', input_query => :q,"
           f" options => '{FORECAST_TINY}')")
    with pytest.raises(sa.exc.DBAPIError, match="column 'value' has 3 value"):
        call(models, sql, q=query)


# --- finding 7: unsupported column types are named ----------------------------------


@pytest.mark.parametrize("odd", ["'\\xdeadbeef'::bytea", "ARRAY[1, 2]", "ARRAY['a']",
                                 "ROW(1, 'a')"])
@pytest.mark.parametrize("routine", ["score", "train", "forecast"])
def test_unsupported_column_types_are_refused_naming_the_column(models, odd, routine):
    with pytest.raises(sa.exc.DBAPIError, match="column 'odd' is .* which sqlml does not read: "
                                                "input columns must be numbers"):
        if routine == "score":
            score(models, f"SELECT c.customer_id, {FEATURES}, {odd} AS odd"
                          " FROM features.customers AS c")
        elif routine == "train":
            train_routine(models, "train_churn_model", "odd",
                          f"SELECT c.customer_id, {FEATURES}, {odd} AS odd, c.churned"
                          " FROM features.customers AS c", CHURN_TINY)
        else:
            call(models, "SELECT * FROM ml.forecast(model_name => 'series', input_query => :q)",
                 q=f"SELECT series_id, period, value, {odd} AS odd FROM features.monthly_usage")
