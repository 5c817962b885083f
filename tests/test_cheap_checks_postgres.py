"""Issue 22, finding 12: names, kinds and options are checked before a row is read.

Every call below gets an input query that fails the moment its rows are read
(division by zero); the error must be the cheap check's, not the input's, and the
call must still be a failed run. Nothing trains: the churn model is a registry row.
"""

import pytest
import sqlalchemy as sa

from sql_helpers import call, runs

pytestmark = pytest.mark.postgres

EXPLODING_SERIES = ("SELECT series_id, period, value / 0 AS value "
                    "FROM features.forecast_input")
EXPLODING_CUSTOMERS = "SELECT customer_id, 1 / 0 AS churned FROM features.churn_features"


@pytest.fixture
def churn_model(db):
    with db.begin() as connection:
        connection.exec_driver_sql(
            "INSERT INTO features.monthly_usage (series_id, period, value)"
            " VALUES ('a', '2024-01-01', 1)")
        connection.exec_driver_sql(
            "INSERT INTO models.registry (model_name, version, kind, status, artifact,"
            " artifact_sha256, onnx_artifact, onnx_sha256, spec, metrics, feature_schema,"
            " trained_rows, training_seconds, device) VALUES ('churn', 1, 'churn', 'active',"
            " '\\x00', repeat('0', 64), '\\x00', repeat('0', 64), '{}', '{}', '{}', 1, 0,"
            " 'CPU')")
    return db


CASES = [
    ("SELECT * FROM ml.train_forecaster(model_name => 'churn', input_query => :q)",
     EXPLODING_SERIES, None, "model 'churn' is a churn model; choose another name"),
    ("SELECT * FROM ml.train_forecaster(model_name => 'f', input_query => :q, options => :o)",
     EXPLODING_SERIES, "{not json", "options of forecaster training is not valid JSON"),
    ("SELECT * FROM ml.train_forecaster(model_name => 'f', input_query => :q, options => :o)",
     EXPLODING_SERIES, "[1]", "must be a JSON object"),
    ("SELECT * FROM ml.train_forecaster(model_name => 'f', input_query => :q, options => :o)",
     EXPLODING_SERIES, '{"units": 100000}', "option 'units' of forecaster training must be"),
    ("SELECT * FROM ml.train_churn_model(model_name => 'c', input_query => :q, options => :o)",
     EXPLODING_CUSTOMERS, '{"epoch": 3}', "unknown option 'epoch' for churn training"),
    ("SELECT * FROM ml.train_churn_model(model_name => 'c', input_query => :q, options => :o)",
     EXPLODING_CUSTOMERS, '{"learning_rate": NaN}', "option 'learning_rate'"),
    ("SELECT * FROM ml.score_churn(model_name => 'nosuch', input_query => :q)",
     EXPLODING_CUSTOMERS, None, "model 'nosuch' not found"),
    ("SELECT * FROM ml.forecast(model_name => 'churn', input_query => :q)",
     EXPLODING_SERIES, None, "model 'churn' is a churn model, not a forecaster model"),
]


@pytest.mark.parametrize("sql, query, options, message", CASES)
def test_cheap_checks_come_before_the_input_is_read(churn_model, sql, query, options, message):
    params = {"q": query} | ({"o": options} if ":o" in sql else {})
    with pytest.raises(sa.exc.DBAPIError) as raised:
        call(churn_model, sql, **params)
    assert message in str(raised.value.orig), str(raised.value.orig)
    assert "division by zero" not in str(raised.value.orig)
    [run] = runs(churn_model)
    assert run["status"] == "failed" and message in run["error"]


# --- the input's shape, from a LIMIT 0 describe, before a row is read ----------------

# Rows that fail the moment they are read (g / 0), in queries that lack a column the
# kind needs or give one a type it refuses.
ROWS = "FROM generate_series(1, 30) AS g"
SHAPES = [
    ("SELECT * FROM ml.train_forecaster(model_name => 'f', input_query => :q)",
     f"SELECT 's' AS series_id, DATE '2024-01-01' + g AS period, g / (g - g) AS amount {ROWS}",
     "forecaster training: input has no 'value' column (columns: series_id, period, amount)"),
    ("SELECT * FROM ml.forecast(model_name => 'fc', input_query => :q)",
     f"SELECT 's' AS series_id, (DATE '2024-01-01' + g)::timestamptz AS period,"
     f" g / (g - g) AS value {ROWS}",
     "column 'period' holds timestamps with a time zone"),
    ("SELECT * FROM ml.train_forecaster(model_name => 'f', input_query => :q)",
     f"SELECT 's' AS series_id, DATE '2024-01-01' + g AS period,"
     f" DATE '2024-01-01' + g / (g - g) AS value {ROWS}",
     "column 'value' is a date or timestamp: values must be numbers"),
    ("SELECT * FROM ml.train_churn_model(model_name => 'c', input_query => :q)",
     f"SELECT g::text AS customer_id, g / (g - g) AS tenure_months {ROWS}",
     "churn training: input has no 'churned' column (columns: customer_id, tenure_months)"),
    ("SELECT * FROM ml.train_churn_model(model_name => 'c', input_query => :q)",
     f"SELECT g::text AS customer_id, DATE '2024-01-01' + g / (g - g) AS churned {ROWS}",
     "column 'churned' is a date or timestamp: labels must be 0 or 1"),
    ("SELECT * FROM ml.score_churn(model_name => 'churn', input_query => :q)",
     f"SELECT g / (g - g) AS tenure_months, 'north' AS region {ROWS}",
     "churn scoring: input has no 'customer_id' column"),
    ("SELECT * FROM ml.score_churn(model_name => 'churn', input_query => :q)",
     f"SELECT g::text AS customer_id, g / (g - g) AS tenure_months {ROWS}",
     "input lacks feature column(s) the model needs: region"),
]


@pytest.fixture
def shaped_models(churn_model):
    """The churn version's schema names its features; a forecaster 'fc' is active."""
    with churn_model.begin() as connection:
        connection.exec_driver_sql(
            "UPDATE models.registry SET feature_schema = '{\"numeric\": [\"tenure_months\"],"
            " \"categorical\": {\"region\": [\"north\"]}}' WHERE model_name = 'churn'")
        connection.exec_driver_sql(
            "INSERT INTO models.registry (model_name, version, kind, status, artifact,"
            " artifact_sha256, onnx_artifact, onnx_sha256, spec, metrics, feature_schema,"
            " trained_rows, training_seconds, device) VALUES ('fc', 1, 'forecaster',"
            " 'active', '\\x00', repeat('0', 64), '\\x00', repeat('0', 64), '{}', '{}', '{}',"
            " 1, 0, 'CPU')")
    return churn_model


@pytest.mark.parametrize("sql, query, message", SHAPES)
def test_the_inputs_shape_is_checked_before_a_row_is_read(shaped_models, sql, query, message):
    """Issue 22, finding 12: a missing column or a refused type is named from the
    query's description (LIMIT 0), not after reading, training or scoring."""
    with pytest.raises(sa.exc.DBAPIError) as raised:
        call(shaped_models, sql, q=query)
    assert message in str(raised.value.orig), str(raised.value.orig)
    assert "division by zero" not in str(raised.value.orig)
    [run] = runs(shaped_models)
    assert run["status"] == "failed" and message in run["error"]
