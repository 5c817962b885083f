"""The T-SQL side, held without a SQL Server: files parse, the DDL renders from Alembic."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import sqlfluff
from sqlfluff.api.simple import APIParsingError

from sqlml.deploy import objects, tsql_batches
from sqlml.paths import project_root

pytestmark = pytest.mark.unit

ROOT = project_root()
MSSQL_URL = "mssql+pyodbc://sqlml@sqlserver/sqlml?driver=ODBC+Driver+18+for+SQL+Server"
# sql/portable/: views written once for both engines (sqlml.deploy.objects.render).
PORTABLE_FILES = objects.portable_files(ROOT)
TSQL_FILES = sorted([*ROOT.glob("procedures/mssql/*.sql"), *ROOT.glob("sql/mssql/*.sql"),
                     *PORTABLE_FILES])


def assert_parses(text: str, label: str, dialect: str = "tsql") -> None:
    try:
        sqlfluff.parse(text, dialect=dialect)
    except APIParsingError as exc:
        pytest.fail(f"{label} does not parse as {dialect}: {exc}")


@pytest.mark.parametrize("path", TSQL_FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_tsql_file_parses(path: Path):
    assert_parses(path.read_text(encoding="utf-8"), str(path.relative_to(ROOT)))


@pytest.mark.parametrize("path", PORTABLE_FILES, ids=lambda p: p.name)
def test_every_portable_view_parses_as_postgresql_too(path: Path):
    assert_parses(path.read_text(encoding="utf-8"), str(path.relative_to(ROOT)), "postgres")


@pytest.mark.parametrize("engine", ["mssql", "postgres"])
def test_portable_views_render_as_each_engine_replaces_a_view(engine):
    dialect = "tsql" if engine == "mssql" else "postgres"
    rendered = {name: obj for name, obj in objects.live_objects(ROOT, engine).items()
                if obj.path in PORTABLE_FILES}
    assert rendered and all(obj.kind == "VIEW" for obj in rendered.values())
    for name, obj in rendered.items():
        assert objects.REPLACE_VIEW[engine] + name + " AS" in obj.text
        assert_parses(obj.text, f"{name} as rendered for {engine}", dialect)


@pytest.mark.parametrize("path", TSQL_FILES, ids=lambda p: p.name)
def test_no_batch_separator_inside_a_file(path: Path):
    lines = path.read_text(encoding="utf-8").splitlines()
    assert not any(line.strip().upper() == "GO" for line in lines), (
        "GO is a client directive; deploy splits batches itself"
    )


@pytest.fixture(scope="module")
def mssql_ddl() -> str:
    env = {**os.environ, "SQLML_DATABASE_URL": MSSQL_URL}
    proc = subprocess.run(
        [sys.executable, "-m", "alembic", "upgrade", "head", "--sql"],
        cwd=ROOT, env=env, capture_output=True, text=True,
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_mssql_ddl_renders_offline_and_parses(mssql_ddl):
    assert "CREATE TABLE models.registry" in mssql_ddl
    # Batch by batch, as SQL Server parses it (GO ends a batch): the whole script passed
    # sqlfluff's limit of parse nodes once the revisions carried enough procedures.
    batches = [b for b in mssql_ddl.split("\nGO\n") if b.strip()]
    assert len(batches) > 10
    for number, batch in enumerate(batches, 1):
        assert_parses(batch, f"alembic upgrade head --sql (mssql), batch {number}")


def test_mssql_ddl_uses_modern_types_and_a_filtered_unique_index(mssql_ddl):
    assert "artifact VARBINARY(max) NOT NULL" in mssql_ddl
    assert "NVARCHAR(max)" in mssql_ddl
    assert " NTEXT" not in mssql_ddl and " IMAGE" not in mssql_ddl
    assert (
        "CREATE UNIQUE INDEX ux_registry_one_active ON models.registry (model_name) "
        "WHERE status = 'active'" in mssql_ddl
    )


def test_mssql_ddl_puts_each_procedure_in_its_own_batch(mssql_ddl):
    batches = [b.strip() for b in mssql_ddl.split("\nGO\n")]
    creating = [b for b in batches if "CREATE OR ALTER PROCEDURE" in b]
    assert creating
    for batch in creating:
        body = "\n".join(line for line in batch.splitlines() if not line.startswith("--"))
        assert body.lstrip().startswith("CREATE OR ALTER PROCEDURE"), batch[:200]


def test_every_object_file_is_shipped_by_a_revision():
    assert objects.drift(ROOT) == []


# PostgreSQL splits each call into the caller's half and the owner's half (issue 8,
# docs/trust.md), so these have twins of other names there; its one prediction routine
# serves both kinds, whose external scripts and result sets make two on SQL Server.
RENAMED_TWINS = {"ops.fail_run.sql": "ops.fail_call.sql",
                 "ops.train_model.sql": "ops.run_train.sql",
                 "ops.run_score_churn.sql": "ops.run_predict.sql",
                 "ops.run_forecast.sql": "ops.run_predict.sql"}


# PL/Python raises its errors in the calling statement itself; only T-SQL needs a step
# that turns the embedded Python's returned error into a THROW.
MSSQL_ONLY = {"ops.raise_script_error.sql"}


def test_every_mssql_procedure_has_a_postgres_twin():
    mssql = {RENAMED_TWINS.get(p.name, p.name) for p in ROOT.glob("procedures/mssql/*.sql")
             if p.name not in MSSQL_ONLY}
    postgres = {p.name for p in ROOT.glob("procedures/postgres/*.sql")}
    assert mssql and mssql <= postgres, sorted(mssql - postgres)


@pytest.mark.parametrize("engine", ["postgres", "mssql"])
def test_object_files_are_named_for_what_they_create(engine):
    # parse() raises when the file name and the CREATE statement disagree
    assert objects.live_objects(ROOT, engine)


def test_mssql_ddl_starts_with_the_session_options(mssql_ddl):
    """sqlcmd connects with QUOTED_IDENTIFIER off unless given -I: the filtered index then
    fails (Msg 1934), and procedures created so fail when they write models.registry."""
    statements = [line for line in mssql_ddl.splitlines()
                  if line.strip() and not line.startswith("--")]
    assert statements[:3] == ["SET ANSI_NULLS ON;", "SET QUOTED_IDENTIFIER ON;", "GO"]


def test_mssql_ddl_gives_period_the_date_type_deploy_gives_it(mssql_ddl):
    periods = re.findall(r"^\s*period (\w+)", mssql_ddl, re.MULTILINE)
    # Input tables hold dates; forecasts (and ml.forecast's result set) hold DATETIME2(0),
    # so that hourly forecasts fit (revision 0012).
    assert periods and set(periods) == {"DATE", "DATETIME2"}
    assert ("ALTER TABLE predictions.forecasts ALTER COLUMN period DATETIME2(0) NOT NULL"
            in mssql_ddl)


class RecordingConnection:
    """Enough of a SQLAlchemy connection for tsql_batches: records what it is sent."""

    def __init__(self, version: str):
        self.sent: list[str] = []
        self.connection = type("Pooled", (), {"info": {}})()
        self.version = version

    def exec_driver_sql(self, sql, execution_options=None):
        self.sent.append(sql)
        version = self.version
        return type("Result", (), {"scalar": staticmethod(lambda: version)})()


PROCEDURE = "-- header\nCREATE OR ALTER PROCEDURE ml.x\nAS\nBEGIN\n    SET NOCOUNT ON;\nEND;"


def batches_sent(version: str) -> list[str]:
    """What deploying PROCEDURE sends to a server answering ``version`` to @@VERSION."""
    connection = RecordingConnection(version)
    tsql_batches.execute(connection, PROCEDURE)
    return [s for s in connection.sent if s != "SELECT @@VERSION"]


def test_deployed_batches_get_the_session_options_and_sql_server_gets_the_text_unchanged():
    batches = batches_sent("Microsoft SQL Server 2022 (RTM-CU25)")
    assert batches[0] == "SET ANSI_NULLS ON; SET QUOTED_IDENTIFIER ON;"
    assert batches[1] == PROCEDURE
    assert batches[2] == tsql_batches.signing_statement("ml.x")  # ALTER dropped its signature


def test_babelfish_gets_drop_and_create_and_no_signature():
    batches = batches_sent("Babelfish for PostgreSQL with SQL Server Compatibility")
    assert batches[0] == "SET ANSI_NULLS ON; SET QUOTED_IDENTIFIER ON;"
    assert batches[1] == "DROP PROCEDURE IF EXISTS ml.x"
    assert batches[2] == PROCEDURE.replace("CREATE OR ALTER PROCEDURE", "CREATE PROCEDURE")
    assert len(batches) == 3


def test_views_are_not_signed():
    assert tsql_batches.signed_procedure("CREATE OR ALTER VIEW ml.v AS SELECT 1") is None
