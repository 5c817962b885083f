"""Issue 22, finding 14: the tables the quick start sends users to describe every column
(COMMENT ON on PostgreSQL, MS_Description on SQL Server), as the analyst views do."""

import pytest

from sql_helpers import call
from test_drift_tsql import offline_ddl

TABLES = ("models.registry", "ops.runs", "predictions.churn_scores")


@pytest.mark.postgres
@pytest.mark.parametrize("table", TABLES + ("predictions.churn_reasons_latest", "models.drift"))
def test_every_column_is_described_on_postgres(db, table):
    rows = call(db, "SELECT a.attname AS column, col_description(a.attrelid, a.attnum) AS text"
                    " FROM pg_attribute AS a WHERE a.attrelid = CAST(:t AS regclass)"
                    " AND a.attnum > 0 AND NOT a.attisdropped", t=table)
    assert rows and [r["column"] for r in rows if not r["text"]] == []
    [about] = call(db, "SELECT obj_description(CAST(:t AS regclass), 'pg_class') AS text",
                   t=table)
    assert about["text"]


@pytest.mark.postgres
def test_the_reworded_views_say_what_they_show(db):
    [reasons] = call(db, "SELECT obj_description('predictions.churn_reasons_latest'::regclass,"
                         " 'pg_class') AS text")
    assert "latest scoring run that kept reasons" in reasons["text"]
    [drift] = call(db, "SELECT obj_description('models.drift'::regclass, 'pg_class') AS text")
    assert "per model name" in drift["text"]


@pytest.mark.postgres
def test_the_registrys_kind_names_imported_models(db):
    """Issue 25 added the kind 'imported'; revision 0029 rewords 0026's "churn or forecaster"."""
    [kind] = call(db, "SELECT col_description(a.attrelid, a.attnum) AS text FROM pg_attribute"
                      " AS a WHERE a.attrelid = 'models.registry'::regclass AND a.attname = 'kind'")
    assert "imported" in kind["text"]


@pytest.mark.unit
def test_sql_server_gets_the_same_descriptions():
    ddl = offline_ddl("0026")
    for table in TABLES:
        schema, name = table.split(".")
        assert (f"@level0name = N'{schema}', @level1type = N'TABLE', @level1name = N'{name}', "
                "@level2type = N'COLUMN'") in ddl
    assert "sp_addextendedproperty" in ddl and "backend_pid" not in ddl


@pytest.mark.unit
@pytest.mark.parametrize("revision, table, columns", [
    ("0029", "models.registry", ("lineage",)),
    ("0030", "models.registry", ("pinned",)),
    ("0030", "ops.runs", ("outcome", "shadow_of")),
])
def test_sql_server_describes_the_columns_later_revisions_add(revision, table, columns):
    """Issues 25 and 26 added columns to the described tables; the revision that adds
    each describes it (and its downgrade drops the description with the column)."""
    schema, name = table.split(".")
    ddl = offline_ddl(revision)
    added = [line for line in ddl.splitlines()
             if line.startswith("EXEC sys.sp_addextendedproperty @name = N'MS_Description'")]
    for column in columns:
        target = (f"@level0name = N'{schema}', @level1type = N'TABLE', @level1name = N'{name}', "
                  f"@level2type = N'COLUMN', @level2name = N'{column}'")
        assert any(target in line for line in added), f"{table}.{column} is not described"
