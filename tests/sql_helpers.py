"""Small helpers the end-to-end tests share: run SQL, count rows, read the run log.

The tests write the public SQL out in full (``SELECT * FROM ml.score_churn(...)``)
rather than going through ``sqlml.routines``, so that they hold the interface
exactly as users type it.
"""

import json

import pytest
import sqlalchemy as sa

from sqlml.demo import churn_data
from sqlml.demo.bulk import insert_frame

CHURN_FAST = json.dumps({"epochs": 3, "hidden_units": [16], "patience": 2})


def call(engine, sql, **params):
    with engine.begin() as connection:
        return connection.execute(sa.text(sql), params).mappings().all()


def count(engine, table, where="TRUE"):
    with engine.connect() as connection:
        return connection.execute(sa.text(f"SELECT count(*) FROM {table} WHERE {where}")).scalar()


def runs(engine):
    return call(engine, "SELECT run_type, model_name, status, rows_in, rows_out, error "
                        "FROM ops.runs ORDER BY run_id")


def train(engine, routine, name, query=None, options=None, activate=True):
    """One ``ml.train_*`` call, as a user types it; returns its row."""
    [row] = call(
        engine,
        f"SELECT * FROM ml.{routine}(model_name => :name, input_query => :query,"
        " options => :options, activate => :activate)",
        name=name, query=query, options=options, activate=activate,
    )
    return row


def train_churn(engine, name="churn", query=None, options=CHURN_FAST, activate=True):
    """``ml.train_churn_model`` with few epochs unless told otherwise."""
    return train(engine, "train_churn_model", name, query, options, activate)


def load_customers(engine, n, seed):
    """``n`` demo customers in ``features.customers``; returns the engine."""
    frame, _ = churn_data.customers(n, seed=seed)
    insert_frame(engine, "features.customers", frame)
    return engine


def assert_refuses_tampered_blob(engine, use, table):
    """Append a byte to every stored ONNX blob: ``use()`` must refuse it and write
    nothing to ``table``."""
    with engine.begin() as connection:
        connection.exec_driver_sql(
            "UPDATE models.registry SET onnx_artifact = onnx_artifact || '\\x00'::bytea")
    with pytest.raises(sa.exc.DBAPIError, match="does not match its recorded sha256"):
        use()
    assert count(engine, table) == 0


def assert_refuses_other_kind(engine, use, stored, wanted):
    """Relabel every model as kind ``stored``: ``use()``, which wants ``wanted``, must refuse
    it by name."""
    with engine.begin() as connection:
        connection.exec_driver_sql(f"UPDATE models.registry SET kind = '{stored}'")
    with pytest.raises(sa.exc.DBAPIError, match=f"is a {stored} model, not a {wanted} model"):
        use()


def assert_activation_rule_keeps_the_champion(engine, train):
    """Three versions with ``train(engine, ...)``: the one trained with ``activate => false``
    stays a candidate; the third, on the same data and seed, is compared with the active
    version on its own held-out rows, where the active version (refit on those rows too)
    does at least as well, so it stays a candidate: a tie keeps the champion (issue 26).
    Returns the third's status_reason."""
    first = train(engine)
    second = train(engine, activate=False)
    assert (second["version"], second["status"]) == (2, "candidate")
    third = train(engine)
    assert third["version"] == 3
    if first["status"] != "active":  # the first did not beat its own baseline
        assert third["status"] == "candidate"
        return None
    assert third["status"] == "candidate", third
    [row] = call(engine, "SELECT status_reason FROM models.registry WHERE version = 3")
    assert " on the same " in row["status_reason"], row["status_reason"]
    return row["status_reason"]


def assert_no_pickle(trained):
    """A trained model's two bundles (what the registry stores) hold the manifest,
    JSON preprocessing, a Keras file and an ONNX file: nothing that unpickles."""
    import io
    import zipfile

    for blob in (trained.artifact, trained.onnx_artifact):
        names = set(zipfile.ZipFile(io.BytesIO(blob)).namelist())
        assert names <= {"manifest.json", "preprocessing.json", "model.keras", "model.onnx"}
