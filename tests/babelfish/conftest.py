"""Fixtures of the ``babelfish`` tests: a private Babelfish cluster, deployed once.

The session starts a cluster (tests/babelfish/cluster.py) and ``sqlml deploy``s
database sqlml into it; each test that asks for ``bf`` gets that engine with the
data tables emptied. Without a prebuilt install (or its runtime packages) every
test here is skipped with the one-line reason.
"""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from sqlml.connect import create_engine
from sqlml.deploy import deploy

from . import cluster

DATA_TABLES = ("predictions.churn_reasons", "predictions.churn_scores", "predictions.forecasts",
               "predictions.model_scores",
               "ops.run_drift", "ops.runs",
               "models.registry")


@pytest.fixture(scope="session")
def babelfish():
    try:
        running = cluster.start()
    except cluster.Unavailable as exc:
        pytest.skip(f"no Babelfish: {exc}")
    yield running
    running.stop()


@pytest.fixture(scope="session")
def bf_url(babelfish) -> str:
    return babelfish.url


@pytest.fixture(scope="session")
def deploy_log(bf_url) -> list[str]:
    """``sqlml deploy`` into the cluster's database sqlml; what it logged."""
    lines: list[str] = []
    deploy(bf_url, log=lines.append)
    return lines


@pytest.fixture(scope="session")
def bf_engine(bf_url, deploy_log):
    engine = create_engine(bf_url)
    yield engine
    engine.dispose()


@pytest.fixture
def bf(bf_engine) -> sa.Engine:
    """The deployed database with every data table empty."""
    with bf_engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        for table in DATA_TABLES:
            connection.exec_driver_sql(f"DELETE FROM {table}")
    return bf_engine


@pytest.fixture
def scratch_database(babelfish):
    """An empty database of its own (for migration round trips); dropped after."""
    import uuid

    import pyodbc

    name = f"scratch_{uuid.uuid4().hex[:8]}"
    with pyodbc.connect(babelfish.odbc("master"), autocommit=True) as connection:
        connection.execute(f"CREATE DATABASE {name}")
    yield babelfish.url.replace(f"/{cluster.DATABASE}?", f"/{name}?")
    with pyodbc.connect(babelfish.odbc("master"), autocommit=True) as connection:
        connection.execute(f"DROP DATABASE {name}")
