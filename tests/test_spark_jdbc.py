"""The JDBC options sqlml.spark generates, for both engines (SQL Server cannot run
here: this test is what holds its URL and options)."""

import pytest

from sqlml.errors import EngineError
from sqlml.spark import jdbc, routines

pytestmark = pytest.mark.unit


def test_sql_server_url_becomes_microsoft_jdbc_url_and_options():
    found = jdbc.target("mssql+pyodbc://spark_svc:s3cret@sql.example.com:14330/sales"
                        "?driver=ODBC+Driver+18+for+SQL+Server&TrustServerCertificate=yes")
    assert found.engine == "mssql"
    assert found.url == "jdbc:sqlserver://sql.example.com:14330;databaseName=sales"
    assert found.properties == {
        "user": "spark_svc", "password": "s3cret",
        "driver": "com.microsoft.sqlserver.jdbc.SQLServerDriver",
        "useBulkCopyForBatchInsert": "true", "applicationName": "sqlml",
        "encrypt": "true", "trustServerCertificate": "true",
    }
    assert "s3cret" not in found.url and "s3cret" not in found.redacted()


def test_sql_server_named_instance_entra_id_and_secret_scope_credentials():
    found = jdbc.target("mssql+pyodbc://@host\\prod/dw?Authentication=ActiveDirectoryPassword"
                        "&Encrypt=no", user="svc@corp.example", password="from-the-scope")
    assert found.url == "jdbc:sqlserver://host;instanceName=prod;databaseName=dw"
    assert found.properties["authentication"] == "ActiveDirectoryPassword"
    assert found.properties["encrypt"] == "false"
    assert (found.properties["user"], found.properties["password"]) == (
        "svc@corp.example", "from-the-scope")


def test_a_jdbc_url_is_taken_as_it_is():
    url = "jdbc:sqlserver://x.database.windows.net:1433;databaseName=db;encrypt=true"
    found = jdbc.target(url, user="u", password="p")
    assert (found.engine, found.url, found.driver) == ("mssql", url, jdbc.MSSQL_DRIVER)
    with pytest.raises(EngineError, match="unsupported JDBC URL 'jdbc:mysql://h/db'"):
        jdbc.target("jdbc:mysql://h/db")
    with pytest.raises(EngineError, match="odbc_connect"):
        jdbc.target("mssql+pyodbc:///?odbc_connect=DRIVER%3D...")


def test_postgres_tcp_and_unix_socket_urls():
    tcp = jdbc.target("postgresql+psycopg://u:p@db.example.com:6543/sqlml?sslmode=require")
    assert tcp.url == ("jdbc:postgresql://db.example.com:6543/sqlml?reWriteBatchedInserts=true"
                       "&ApplicationName=sqlml-spark&sslmode=require")
    assert tcp.properties == {"user": "u", "password": "p", "driver": jdbc.POSTGRES_DRIVER}
    socket = jdbc.target("postgresql+psycopg://sqlml@/sqlml?host=/run/pg&port=5433")
    assert socket.url == ("jdbc:postgresql://localhost/sqlml?reWriteBatchedInserts=true"
                          "&ApplicationName=sqlml-spark&socketFactory=" + jdbc.UNIX_SOCKET_FACTORY
                          + "&socketFactoryArg=/run/pg/.s.PGSQL.5433")


def test_the_publishing_calls_bind_every_value_on_both_engines():
    for name in ("begin", "publish", "fail"):
        postgres, mssql = routines.statement("postgres", name), routines.statement("mssql", name)
        assert postgres.count("?") == mssql.count("?")
        assert mssql.startswith(f"EXEC ml.spark_{name} @")
        assert f"ml.spark_{name}(" in postgres


def test_the_sql_server_calls_name_only_parameters_the_procedures_declare():
    """SQL Server checks EXEC's parameter names only when the call runs: hold the
    driver's calls to procedures/mssql here, as the contract tests do between procedures."""
    import re

    from sqlml.paths import project_root

    for name, procedure in (("begin", "ml.spark_begin"), ("publish", "ml.spark_publish"),
                            ("fail", "ml.spark_fail"), ("check", "ml.check_input_query")):
        text = (project_root() / "procedures" / "mssql" / f"{procedure}.sql").read_text()
        header = text[text.index("CREATE OR ALTER PROCEDURE"):re.search(r"^AS\s*$", text,
                                                                        re.M).start()]
        declared = set(re.findall(r"^\s*(@\w+)\s", header, re.M))
        required = {p for p in declared if not re.search(
            rf"^\s*{p}\s[^\n]*(=|OUTPUT)", header, re.M)}
        passed = set(re.findall(r"(@\w+) = \?", routines.statement("mssql", name)))
        assert passed <= declared and required <= passed, (name, passed, declared)
