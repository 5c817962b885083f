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
