"""Drift and descriptions on the T-SQL side, held without a SQL Server: revision 0015's
rendered DDL and the SQL Server adapter's drift output."""

import json
import os
import re
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from sqlml.adapters import mssql
from sqlml.deploy import objects
from sqlml.kinds import drift
from sqlml.paths import project_root

pytestmark = pytest.mark.unit

ROOT = project_root()
MSSQL_URL = "mssql+pyodbc://sqlml@sqlserver/sqlml?driver=ODBC+Driver+18+for+SQL+Server"
VIEWS = {"predictions": ("churn_latest", "forecast_latest"),
         "models": ("active_models", "drift")}


def offline_ddl(revision: str) -> str:
    """What ``revision`` runs on SQL Server (from its parent revision)."""
    from alembic.script import ScriptDirectory

    from sqlml.deploy import alembic_config

    parent = ScriptDirectory.from_config(alembic_config()).get_revision(revision).down_revision
    env = {**os.environ, "SQLML_DATABASE_URL": MSSQL_URL}
    proc = subprocess.run([sys.executable, "-m", "alembic", "upgrade", f"{parent}:{revision}",
                           "--sql"], cwd=ROOT, env=env, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


@pytest.fixture(scope="module")
def ddl() -> str:
    return offline_ddl("0015")


def test_run_drift_is_a_table_with_a_json_detail_and_a_bit_flag(ddl):
    table = ddl[ddl.index("CREATE TABLE ops.run_drift"):].split(";")[0]
    assert "flagged BIT NOT NULL" in table and "psi DOUBLE PRECISION NULL" in table
    assert "ISJSON(detail) = 1" in table
    assert "PRIMARY KEY (run_id, feature)" in table
    assert "CREATE OR ALTER VIEW models.drift" in ddl


@pytest.mark.parametrize("revision, views", [
    ("0015", VIEWS), ("0021", {"predictions": ("churn_reasons_latest",)})])
def test_every_analyst_view_column_gets_an_ms_description(revision, views, ddl):
    ddl = ddl if revision == "0015" else offline_ddl(revision)
    described = set(re.findall(
        r"sp_addextendedproperty @name = N'MS_Description', @value = N'(?:[^']|'')+', "
        r"@level0type = N'SCHEMA', @level0name = N'(\w+)', @level1type = N'VIEW', "
        r"@level1name = N'(\w+)'(?:, @level2type = N'COLUMN', @level2name = N'(\w+)')?", ddl))
    for schema, names in views.items():
        for view in names:
            assert (schema, view, "") in described, f"{schema}.{view} has no description"
            source = objects.live_objects(ROOT, "mssql")[f"{schema}.{view}"].text
            start = source.rindex("\nSELECT") + len("\nSELECT")  # the outer query
            select = source[start:source.index("\nFROM", start)]
            columns = re.findall(r"(\w+)\s*,?\s*$", select, re.M)
            missing = [c for c in columns if (schema, view, c) not in described]
            assert columns and not missing, f"{schema}.{view}: {missing}"


def test_the_adapter_returns_scores_and_drift_json_for_openjson():
    rng = np.random.default_rng(3)
    train = pd.DataFrame({"customer_id": range(500), "tenure": rng.normal(20, 5, 500)})
    profile = json.dumps(drift.feature_profile(train.drop(columns="customer_id"),
                                               ["tenure"], []))
    shifted = train.assign(tenure=train["tenure"] + 30)
    rows = json.loads(mssql._drift_json(shifted, profile))
    assert rows == [{"feature": "tenure", "psi": rows[0]["psi"], "flagged": True,
                     "detail": rows[0]["detail"]}]
    assert rows[0]["psi"] > drift.PSI_THRESHOLD and rows[0]["detail"]["threshold"] == 0.2
