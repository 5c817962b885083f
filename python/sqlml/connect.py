"""Which database to talk to, and a SQLAlchemy engine for it.

Configuration is one URL: the ``--url`` option, else ``SQLML_DATABASE_URL``,
else the embedded PostgreSQL (started on demand).

SQL Server URLs (``mssql+pyodbc://user:password@host:1433/db?driver=...``) go
through ODBC. When the URL names no driver, the first installed of Microsoft's
ODBC Driver 18, its Driver 17, and FreeTDS (Debian's ``tdsodbc``, which ``make
setup`` installs) is used. sqlml adds two connection options unless the URL sets
them: ``TDS_Version=7.4`` for FreeTDS (older protocol versions cannot carry
NVARCHAR(MAX), VARBINARY(MAX) or DATETIME2 faithfully) and ``APP=sqlml``, the
application name that monitoring shows (sql/mssql/20_resource_pool.sql classifies
by login, never by this name, which any client can set). Driver 18 encrypts by
default: a server with a self-signed certificate (a container) needs
``TrustServerCertificate=yes`` in the URL.

The first connection to SQL Server is retried with exponential backoff while the
failure looks transient (the server starting, a network blip), and fails at once,
naming server, database and driver and saying what to do, when it does not.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable

import sqlalchemy as sa
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import DBAPIError

from sqlml.errors import EngineError

URL_ENV = "SQLML_DATABASE_URL"
ENGINES = {"postgresql": "postgres", "mssql": "mssql"}
MSSQL_DRIVERS = ("ODBC Driver 18 for SQL Server", "ODBC Driver 17 for SQL Server", "FreeTDS")
FREETDS_LIBRARY = "/usr/lib/x86_64-linux-gnu/odbc/libtdsodbc.so"
CONNECT_ATTEMPTS = 6  # 1 + 2 + 4 + 8 + 16 s of waiting at most
# SQLSTATEs of a server that is not there *yet*: it may be starting, or the network
# may be catching up. Anything else (no driver, a wrong password) will not heal.
TRANSIENT_STATES = ("08001", "08S01", "08004", "HYT00", "HYT01")
TRANSIENT_MESSAGES = ("script upgrade mode", "is being recovered", "is starting up",
                      "in the middle of a restore")


def resolve_url(url: str | None = None, start_embedded: bool = True) -> str:
    if url:
        return url
    if os.environ.get(URL_ENV):
        return os.environ[URL_ENV]
    from sqlml import embedded_pg

    return embedded_pg.start() if start_embedded else embedded_pg.url()


def engine_name(url: str | URL) -> str:
    """``postgres`` or ``mssql``: the folder name used under procedures/ and sql/."""
    backend = make_url(url).get_backend_name()
    if backend not in ENGINES:
        raise EngineError(
            f"unsupported database URL scheme {backend!r}: use postgresql+psycopg:// "
            "or mssql+pyodbc://"
        )
    return ENGINES[backend]


def create_engine(url: str | URL, connect_attempts: int = CONNECT_ATTEMPTS,
                  sleep: Callable[[float], None] = time.sleep) -> sa.Engine:
    if engine_name(url) != "mssql":
        return sa.create_engine(url, pool_pre_ping=True)
    engine = sa.create_engine(mssql_url(url), pool_pre_ping=True)
    wait_for_mssql(engine, connect_attempts, sleep)
    if engine.dialect.default_isolation_level is None:
        # SQLAlchemy reads it through sys.system_views, which Babelfish (the T-SQL
        # engine of the babelfish tests) does not list; without it a connection
        # used in autocommit cannot be returned to the pool.
        engine.dialect.default_isolation_level = "READ COMMITTED"
    return engine


def redact(url: str | URL) -> str:
    """The URL with its password hidden, for messages and logs."""
    return make_url(url).render_as_string(hide_password=True)


# --- SQL Server ----------------------------------------------------------------


def installed_odbc_drivers() -> list[str]:
    try:
        import pyodbc
    except ImportError as exc:  # the module loads libodbc.so.2 from unixODBC
        raise EngineError(
            f"pyodbc cannot load ({exc}): install unixODBC (`make setup` does) to reach "
            "SQL Server"
        ) from exc
    return list(pyodbc.drivers())


def choose_driver(installed: list[str], freetds_library: str = FREETDS_LIBRARY) -> str:
    for name in MSSQL_DRIVERS:
        if name in installed:
            return name
    if os.path.exists(freetds_library):  # installed but not registered in odbcinst.ini
        return freetds_library
    raise EngineError(
        "no ODBC driver for SQL Server is installed: install Microsoft's msodbcsql18 or "
        "FreeTDS (Debian: tdsodbc, which `make setup` installs), or name one in the URL "
        "with ?driver=..."
        + (f" (installed: {', '.join(installed)})" if installed else "")
    )


def is_freetds(driver: str) -> bool:
    return "freetds" in driver.lower() or "libtdsodbc" in driver.lower()


def mssql_url(url: str | URL, installed: list[str] | None = None) -> URL:
    """The URL with a driver chosen if it names none, and the options sqlml relies on."""
    parsed = make_url(url)
    query = dict(parsed.query)
    keys = {key.lower(): key for key in query}
    if "odbc_connect" in keys:  # a raw ODBC connection string: it says everything itself
        return parsed
    if "driver" not in keys:
        query["driver"] = choose_driver(
            installed if installed is not None else installed_odbc_drivers()
        )
        keys["driver"] = "driver"
    if is_freetds(query[keys["driver"]]) and "tds_version" not in keys:
        query["TDS_Version"] = "7.4"
    if "app" not in keys:
        query["APP"] = "sqlml"
    return parsed.set(query=query)


def server_address(url: str | URL) -> str:
    parsed = make_url(url)
    return f"{parsed.host or 'localhost'}:{parsed.port or 1433}"


def describe(url: str | URL) -> str:
    """'SQL Server host:port/database via driver', for messages."""
    parsed = make_url(url)
    driver = next((v for k, v in parsed.query.items() if k.lower() == "driver"), "ODBC")
    database = parsed.database or "(default database)"
    return f"SQL Server {server_address(parsed)}/{database} via {driver}"


def sqlstate(error: BaseException) -> str:
    args = getattr(error, "args", ())
    return args[0] if args and isinstance(args[0], str) else ""


def is_transient(error: BaseException) -> bool:
    message = str(error).lower()
    return sqlstate(error) in TRANSIENT_STATES or any(m in message for m in TRANSIENT_MESSAGES)


def hint(error: BaseException, url: str | URL) -> str:
    message = str(error)
    lowered = message.lower()
    if "can't open lib" in lowered or sqlstate(error) == "IM002":
        return ("that ODBC driver is not installed: install it, or name an installed one "
                f"with ?driver=... (installed: {', '.join(installed_odbc_drivers()) or 'none'})")
    if "certificate" in lowered or "ssl" in lowered or "tls" in lowered:
        return ("the server's TLS certificate is not trusted: install its CA, or for a "
                "development server add TrustServerCertificate=yes to the URL")
    if "login failed" in lowered or sqlstate(error) == "28000":
        return "the server refused the login: check the user and password in the URL"
    if "cannot open database" in lowered:
        return "the database does not exist or the login may not use it: create it first"
    if is_transient(error):
        return f"is SQL Server running and reachable at {server_address(url)}?"
    return "see the driver's message above"


def wait_for_mssql(engine: sa.Engine, attempts: int = CONNECT_ATTEMPTS,
                   sleep: Callable[[float], None] = time.sleep) -> None:
    """Open (and return to the pool) a first connection, retrying transient failures."""
    delay = 1.0
    for attempt in range(1, attempts + 1):
        try:
            with engine.connect():
                return
        except DBAPIError as exc:
            error = exc.orig
            if attempt == attempts or not is_transient(error):
                engine.dispose()
                tried = f" after {attempt} attempts" if attempt > 1 else ""
                raise EngineError(
                    f"cannot connect to {describe(engine.url)}{tried}: "
                    f"{error.args[-1] if error.args else error}. {hint(error, engine.url)}"
                ) from exc
            sleep(delay)
            delay *= 2
