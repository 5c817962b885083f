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


def test_churn_reasons_latest_is_each_customers_latest_explained_run(scored):
    """Issue 22, finding 11: a later run without reasons (the nightly job) no longer
    empties the view; each customer's reasons come with the score of their run."""
    columns = ("customer_id, rank, feature, feature_value, contribution, churn_probability,"
               " model_name, model_version, model_id, run_id, scored_at")
    reasons = call(scored, f"SELECT {columns} FROM predictions.churn_reasons_latest"
                           " ORDER BY model_name, customer_id, rank")
    # runs 1, 2, 3 in RUNS order; b's newest run (2) kept no reasons: run 1's show
    assert {(r["model_name"], r["customer_id"], r["run_id"]) for r in reasons} == {
        ("churn", "a", 2), ("churn", "b", 1), ("churn", "c", 1),
        ("other", "a", 3), ("other", "d", 3)}
    joined = call(scored, f"SELECT {columns} FROM predictions.churn_scores AS s"
                          " INNER JOIN predictions.churn_reasons AS x USING (run_id, customer_id)"
                          " INNER JOIN (SELECT model_id, model_name, version AS model_version"
                          " FROM models.registry) AS r USING (model_id)"
                          " ORDER BY model_name, customer_id, rank")
    picked = {(r["model_name"], r["customer_id"], r["run_id"]) for r in reasons}
    assert reasons == [r for r in joined
                       if (r["model_name"], r["customer_id"], r["run_id"]) in picked]
    assert all(r["rank"] in (1, 2) for r in reasons) and len(reasons) == 2 * len(picked)


def test_models_drift_is_the_latest_per_model_name_and_feature(scored):
    """Issue 22, finding 13: one row per model name and feature, whichever version
    measured it last, and that version on the row."""
    with scored.begin() as connection:
        for run_id, model_id, features in ((1, 1, ("tenure", "plan")), (2, 2, ("tenure",)),
                                           (3, 3, ("tenure",))):
            for feature in features:
                connection.execute(sa.text(
                    "INSERT INTO ops.run_drift (run_id, model_id, feature, psi, flagged,"
                    " detail) VALUES (:run_id, :model_id, :feature, 0.01, false, '{}')"),
                    dict(run_id=run_id, model_id=model_id, feature=feature))
    rows = call(scored, "SELECT model_name, feature, model_version, run_id FROM models.drift"
                        " ORDER BY model_name, feature")
    assert [tuple(r.values()) for r in rows] == [
        ("churn", "plan", 1, 1), ("churn", "tenure", 2, 2), ("other", "tenure", 1, 3)]
