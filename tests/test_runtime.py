"""The in-database Python runtime: sqlml and its dependencies import inside PL/Python."""

import pytest
import sqlalchemy as sa

import sqlml
from sqlml.deploy import pg_runtime

pytestmark = pytest.mark.postgres


def test_runtime_info_reports_the_deployed_package(db):
    with db.connect() as connection:
        rows = dict(connection.execute(sa.text("SELECT * FROM ml.runtime_info()")).all())
    assert rows["sqlml"] == sqlml.__version__
    assert rows["python"].startswith("3.")
    for package in ("numpy", "pandas", "onnxruntime", "tensorflow"):
        assert rows[package], f"{package} missing from the in-database runtime"


def test_plpython_imports_sqlml_and_pandas_from_the_runtime(db):
    """A PL/Python function of our own, not one sqlml ships, sees the pg_runtime."""
    with db.begin() as connection:
        connection.exec_driver_sql(
            """
            CREATE FUNCTION pg_temp.probe() RETURNS text LANGUAGE plpython3u AS $$
            plpy.execute("SELECT ops.use_python_runtime()")
            import sqlml, pandas
            frame = pandas.DataFrame({"x": [1, 2, 3]})
            return f"{sqlml.__file__}|{pandas.__version__}|{int(frame.x.sum())}"
            $$
            """
        )
        where, pandas_version, total = connection.execute(
            sa.text("SELECT pg_temp.probe()")
        ).scalar_one().split("|")
    assert "/runtime/" in where  # the deployed copy, not the checkout
    assert pandas_version and total == "6"


def test_the_server_runs_its_own_python_not_the_venv(db):
    with db.connect() as connection:
        info = connection.execute(sa.text("SELECT ops.python_runtime()")).scalar_one()
    assert info["runtime_path"].endswith(pg_runtime.python_tag(info["version"]))
    assert ".venv" not in info["prefix"]


@pytest.mark.unit
def test_python_tag():
    assert pg_runtime.python_tag("3.11.2") == "cp311"
    assert pg_runtime.python_tag("3.12") == "cp312"


@pytest.mark.slow
def test_a_session_that_trained_runs_any_query_after(db):
    """TensorFlow in a backend and PostgreSQL's LLVM JIT crash the server together (a
    segmentation fault, every session restarted): deploy turns JIT off for the database,
    and training turns it off in a session that had turned it on."""
    from sql_helpers import load_customers

    load_customers(db, 300, seed=3)
    with db.connect() as c:
        assert c.exec_driver_sql("SHOW jit").scalar_one() == "off"
        c.exec_driver_sql("SET jit = on")
        c.execute(sa.text("SELECT * FROM ml.train_churn_model(model_name => 'jit',"
                          " input_query => 'SELECT * FROM features.customers',"
                          " options => :o)"), {"o": '{"epochs": 1, "ensemble_size": 1}'}).all()
        c.commit()
        assert c.exec_driver_sql("SHOW jit").scalar_one() == "off"
        c.exec_driver_sql("SET jit_above_cost = 0")
        total = c.exec_driver_sql("SELECT sum(g * 2) FROM generate_series(1, 1000) AS g")
        assert total.scalar_one() == 1001000
