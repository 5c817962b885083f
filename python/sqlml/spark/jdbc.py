"""From a sqlml URL to what Spark's JDBC source and writer need, on both engines.

``sqlml spark`` takes the same ``--url`` as every other command (a SQLAlchemy URL:
``postgresql+psycopg://...``, ``mssql+pyodbc://...``) or a ready JDBC URL
(``jdbc:postgresql://...``, ``jdbc:sqlserver://...``). A :class:`JdbcTarget` is the
JDBC URL, the connection properties (``user``, ``password``, ``driver``) and the
jars the URL needs on the driver's and executors' class path.

* PostgreSQL: PgJDBC (Debian's ``libpostgresql-jdbc-java``). A URL with a Unix
  socket (``?host=/dir``, as the embedded engine's) goes through junixsocket's
  socket factory (``libjunixsocket-java``), which PgJDBC documents for sockets.
  ``reWriteBatchedInserts`` makes the executors' appends multi-row INSERTs.
  PgJDBC's settings travel in the URL, the credentials in the properties.
* SQL Server: Microsoft's JDBC driver (``com.microsoft.sqlserver:mssql-jdbc``,
  which Databricks runtimes ship). ODBC keywords of the URL are carried over
  (``Encrypt``, ``TrustServerCertificate``, ``Authentication``), the application
  name is ``sqlml`` (the name sql/mssql/20_resource_pool.sql's classifier routes
  to the sqlml workload group), and ``useBulkCopyForBatchInsert`` turns the
  executors' appends into bulk copies.

Passwords stay in ``properties``, never in the URL string that Spark logs.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

from sqlalchemy.engine import make_url

from sqlml.errors import EngineError

POSTGRES_DRIVER = "org.postgresql.Driver"
MSSQL_DRIVER = "com.microsoft.sqlserver.jdbc.SQLServerDriver"
POSTGRES_JARS = ("/usr/share/java/postgresql.jar",)
UNIX_SOCKET_JARS = ("/usr/share/java/junixsocket-common.jar",)
UNIX_SOCKET_FACTORY = "org.newsclub.net.unix.AFUNIXSocketFactory$FactoryArg"
JARS_ENV = "SQLML_SPARK_JARS"
MSSQL_APPLICATION = "sqlml"
# ODBC connection keywords of an mssql+pyodbc URL -> Microsoft JDBC properties.
MSSQL_KEYWORDS = {
    "encrypt": "encrypt",
    "trustservercertificate": "trustServerCertificate",
    "authentication": "authentication",
    "hostnameincertificate": "hostNameInCertificate",
    "app": "applicationName",
}
_BOOLEAN = {"yes": "true", "true": "true", "mandatory": "true", "strict": "strict",
            "no": "false", "false": "false", "optional": "false"}


@dataclass(frozen=True)
class JdbcTarget:
    engine: str  # "postgres" or "mssql", as sqlml.connect.engine_name
    url: str
    properties: dict[str, str] = field(default_factory=dict)
    jars: tuple[str, ...] = ()

    @property
    def driver(self) -> str:
        return self.properties["driver"]

    def with_properties(self, **extra: str | None) -> JdbcTarget:
        merged = {**self.properties, **{k: v for k, v in extra.items() if v is not None}}
        return JdbcTarget(self.engine, self.url, merged, self.jars)

    def redacted(self) -> str:
        user = self.properties.get("user")
        return f"{self.url} (user {user})" if user else self.url


def target(url: str, user: str | None = None, password: str | None = None) -> JdbcTarget:
    """The JDBC side of ``url``; ``user`` / ``password`` override the URL's (a secret
    scope hands them over separately)."""
    if url.startswith("jdbc:"):
        found = _from_jdbc(url)
    else:
        found = _from_sqlalchemy(url)
    return found.with_properties(user=user, password=password)


def _from_jdbc(url: str) -> JdbcTarget:
    if url.startswith("jdbc:postgresql:"):
        jars = POSTGRES_JARS + (UNIX_SOCKET_JARS if "socketFactory=" in url else ())
        return JdbcTarget("postgres", url, {"driver": POSTGRES_DRIVER}, _existing(jars))
    if url.startswith("jdbc:sqlserver:"):
        return JdbcTarget("mssql", url, {"driver": MSSQL_DRIVER}, ())
    raise EngineError(f"unsupported JDBC URL {url.split('?')[0].split(';')[0]!r}: "
                      "use jdbc:postgresql:// or jdbc:sqlserver://")


def _from_sqlalchemy(url: str) -> JdbcTarget:
    from sqlml.connect import engine_name

    parsed = make_url(url)
    engine = engine_name(parsed)
    props = {}
    if parsed.username:
        props["user"] = parsed.username
    if parsed.password:
        props["password"] = parsed.password
    query = {k.lower(): v if isinstance(v, str) else v[-1] for k, v in parsed.query.items()}
    if engine == "postgres":
        return _postgres(parsed, query, props)
    return _mssql(parsed, query, props)


def _postgres(parsed, query: dict[str, str], props: dict[str, str]) -> JdbcTarget:
    # PgJDBC's own settings go in the URL: its property names are case-sensitive, and
    # Spark's predicate-list reader lower-cases the keys of the properties it is given.
    props["driver"] = POSTGRES_DRIVER
    settings = {"reWriteBatchedInserts": "true", "ApplicationName": "sqlml-spark"}
    if query.get("sslmode"):
        settings["sslmode"] = query["sslmode"]
    database = quote(parsed.database or "postgres")
    host = query.get("host") or parsed.host or "localhost"
    port = query.get("port") or parsed.port or 5432
    jars = POSTGRES_JARS
    if host.startswith("/"):
        # A Unix socket: PgJDBC speaks TCP unless a socket factory is named.
        settings["socketFactory"] = UNIX_SOCKET_FACTORY
        settings["socketFactoryArg"] = f"{host.rstrip('/')}/.s.PGSQL.{port}"
        jars = POSTGRES_JARS + UNIX_SOCKET_JARS
        address = "localhost"
    else:
        address = f"{host}:{port}"
    url = f"jdbc:postgresql://{address}/{database}?" + "&".join(
        f"{k}={quote(v, safe='/$')}" for k, v in settings.items())
    return JdbcTarget("postgres", url, props, _existing(jars))


def _mssql(parsed, query: dict[str, str], props: dict[str, str]) -> JdbcTarget:
    if "odbc_connect" in query:
        raise EngineError("an mssql+pyodbc URL with odbc_connect cannot be translated to "
                          "JDBC: pass the jdbc:sqlserver://... URL itself")
    props["driver"] = MSSQL_DRIVER
    props["useBulkCopyForBatchInsert"] = "true"
    props["applicationName"] = MSSQL_APPLICATION
    props["encrypt"] = "true"  # Driver 18 and mssql-jdbc 10+ encrypt by default, too
    for keyword, prop in MSSQL_KEYWORDS.items():
        if keyword in query:
            value = query[keyword]
            props[prop] = _BOOLEAN.get(value.lower(), value) if prop != "authentication" \
                and prop != "applicationName" and prop != "hostNameInCertificate" else value
    host = parsed.host or "localhost"
    if "\\" in host:  # host\instance: the instance's port is found by SQL Browser
        host, instance = host.split("\\", 1)
        server = f"{host};instanceName={instance}"
    else:
        server = f"{host}:{parsed.port or 1433}"
    url = f"jdbc:sqlserver://{server};databaseName={parsed.database or 'master'}"
    return JdbcTarget("mssql", url, props, ())


def _existing(jars: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(j for j in jars if Path(j).is_file())


def jars(found: JdbcTarget) -> list[str]:
    """Jars to put on Spark's class path: ``SQLML_SPARK_JARS`` (comma-separated)
    first, then those this engine's Debian packages installed."""
    extra = [j for j in os.environ.get(JARS_ENV, "").split(",") if j.strip()]
    return [*extra, *found.jars]
