"""Alembic: one head, a real round trip, deploy idempotence, the registry's rules."""

import subprocess
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.script import ScriptDirectory

from sqlml.deploy import alembic_config, deploy, migrate

pytestmark = pytest.mark.postgres

CATALOG = """
SELECT 'table ' || table_schema || '.' || table_name || ' ' ||
       string_agg(column_name || ':' || data_type || ':' || is_nullable, ',' ORDER BY column_name)
FROM information_schema.columns
WHERE table_schema IN ('features', 'models', 'predictions', 'ops', 'ml')
GROUP BY table_schema, table_name
UNION ALL
SELECT 'index ' || schemaname || '.' || indexname || ' ' || indexdef
FROM pg_indexes WHERE schemaname IN ('features', 'models', 'predictions', 'ops', 'ml')
UNION ALL
SELECT 'constraint ' || conrelid::regclass || '.' || conname || ' ' || pg_get_constraintdef(oid)
FROM pg_constraint WHERE connamespace::regnamespace::text IN ('models', 'predictions', 'ops')
UNION ALL
SELECT 'routine ' || p.oid::regprocedure || ' ' || md5(pg_get_functiondef(p.oid))
FROM pg_proc AS p WHERE p.pronamespace::regnamespace::text IN ('ml', 'ops') AND p.prokind <> 'a'
UNION ALL  -- pg_get_functiondef refuses aggregates (deploy's ops.column_payloads)
SELECT 'aggregate ' || a.aggfnoid::regprocedure || ' ' || a.aggtransfn || ' ' || a.aggfinalfn
FROM pg_aggregate AS a JOIN pg_proc AS p ON p.oid = a.aggfnoid
WHERE p.pronamespace::regnamespace::text IN ('ml', 'ops')
UNION ALL
SELECT 'view ' || schemaname || '.' || viewname || ' ' || md5(definition)
FROM pg_views WHERE schemaname IN ('models', 'predictions', 'features')
ORDER BY 1
"""


def catalog(engine: sa.Engine) -> list[str]:
    with engine.connect() as connection:
        return list(connection.execute(sa.text(CATALOG)).scalars())


def test_history_is_linear_with_one_head():
    script = ScriptDirectory.from_config(alembic_config())
    assert len(script.get_heads()) == 1
    ids = [rev.revision for rev in script.walk_revisions()]
    assert ids == sorted(ids, reverse=True), "revision ids are sequential (--rev-id NNNN)"


def test_each_revision_says_what_it_revises():
    """The docstring's "Revises:" line is what a reader sees first; a re-chained
    revision once kept the old one."""
    for rev in ScriptDirectory.from_config(alembic_config()).walk_revisions():
        said = next((line.split(":", 1)[1].strip() for line in rev.module.__doc__.splitlines()
                     if line.startswith("Revises:")), None)
        assert said == (rev.down_revision or ""), rev.revision


def test_upgrade_downgrade_upgrade_round_trip(scratch_url):
    engine = sa.create_engine(scratch_url)
    try:
        migrate(engine)
        upgraded = catalog(engine)
        assert any(row.startswith("table models.registry") for row in upgraded)
        assert any("routine ml.runtime_info()" in row for row in upgraded)

        migrate(engine, "base", downgrade=True)
        assert catalog(engine) == []
        with engine.connect() as connection:
            schemas = connection.execute(sa.text(
                "SELECT count(*) FROM information_schema.schemata WHERE schema_name IN "
                "('features', 'models', 'predictions', 'ops', 'ml')"
            )).scalar_one()
        assert schemas == 0

        migrate(engine)
        assert catalog(engine) == upgraded
    finally:
        engine.dispose()


def test_downgrade_one_revision_drops_its_objects_only(scratch_url):
    engine = sa.create_engine(scratch_url)
    try:
        migrate(engine)
        migrate(engine, "0003", downgrade=True)
        rows = catalog(engine)
        assert any(row.startswith("table models.registry") for row in rows)
        assert not any(row.startswith(("routine", "view")) for row in rows)
    finally:
        engine.dispose()


def test_deploy_twice_changes_nothing(pg_engine, pg_url):
    before = catalog(pg_engine)
    deploy(pg_url, log=lambda message: None)
    assert catalog(pg_engine) == before


def _register(connection, name, version, status):
    connection.execute(
        sa.text(
            "INSERT INTO models.registry (model_name, version, kind, status, artifact,"
            " artifact_sha256, onnx_artifact, onnx_sha256, spec, metrics, feature_schema,"
            " trained_rows, training_seconds, device) VALUES (:name, :version, 'churn',"
            " :status, '\\x00', repeat('0', 64), '\\x00', repeat('0', 64), '{}', '{}', '{}',"
            " 1, 0, 'CPU')"
        ),
        dict(name=name, version=version, status=status),
    )


def test_registry_allows_one_active_version_per_model_name(db):
    with db.begin() as connection:
        _register(connection, "churn", 1, "active")
        _register(connection, "churn", 2, "candidate")
        _register(connection, "other", 1, "active")
    with pytest.raises(sa.exc.IntegrityError, match="ux_registry_one_active"):
        with db.begin() as connection:
            _register(connection, "churn", 3, "active")


def test_registry_rejects_unknown_status(db):
    with pytest.raises(sa.exc.IntegrityError, match="ck_registry_status"):
        with db.begin() as connection:
            _register(connection, "churn", 1, "deployed")


def alembic_cli(url: str, *args: str) -> subprocess.CompletedProcess:
    """The alembic command a DBA types, at the repository root."""
    root = Path(__file__).resolve().parents[1]
    return subprocess.run([str(root / ".venv/bin/alembic"), "-x", f"url={url}", *args],
                          cwd=root, capture_output=True, text=True, timeout=300)


def test_a_downgrade_that_would_drop_data_refuses_unless_told(scratch_url):
    """Issue 22: `alembic downgrade 0020` dropped predictions.churn_reasons with its rows,
    without a word. It refuses, names what it would drop, and changes nothing, until
    told with -x allow_data_loss=true; with nothing to lose it needs no flag."""
    engine = sa.create_engine(scratch_url)
    try:
        migrate(engine)
        with engine.begin() as c:
            c.exec_driver_sql("INSERT INTO ops.runs (run_type, model_name, status) "
                              "VALUES ('score_churn', 'churn', 'succeeded')")
            c.exec_driver_sql("INSERT INTO predictions.churn_reasons (run_id, customer_id, "
                              "rank, feature, feature_value, contribution) "
                              "SELECT run_id, '7', 1, 'tenure', '3', 0.2 FROM ops.runs")
        refused = alembic_cli(scratch_url, "downgrade", "0020")
        assert refused.returncode != 0
        assert "predictions.churn_reasons (1 rows)" in refused.stderr
        assert "allow_data_loss=true" in refused.stderr
        with engine.connect() as c:
            assert c.execute(sa.text("SELECT count(*) FROM predictions.churn_reasons")
                             ).scalar() == 1
        offline = alembic_cli(scratch_url, "downgrade", "--sql", "0021:0020")
        assert offline.returncode != 0 and "predictions.churn_reasons" in offline.stderr
        allowed = alembic_cli(scratch_url, "-x", "allow_data_loss=true", "downgrade", "0020")
        assert allowed.returncode == 0, allowed.stderr
        with engine.connect() as c:
            assert c.execute(sa.text("SELECT to_regclass('predictions.churn_reasons')")
                             ).scalar() is None
        # Runs hold a row, so going below 0003 refuses too, naming ops.runs.
        below = alembic_cli(scratch_url, "downgrade", "0002")
        assert below.returncode != 0 and "ops.runs (1 rows)" in below.stderr
    finally:
        engine.dispose()


def test_a_downgrade_that_deletes_rows_says_so_even_when_it_drops_nothing(scratch_url):
    """Issue 22: going below 0012 deletes each forecast of a period that does not start
    at midnight (a finer calendar than DATE holds), but named it only when it also
    dropped data elsewhere: with features.daily_usage empty it deleted them silently."""
    engine = sa.create_engine(scratch_url)
    try:
        migrate(engine)
        with engine.begin() as c:
            _register(c, "hourly", 1, "active")
            c.exec_driver_sql("INSERT INTO ops.runs (run_type, model_name, status) "
                              "VALUES ('forecast', 'hourly', 'succeeded')")
            c.exec_driver_sql(
                "INSERT INTO predictions.forecasts (run_id, model_id, series_id, period, step,"
                " forecast) SELECT r.run_id, m.model_id, 's', p.period, p.step, 1.0"
                " FROM ops.runs AS r, models.registry AS m, (VALUES"
                " (TIMESTAMP '2024-01-01 00:00', 1), (TIMESTAMP '2024-01-01 06:00', 2)) AS p"
                " (period, step)")
            assert c.exec_driver_sql("SELECT count(*) FROM features.daily_usage").scalar() == 0
        refused = alembic_cli(scratch_url, "downgrade", "0011")
        assert refused.returncode != 0
        assert ("predictions.forecasts: each forecast of a period that does not start at "
                "midnight is deleted (1 rows)") in refused.stderr
        with engine.connect() as c:
            assert c.execute(sa.text("SELECT count(*) FROM predictions.forecasts")).scalar() == 2
        # The midnight forecast alone: nothing would be deleted, so nothing to allow.
        with engine.begin() as c:
            c.exec_driver_sql("DELETE FROM predictions.forecasts WHERE step = 2")
        assert alembic_cli(scratch_url, "downgrade", "0011").returncode == 0
    finally:
        engine.dispose()
