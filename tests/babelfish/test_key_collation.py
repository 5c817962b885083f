"""Ids that a case-insensitive collation takes for one (issue 21), on a T-SQL engine.

ops.run_score_churn and ops.run_forecast keep the script's rows in a temporary table
without a key and look for ids that the database's collation takes for one, to refuse
them in a sentence (THROW 50503 / 50603) rather than with Msg 2627 on the prediction
tables' keys. Babelfish cannot run the script (gap 4), so its table and its check are
read from each procedure and run here on rows such a script would return; Babelfish's
default collation is case-insensitive, as SQL Server's is.
"""

from __future__ import annotations

import re

import pytest

from sqlml.paths import project_root

pytestmark = pytest.mark.babelfish

MSSQL = project_root() / "procedures" / "mssql"


def pieces(procedure: str, table: str) -> tuple[str, str]:
    text = (MSSQL / f"{procedure}.sql").read_text()
    create = re.search(rf"CREATE TABLE {table} \(.*?\n    \);", text, re.S).group(0)
    check = re.search(r"SELECT TOP \(1\) @duplicate = .*?HAVING COUNT\(\*\) > 1;", text,
                      re.S).group(0)
    return create, check


def duplicate(bf_engine, procedure, table, insert, size) -> str | None:
    create, check = pieces(procedure, table)
    batch = (f"SET NOCOUNT ON; DECLARE @duplicate NVARCHAR({size}); {create} {insert} "
             f"{check} DROP TABLE {table}; SELECT @duplicate;")
    with bf_engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        return connection.exec_driver_sql(batch).scalar()


@pytest.mark.parametrize("ids, expected", [
    (["ab", "AB", "c"], "ab"),
    (["ab", "ab  ", "c"], "ab"),
    (["ab", "abc", "Straße"], None),
])
def test_customer_ids_one_under_the_collation_are_found(bf_engine, ids, expected):
    values = ", ".join(f"(N'{i}', 0.5)" for i in ids)
    found = duplicate(bf_engine, "ops.run_score_churn", "#scores",
                      f"INSERT INTO #scores (customer_id, churn_probability) VALUES {values};",
                      64)
    assert (found.lower().rstrip() if found else None) == expected


def test_series_ids_one_under_the_collation_are_found(bf_engine):
    insert = ("INSERT INTO #forecasts (series_id, period, step, forecast) VALUES "
              "(N'north', '2024-01-01', 1, 1.0), (N'NORTH', '2024-01-01', 1, 2.0), "
              "(N'north', '2024-02-01', 2, 1.5);")
    found = duplicate(bf_engine, "ops.run_forecast", "#forecasts", insert, 128)
    assert found is not None and found.lower() == "north"


def test_the_check_comes_before_the_write():
    for procedure, table, number in [("ops.run_score_churn", "predictions.churn_scores", 50503),
                                     ("ops.run_forecast", "predictions.forecasts", 50603)]:
        text = (MSSQL / f"{procedure}.sql").read_text()
        assert "PRIMARY KEY" not in text.split("EXEC ops.model_version")[0]
        assert text.index(f"THROW {number}") < text.index(f"INSERT INTO {table}")
