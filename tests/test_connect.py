"""SQL Server URLs and first connections, through the real pyodbc and FreeTDS.

No SQL Server runs here, so the connections below fail for real: to a closed port,
to a listener that is not SQL Server, with a driver that is not installed. What is
checked is how sqlml reacts: which failures it retries, and what it says.
"""

from __future__ import annotations

import socket
import threading

import pytest
from sqlalchemy.engine import make_url

from sqlml import connect
from sqlml.errors import EngineError

pytestmark = pytest.mark.unit

FREETDS_INSTALLED = "FreeTDS" in connect.installed_odbc_drivers()


def query(url) -> dict:
    return dict(make_url(url).query)


def test_a_url_without_driver_gets_the_best_installed_one():
    url = "mssql+pyodbc://sa:pw@db:1433/sqlml"
    both = ["FreeTDS", "ODBC Driver 18 for SQL Server"]
    assert query(connect.mssql_url(url, both))["driver"] == "ODBC Driver 18 for SQL Server"
    freetds = query(connect.mssql_url(url, ["FreeTDS"]))
    assert freetds == {"driver": "FreeTDS", "TDS_Version": "7.4", "APP": "sqlml"}


def test_what_the_url_says_wins():
    url = ("mssql+pyodbc://sa:pw@db/sqlml?driver=FreeTDS&tds_version=8.0&app=reports"
           "&TrustServerCertificate=yes")
    assert query(connect.mssql_url(url, [])) == {
        "driver": "FreeTDS", "tds_version": "8.0", "app": "reports",
        "TrustServerCertificate": "yes",
    }
    raw = "mssql+pyodbc:///?odbc_connect=DRIVER%3D%7BFreeTDS%7D"
    assert connect.mssql_url(raw, []) == make_url(raw)


def test_freetds_by_library_path_when_it_is_not_registered(tmp_path):
    library = tmp_path / "libtdsodbc.so"
    library.write_bytes(b"")
    assert connect.choose_driver([], str(library)) == str(library)
    url = connect.mssql_url(f"mssql+pyodbc://sa:pw@db/x?driver={library}", [])
    assert query(url)["TDS_Version"] == "7.4"


def test_no_driver_at_all_says_what_to_install(tmp_path):
    with pytest.raises(EngineError, match="msodbcsql18 or FreeTDS"):
        connect.choose_driver(["PostgreSQL Unicode"], str(tmp_path / "missing.so"))


def test_transient_and_permanent_failures():
    class OdbcError(Exception):
        pass

    assert connect.is_transient(OdbcError("08S01", "Communication link failure"))
    assert connect.is_transient(OdbcError("42000", "Server is in script upgrade mode."))
    assert not connect.is_transient(OdbcError("28000", "Login failed for user 'sa'."))
    assert not connect.is_transient(OdbcError("01000", "Can't open lib 'x' : file not found"))


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.mark.skipif(not FREETDS_INSTALLED, reason="FreeTDS (tdsodbc) is not installed")
def test_an_unreachable_server_is_retried_with_backoff_then_named():
    waits: list[float] = []
    url = f"mssql+pyodbc://sa:pw@127.0.0.1:{closed_port()}/sqlml?driver=FreeTDS"
    with pytest.raises(EngineError) as caught:
        connect.create_engine(url, connect_attempts=4, sleep=waits.append)
    assert waits == [1.0, 2.0, 4.0]
    message = str(caught.value)
    assert "127.0.0.1" in message and "/sqlml via FreeTDS" in message
    assert "after 4 attempts" in message and "running and reachable" in message


@pytest.mark.skipif(not FREETDS_INSTALLED, reason="FreeTDS (tdsodbc) is not installed")
def test_a_listener_that_is_not_sql_server_is_reached_on_the_urls_port():
    """FreeTDS reads host,port from the connection string SQLAlchemy builds."""
    accepted = []
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    port = listener.getsockname()[1]

    def serve():
        connection, _ = listener.accept()
        accepted.append(True)
        connection.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    with pytest.raises(EngineError, match="cannot connect"):
        connect.create_engine(f"mssql+pyodbc://sa:pw@127.0.0.1:{port}/x?driver=FreeTDS",
                              connect_attempts=1)
    thread.join(5)
    listener.close()
    assert accepted


def test_a_driver_that_is_not_installed_fails_at_once_and_lists_the_installed():
    waits: list[float] = []
    url = "mssql+pyodbc://sa:pw@127.0.0.1:1/x?driver=ODBC+Driver+99+for+SQL+Server"
    with pytest.raises(EngineError) as caught:
        connect.create_engine(url, sleep=waits.append)
    assert waits == []
    assert "not installed" in str(caught.value) and "installed:" in str(caught.value)


def test_postgres_urls_are_untouched():
    engine = connect.create_engine("postgresql+psycopg://u@/db?host=/tmp")
    try:
        assert engine.url == make_url("postgresql+psycopg://u@/db?host=/tmp")
    finally:
        engine.dispose()
