"""Issue 21 on a T-SQL engine: the CASTs sqlml asks for in place of column types SQL
Server's Python language extension refuses, and calls from inside INSERT ... EXEC.

Babelfish has no sys.dm_exec_describe_first_result_set (what ops.check_input_types
reads on SQL Server) but has sp_describe_first_result_set, which describes a query the
same way: each refused type, described by the engine, gets its CAST from
ops.input_column_cast, and the query rewritten with that CAST describes as a type the
extension takes (tests/langext checks those types through the extension itself).
"""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from sqlml import routines
from sqlml.deploy.tsql_batches import BABELFISH_GAPS

pytestmark = pytest.mark.babelfish

REFUSED = {  # T-SQL type -> a literal of it
    "DECIMAL(10,2)": "79.85",
    "NUMERIC(18,4)": "-1234.5678",
    "MONEY": "19.99",
    "SMALLMONEY": "5.25",
    "TIME": "'13:45:10'",
    "DATETIMEOFFSET": "'2024-03-01 12:30:00 +01:00'",
    "UNIQUEIDENTIFIER": "'00000000-0000-0000-0000-000000000007'",
}
TAKEN = ["INT", "BIGINT", "BIT", "FLOAT", "REAL", "NVARCHAR(64)", "VARCHAR(10)", "DATE",
         "DATETIME2", "DATETIME", "VARBINARY(MAX)", "SMALLINT", "TINYINT"]


def described(connection, query: str) -> list[tuple[str, str]]:
    rows = connection.exec_driver_sql(
        "EXEC sp_describe_first_result_set @tsql = ?", (query,)).mappings().all()
    return [(r["name"], r["system_type_name"]) for r in rows if not r["is_hidden"]]


def cast_for(connection, name: str, system_type_name: str):
    return connection.exec_driver_sql(
        "SELECT ops.input_column_cast(?, ?)", (name, system_type_name)).scalar()


@pytest.mark.parametrize("sql_type", sorted(REFUSED))
def test_a_refused_type_gets_a_cast_that_the_extension_takes(bf_engine, sql_type):
    query = f"SELECT CAST({REFUSED[sql_type]} AS {sql_type}) AS [monthly charges]"
    with bf_engine.connect() as connection:
        [(name, system_type)] = described(connection, query)
        assert name == "monthly charges"
        cast = cast_for(connection, name, system_type)
        assert cast is not None and cast.endswith(" AS [monthly charges]"), cast
        fixed = f"SELECT {cast} FROM ({query}) AS q"
        [(fixed_name, fixed_type)] = described(connection, fixed)
        assert fixed_name == "monthly charges"
        assert cast_for(connection, fixed_name, fixed_type) is None, fixed_type
        assert connection.exec_driver_sql(fixed).scalar() is not None


@pytest.mark.parametrize("sql_type", TAKEN)
def test_types_the_extension_takes_need_no_cast(bf_engine, sql_type):
    with bf_engine.connect() as connection:
        [(name, system_type)] = described(connection, f"SELECT CAST(NULL AS {sql_type}) AS c")
        assert cast_for(connection, name, system_type) is None, system_type


@pytest.mark.xfail(strict=True, reason=BABELFISH_GAPS[10])
def test_a_call_inside_insert_exec_is_a_sentence_not_msg_8164(bf):
    """ops.call probes for a caller's INSERT ... EXEC before it opens a run. Babelfish
    nests INSERT ... EXEC, so its probe finds nothing there: only SQL Server can pass."""
    with bf.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.exec_driver_sql(
            "CREATE TABLE #row (model_id BIGINT, model_name NVARCHAR(4000), version INT, "
            "status NVARCHAR(16))")
        with pytest.raises(sa.exc.DBAPIError, match="cannot run inside INSERT ... EXEC"):
            connection.exec_driver_sql(
                "INSERT INTO #row EXEC ml.activate_model @model_name = N'churn', @version = 1")
        assert connection.exec_driver_sql("SELECT COUNT(*) FROM ops.runs").scalar() == 0


def test_a_plain_call_passes_the_probe(bf):
    with pytest.raises(sa.exc.DBAPIError, match="has no version 1"):
        routines.call(bf, "activate_model", model_name="churn", version=1)
