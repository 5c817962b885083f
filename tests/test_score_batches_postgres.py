"""Scoring in batches on PostgreSQL (issue 27): memory holds a batch, not the table.

One ``ml.score_churn`` call reads its input through a cursor a batch at a time
(``adapters/postgres_batches.py``), and is still one run: the same scores in the
same order, the same drift and reasons as one batch, and nothing at all when a
later batch fails.
"""

import pytest
import sqlalchemy as sa

from sql_helpers import call, count, load_customers, runs
from sql_helpers import train_churn as train

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

CUSTOMERS = 1500
SMALL = 97  # rows a batch: 16 batches, the last one short


@pytest.fixture
def trained(db):
    load_customers(db, CUSTOMERS, seed=27)
    train(db)
    return db


def score(connection, batch_rows, query=None, explain=0):
    """One ml.score_churn call in ``connection``'s session with the batch size lowered
    to ``batch_rows``; its row, and the run's scores in the order they were written."""
    connection.execute(sa.text("SELECT set_config('sqlml.score_batch_rows', :n, false)"),
                       {"n": str(batch_rows)})
    row = connection.execute(sa.text(
        "SELECT * FROM ml.score_churn(model_name => 'churn', input_query => :q,"
        " explain => :k)"), {"q": query, "k": explain}).mappings().one()
    scores = connection.execute(sa.text(
        "SELECT customer_id, churn_probability FROM predictions.churn_scores"
        " WHERE run_id = :r ORDER BY ctid"), {"r": row["run_id"]}).all()
    drift = connection.execute(sa.text(
        "SELECT feature, psi, flagged, detail FROM ops.run_drift WHERE run_id = :r"
        " ORDER BY feature"), {"r": row["run_id"]}).all()
    reasons = connection.execute(sa.text(
        "SELECT customer_id, rank, feature, feature_value, contribution"
        " FROM predictions.churn_reasons WHERE run_id = :r ORDER BY customer_id, rank"),
        {"r": row["run_id"]}).all()
    return row, scores, drift, reasons


def assert_same_run(one, many):
    (row1, scores1, drift1, reasons1), (row2, scores2, drift2, reasons2) = one, many
    assert row1["rows_scored"] == row2["rows_scored"] == len(scores1) == len(scores2)
    assert [s[0] for s in scores1] == [s[0] for s in scores2]  # the same order
    assert max(abs(a[1] - b[1]) for a, b in zip(scores1, scores2, strict=True)) <= 1e-6
    assert len(drift1) == len(drift2) > 1
    for a, b in zip(drift1, drift2, strict=True):
        assert (a[0], a[2]) == (b[0], b[2]) and a[1] == pytest.approx(b[1], abs=1e-12)
        d1, d2 = dict(a[3]), dict(b[3])
        mean1, mean2 = d1.pop("mean_actual", None), d2.pop("mean_actual", None)
        assert d1 == d2
        assert (mean1 is None and mean2 is None) or mean1 == pytest.approx(mean2, rel=1e-12)
    assert [r[:4] for r in reasons1] == [r[:4] for r in reasons2]
    assert max((abs(a[4] - b[4]) for a, b in zip(reasons1, reasons2, strict=True)),
               default=0) <= 1e-6


def test_batches_give_the_scores_order_drift_and_reasons_of_one_batch(trained):
    with trained.connect() as connection:
        columns = [c for c in connection.execute(sa.text(
            "SELECT * FROM features.customers LIMIT 0")).keys() if c != "churned"]
        query = f"SELECT {', '.join(columns)} FROM features.customers ORDER BY customer_id DESC"
        one = score(connection, 100_000, query, explain=2)
        many = score(connection, SMALL, query, explain=2)
        connection.commit()
    assert_same_run(one, many)
    assert one[1][0][0] == str(CUSTOMERS)  # the query's order, kept
    logged = runs(trained)
    assert [r["status"] for r in logged] == ["succeeded"] * 3
    assert logged[-1]["rows_in"] == logged[-1]["rows_out"] == CUSTOMERS


def test_batches_without_the_native_reader_read_the_same_values(trained):
    with trained.connect() as connection:
        columns = [c for c in connection.execute(sa.text(
            "SELECT * FROM features.customers LIMIT 0")).keys()
            if c not in ("churned", "contract")]
        # A category holding the payloads' separator: its batch is read again, plainly.
        query = (f"SELECT {', '.join(columns)}, contract || CASE WHEN customer_id = 150"
                 " THEN E'\\x1f' ELSE '' END AS contract FROM features.customers"
                 " ORDER BY customer_id")
        native = score(connection, SMALL, query)
        connection.commit()
        with connection.begin():
            connection.execute(sa.text(
                "ALTER FUNCTION ops.cursor_payloads(text, bigint) RENAME TO cursor_payloads_off"))
            plain = score(connection, SMALL, query)
            connection.rollback()
    assert_same_run(native, plain)
    assert native[0]["rows_scored"] == CUSTOMERS


def test_a_failure_in_the_last_batch_leaves_nothing_of_the_earlier_ones(trained):
    with trained.connect() as connection:
        columns = [c for c in connection.execute(sa.text(
            "SELECT * FROM features.customers LIMIT 0")).keys()
            if c not in ("churned", "customer_id")]
        rest = f"{', '.join(columns)} FROM features.customers ORDER BY customer_id"
        connection.commit()
    failing = {
        # the caller's half: the last batch's rows fail as they are read
        f"SELECT customer_id / (customer_id - {CUSTOMERS}) * 0 + customer_id AS customer_id,"
        f" {rest}": "division by zero",
        # the owner's half: the last batch's rows fail as they are scored
        f"SELECT CASE WHEN customer_id = {CUSTOMERS} THEN NULL ELSE customer_id END"
        f" AS customer_id, {rest}": "NULL",
        # across batches: the first and the last batch hold one customer
        f"SELECT CASE WHEN customer_id = {CUSTOMERS} THEN 1 ELSE customer_id END"
        f" AS customer_id, {rest}": "duplicates ('1'",
    }
    for query, message in failing.items():
        with trained.connect() as connection:
            connection.execute(sa.text("SET sqlml.score_batch_rows = 97"))
            with pytest.raises(sa.exc.DBAPIError, match=message.replace("(", r"\(")):
                connection.execute(sa.text(
                    "SELECT * FROM ml.score_churn(model_name => 'churn', input_query => :q,"
                    " explain => 1)"), {"q": query})
    assert count(trained, "predictions.churn_scores") == 0
    assert count(trained, "predictions.churn_reasons") == 0
    assert count(trained, "ops.run_drift") == 0
    assert [r["status"] for r in runs(trained)][1:] == ["failed"] * 3


def test_the_batch_size_is_the_specs_and_a_setting_can_only_lower_it(trained):
    [spec] = call(trained, "SELECT spec #>> '{scoring,batch_rows}' AS n FROM models.specs"
                           " WHERE kind = 'churn'")
    assert int(spec["n"]) >= 10_000
    for bad in ("0", "-5", "many"):
        with trained.connect() as connection:
            connection.execute(sa.text("SELECT set_config('sqlml.score_batch_rows', :v, false)"),
                               {"v": bad})
            with pytest.raises(sa.exc.DBAPIError, match="sqlml.score_batch_rows"):
                connection.execute(sa.text("SELECT * FROM ml.score_churn(model_name => 'churn')"))
    with trained.connect() as connection:
        # Larger than the spec's: the spec's size holds (one batch here).
        connection.execute(sa.text("SET sqlml.score_batch_rows = 100000000"))
        row = connection.execute(sa.text(
            "SELECT * FROM ml.score_churn(model_name => 'churn')")).mappings().one()
        connection.commit()
    assert row["rows_scored"] == CUSTOMERS
    assert runs(trained)[-1]["status"] == "succeeded"


def test_training_past_the_specs_limit_uses_a_stratified_sample_and_records_it(db):
    load_customers(db, CUSTOMERS, seed=27)
    def limit(rows):
        with db.begin() as connection:
            connection.execute(sa.text(
                "UPDATE models.specs SET spec = jsonb_set(spec, '{limits,max_training_rows}',"
                " to_jsonb(CAST(:n AS integer))) WHERE kind = 'churn'"), {"n": rows})

    limit(600)
    try:
        row = train(db)
    finally:
        limit(250_000)
    [reg] = call(db, "SELECT trained_rows, metrics FROM models.registry"
                     " WHERE model_id = :m", m=row["model_id"])
    sample = reg["metrics"]["sample"]
    assert (sample["rows"], sample["of"], sample["stratified_by"]) == (600, CUSTOMERS, "churned")
    assert reg["trained_rows"] == 600
    assert reg["metrics"]["n_train"] + reg["metrics"]["n_valid"] == 600
    [shares] = call(db, "SELECT count(*) FILTER (WHERE churned = 1) AS churned, count(*) AS n"
                        " FROM features.customers")
    # each class keeps its share of the input, to a row
    assert abs(sample["per_class"]["1"] - 600 * shares["churned"] / shares["n"]) <= 1
    assert sum(sample["per_class"].values()) == 600
