"""The analyst views of sql/portable/ on PostgreSQL, on rows written directly (no training):
each picks the newest run per model name, and churn_reasons_latest is churn_latest's rows
joined to their reasons (the two views rank runs alike, written twice so that either can be
replaced alone; see the header of predictions.churn_reasons_latest)."""

import pytest
import sqlalchemy as sa

from sql_helpers import call

pytestmark = pytest.mark.postgres

# Model name, version and status; the runs below score with these.
VERSIONS = [("churn", 1, "retired"), ("churn", 2, "active"), ("other", 1, "active")]
# (run, version index, customers scored, customers explained); later runs have larger ids.
RUNS = [(0, 0, ("a", "b", "c"), ("a", "b", "c")),
        (1, 1, ("a", "b"), ("a",)),           # churn's newest for a and b; b unexplained
        (2, 2, ("a", "d"), ("a", "d"))]       # another model name: a row of its own


@pytest.fixture
def scored(db):
    with db.begin() as connection:
        ids = [connection.execute(sa.text(
            "INSERT INTO models.registry (model_name, version, kind, status, artifact,"
            " artifact_sha256, onnx_artifact, onnx_sha256, spec, metrics, feature_schema,"
            " trained_rows, training_seconds, device) VALUES (:name, :version, 'churn',"
            " :status, '\\x00', repeat('0', 64), '\\x00', repeat('0', 64), '{}', '{}', '{}',"
            " 1, 0, 'CPU') RETURNING model_id"), dict(name=n, version=v, status=s)).scalar()
            for n, v, s in VERSIONS]
        for run, version, customers, explained in RUNS:
            run_id = connection.execute(sa.text(
                "INSERT INTO ops.runs (run_type, model_name, model_id, status)"
                " VALUES ('score_churn', :name, :model_id, 'succeeded') RETURNING run_id"),
                dict(name=VERSIONS[version][0], model_id=ids[version])).scalar()
            for i, customer in enumerate(customers):
                connection.execute(sa.text(
                    "INSERT INTO predictions.churn_scores (run_id, model_id, customer_id,"
                    " churn_probability) VALUES (:run_id, :model_id, :customer, :p)"),
                    dict(run_id=run_id, model_id=ids[version], customer=customer,
                         p=(run * 10 + i) / 100))
            for customer in explained:
                for rank in (1, 2):
                    connection.execute(sa.text(
                        "INSERT INTO predictions.churn_reasons (run_id, customer_id, rank,"
                        " feature, feature_value, contribution)"
                        " VALUES (:run_id, :customer, :rank, 'tenure', '3', 0.1)"),
                        dict(run_id=run_id, customer=customer, rank=rank))
    return db


def test_churn_latest_is_each_customers_newest_score_per_model_name(scored):
    rows = call(scored, "SELECT model_name, customer_id, model_version, churn_probability"
                        " FROM predictions.churn_latest ORDER BY model_name, customer_id")
    assert [tuple(r.values()) for r in rows] == [
        ("churn", "a", 2, 0.10), ("churn", "b", 2, 0.11), ("churn", "c", 1, 0.02),
        ("other", "a", 1, 0.20), ("other", "d", 1, 0.21)]


def test_churn_reasons_latest_is_churn_latest_joined_to_its_runs_reasons(scored):
    columns = ("customer_id, rank, feature, feature_value, contribution, churn_probability,"
               " model_name, model_version, model_id, run_id, scored_at")
    reasons = call(scored, f"SELECT {columns} FROM predictions.churn_reasons_latest"
                           " ORDER BY model_name, customer_id, rank")
    joined = call(scored, f"SELECT {columns} FROM predictions.churn_latest AS l"
                          " INNER JOIN predictions.churn_reasons AS x USING (run_id, customer_id)"
                          " ORDER BY model_name, customer_id, rank")
    assert reasons == joined
    # b's newest run kept no reasons: none of run 0's reasons for b show
    assert {(r["model_name"], r["customer_id"]) for r in reasons} == {
        ("churn", "a"), ("churn", "c"), ("other", "a"), ("other", "d")}

