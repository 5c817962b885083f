"""Shared fixtures: the embedded engine, a freshly deployed database, clean tables.

The session starts (or reuses) the embedded PostgreSQL, creates a database of its
own, runs ``sqlml deploy`` into it, and drops it at the end; each test that
asks for ``db`` gets it with every data table emptied. Nothing here is mocked:
procedures run in the server's real PL/Python.
"""

from __future__ import annotations

import os
import uuid

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from sqlml import embedded_pg
from sqlml.deploy import deploy

DATA_TABLES = (
    "features.monthly_usage",
    "features.daily_usage",
    "predictions.churn_scores",
    "predictions.churn_reasons",
    "predictions.forecasts",
    "predictions.model_scores",
    "ops.runs",
    "models.registry",
)


def _admin_engine(server_url: str) -> sa.Engine:
    admin = make_url(server_url).set(database="postgres")
    return sa.create_engine(admin, isolation_level="AUTOCOMMIT")


@pytest.fixture(scope="session")
def server_url() -> str:
    """The embedded server's own database URL; started if need be."""
    return embedded_pg.start()


def create_scratch_database(server_url: str, prefix: str) -> str:
    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    admin = _admin_engine(server_url)
    with admin.connect() as connection:
        connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
    admin.dispose()
    return make_url(server_url).set(database=name).render_as_string(hide_password=False)


def drop_database(url: str) -> None:
    name = make_url(url).database
    admin = _admin_engine(url)
    with admin.connect() as connection:
        connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.dispose()


@pytest.fixture(scope="session")
def pg_url(server_url: str):
    """A database of this test session's own, deployed with ``sqlml deploy``."""
    url = create_scratch_database(server_url, "sqlml_test")
    deploy(url, log=lambda message: None)
    yield url
    if not os.environ.get("SQLML_KEEP_TEST_DB"):
        drop_database(url)


@pytest.fixture(scope="session")
def pg_engine(pg_url: str):
    engine = sa.create_engine(pg_url)
    yield engine
    engine.dispose()


@pytest.fixture
def db(pg_engine: sa.Engine) -> sa.Engine:
    """The deployed test database with every data table empty."""
    with pg_engine.begin() as connection:
        connection.exec_driver_sql(
            f"TRUNCATE {', '.join(DATA_TABLES)} RESTART IDENTITY CASCADE"
        )
    return pg_engine


@pytest.fixture
def scratch_url(server_url: str):
    """An empty database, dropped after the test: for migration round trips."""
    url = create_scratch_database(server_url, "sqlml_scratch")
    yield url
    drop_database(url)


@pytest.fixture(autouse=True)
def _training_through_the_database_is_slow(request):
    """Every test that trains through the database is marked ``slow`` (issue 23), so
    that ``pytest -m "not slow"`` stays the loop a developer runs between edits: a test
    on the session's database that is not marked, and leaves a succeeded training run
    behind, fails here, naming the marker it lacks."""
    if request.node.get_closest_marker("slow") or not {"db", "pg_engine"} & set(
            request.fixturenames):
        yield
        return
    engine = request.getfixturevalue("pg_engine")
    with engine.connect() as connection:
        since = connection.execute(sa.text("SELECT clock_timestamp()")).scalar()
    yield
    with engine.connect() as connection:
        trained = connection.execute(sa.text(
            "SELECT count(*) FROM ops.runs WHERE run_type LIKE 'train%'"
            " AND status = 'succeeded' AND started_at >= :since"), {"since": since}).scalar()
    if trained:
        pytest.fail(f"{request.node.nodeid} trained {trained} model(s) through the database:"
                    " mark it @pytest.mark.slow", pytrace=False)
