"""Churn reasons on PostgreSQL: the adapter, the table, the analyst view, one transaction.

``ml.score_churn``'s ``explain`` parameter is wired by the lead once the procedure
rewrites land; until then this test installs the wiring the procedure will run
(``WIRING`` below: the PL/Python half and the scoring body's inserts, exactly as
the report describes them) under test names, and holds the adapter, revision
0014's table and view, and the atomicity of scores and reasons to it.
"""

import json

import pytest
import sqlalchemy as sa

from sql_helpers import call, count, runs, train
from sqlml.demo import churn_data
from sqlml.demo.bulk import insert_frame

pytestmark = pytest.mark.postgres

FAST = json.dumps({"epochs": 3, "hidden_units": [16], "patience": 2, "ensemble_size": 1})

WIRING = """
CREATE OR REPLACE FUNCTION ops.test_churn_score_py(
    input_query text, onnx_artifact bytea, onnx_sha256 text, explain integer
)
RETURNS TABLE (
    customer_id text[], churn_probability double precision[],
    reason_customer_id text[], reason_rank integer[], reason_feature text[],
    reason_feature_value text[], reason_contribution double precision[]
)
LANGUAGE plpython3u
AS $py$
plpy.execute("SELECT ops.use_python_runtime()")
from sqlml.adapters import postgres
return postgres.score_churn_explained(plpy, input_query, onnx_artifact, onnx_sha256, explain)
$py$;

CREATE OR REPLACE FUNCTION ops.test_score_churn(model_name text, input_query text, explain integer)
RETURNS bigint
LANGUAGE plpgsql
AS $$
#variable_conflict use_column
DECLARE
    v_state text; v_message text; v_detail text; v_hint text;
    v_params jsonb := jsonb_build_object('input_query', input_query, 'explain', explain);
    v_run_id bigint; v_model_id bigint; v_onnx bytea; v_sha text; v_rows bigint; v_query text;
    v_py record;
BEGIN
    BEGIN
        v_run_id := ops.begin_run('score_churn', test_score_churn.model_name, v_params);
        SELECT a.model_id, a.onnx_artifact, a.onnx_sha256 INTO v_model_id, v_onnx, v_sha
        FROM ops.active_model('churn', test_score_churn.model_name) AS a;
        SELECT coalesce(test_score_churn.input_query, s.spec #>> '{input,default_query}')
        INTO v_query FROM models.specs AS s WHERE s.kind = 'churn';
        SELECT * INTO v_py
        FROM ops.test_churn_score_py(v_query, v_onnx, v_sha, test_score_churn.explain);
        INSERT INTO predictions.churn_scores (run_id, model_id, customer_id, churn_probability)
        SELECT v_run_id, v_model_id, u.customer_id, u.churn_probability
        FROM unnest(v_py.customer_id, v_py.churn_probability) AS u (customer_id, churn_probability);
        GET DIAGNOSTICS v_rows = ROW_COUNT;
        INSERT INTO predictions.churn_reasons
            (run_id, customer_id, rank, feature, feature_value, contribution)
        SELECT v_run_id, u.customer_id, u.rank, u.feature, u.feature_value, u.contribution
        FROM unnest(v_py.reason_customer_id, v_py.reason_rank, v_py.reason_feature,
                    v_py.reason_feature_value, v_py.reason_contribution)
            AS u (customer_id, rank, feature, feature_value, contribution);
        PERFORM ops.finish_run(v_run_id, v_model_id, v_rows, v_rows);
    EXCEPTION WHEN OTHERS THEN
        GET STACKED DIAGNOSTICS v_state = RETURNED_SQLSTATE, v_message = MESSAGE_TEXT,
            v_detail = PG_EXCEPTION_DETAIL, v_hint = PG_EXCEPTION_HINT;
        v_message := regexp_replace(v_message, '^plpy\\.Error: ', '');
        PERFORM ops.fail_run(v_run_id, 'score_churn', test_score_churn.model_name, v_model_id,
                             v_params, v_message);
        PERFORM ops.reraise(v_state, v_message, v_detail, v_hint);
    END;
    RETURN v_run_id;
END;
$$;
"""


@pytest.fixture
def wired(db):
    frame, _ = churn_data.customers(300, seed=41)
    insert_frame(db, "features.customers", frame)
    with db.begin() as connection:
        connection.exec_driver_sql(WIRING, execution_options={"no_parameters": True})
    yield db
    with db.begin() as connection:
        connection.exec_driver_sql("DROP FUNCTION ops.test_score_churn(text, text, integer); "
                                   "DROP FUNCTION ops.test_churn_score_py(text, bytea, text, "
                                   "integer)")


def score(engine, explain, query=None):
    [row] = call(engine, "SELECT ops.test_score_churn('churn', :query, :explain) AS run_id",
                 query=query, explain=explain)
    return row["run_id"]


def test_scores_and_reasons_land_together_and_analysts_read_them(wired):
    train(wired, "train_churn_model", "churn", options=FAST)
    run_id = score(wired, 3)
    assert count(wired, "predictions.churn_scores", f"run_id = {run_id}") == 300
    assert count(wired, "predictions.churn_reasons", f"run_id = {run_id}") == 900
    with wired.connect() as connection:
        connection.exec_driver_sql("SET ROLE sqlml_analyst")
        rows = connection.exec_driver_sql(
            "SELECT customer_id, rank, feature, feature_value, contribution, churn_probability,"
            " model_version FROM predictions.churn_reasons_latest"
            " ORDER BY churn_probability DESC, customer_id, rank LIMIT 6").mappings().all()
        connection.rollback()
    assert [r["rank"] for r in rows] == [1, 2, 3, 1, 2, 3]
    assert rows[0]["contribution"] >= rows[1]["contribution"] >= rows[2]["contribution"]
    assert rows[0]["contribution"] > 0 and rows[0]["model_version"] == 1
    features = set(churn_data.customers(1)[0].columns) - {"customer_id", "churned"}
    assert {r["feature"] for r in rows} <= features


def test_the_demo_prints_the_customers_most_at_risk_with_their_reasons(wired, capsys):
    from sqlml.demo.reasons import print_top_reasons

    train(wired, "train_churn_model", "churn", options=FAST)
    score(wired, 0)
    assert print_top_reasons(wired) == 0, "a run without explain keeps no reasons"
    score(wired, 3)
    assert print_top_reasons(wired, customers=10, reasons=3) == 10
    lines = capsys.readouterr().out.splitlines()
    reasons = [line for line in lines if ". " in line and ": " in line and " = " in line]
    assert len(reasons) == 30 and reasons[0].strip().split()[2] == "1."


def test_explain_zero_writes_scores_and_no_reasons(wired):
    train(wired, "train_churn_model", "churn", options=FAST)
    run_id = score(wired, 0)
    assert count(wired, "predictions.churn_scores", f"run_id = {run_id}") == 300
    assert count(wired, "predictions.churn_reasons") == 0


def test_a_failed_run_leaves_neither_scores_nor_reasons(wired):
    train(wired, "train_churn_model", "churn", options=FAST)
    with pytest.raises(sa.exc.DBAPIError, match="explain must be a non-negative integer"):
        score(wired, -1)
    assert count(wired, "predictions.churn_scores") == 0
    assert count(wired, "predictions.churn_reasons") == 0
    assert runs(wired)[-1]["status"] == "failed"
