"""Trust boundaries: owner-only runtime, definer procedures, bound blobs, runs for every call.

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-28

Why (issue 8): an operator could choose the Python the database imports (a session
setting), write the registry and the run log directly, activate any version
without a run, swap a blob and its hash between versions, and every role could
execute every ml and ops routine; cancelled or killed calls left no run, and run
errors could quote data the reader may not see. From here, on PostgreSQL:

* procedures work with the owner's rights: each ml routine reads its input query
  with the caller's rights (ops.stage_input, SECURITY INVOKER) and hands the rows,
  by run id, to ops.run_call (SECURITY DEFINER, pinned search_path), which loads
  and checks the model, scores or trains, and writes; sqlml_operator keeps SELECT
  only on models, predictions and features, and reads only its own runs
  (row-level security on ops.runs); it loses INSERT/UPDATE on every table;
* every routine's EXECUTE is revoked from PUBLIC in its own object file, and
  granted there to sqlml_operator where the role needs it, so any upgrade,
  downgrade or re-creation leaves the same grants (this revision also creates the
  two roles, which the object files name; 30_roles.sql keeps them idempotent);
* dblink's functions are revoked from PUBLIC: the run log's dblink connection is
  the owner's, kept open per session, and nobody else may borrow it;
* a version's ONNX blob is bound to its model id, name, version and kind by an
  HMAC-SHA256 keyed with ops.model_binding_key (owner-only): models.registry's new
  onnx_binding column, filled here for the versions already registered;
* ops.runs records each call's backend pid and start time, when the call starts,
  in its own transaction; status 'abandoned' marks runs whose session died.

PostgreSQL only: SQL Server's side of issue 8 (its run columns, its 'abandoned'
status, signing) is revision 0011's.
Definitions: migrations/objects/0010/ (see sqlml/deploy/objects.py).
postgres ships: ml.activate_model, ml.forecast, ml.runtime_info, ml.score_churn,
    ml.train_churn_model, ml.train_forecaster, ops.active_model, ops.begin_run,
    ops.call, ops.churn_score_staged, ops.conninfo_quote, ops.fail_call, ops.finish_run,
    ops.forecast_staged, ops.model_binding, ops.python_runtime, ops.register_model,
    ops.reraise, ops.run_activate, ops.run_call, ops.run_forecast, ops.run_log,
    ops.run_score_churn, ops.run_train, ops.stage_input, ops.sweep_runs,
    ops.train_staged, ops.use_python_runtime.
postgres removes: ops.churn_score_py, ops.fail_run, ops.forecast_py, ops.train_model,
    ops.train_py.
"""

import sqlalchemy as sa
from alembic import op

from sqlml.deploy.data_loss import ABANDONED_BECOME_FAILED, refuse_unless_allowed
from sqlml.deploy.ddl import is_mssql, timestamp
from sqlml.deploy.objects import apply_snapshot, revert_snapshot

revision = "0010"
down_revision = "0009"

STATUSES = "('running', 'succeeded', 'failed', 'abandoned')"
OLD_STATUSES = "('running', 'succeeded', 'failed')"
ROLES = ("sqlml_analyst", "sqlml_operator")
# 0009's operator: the routines were SECURITY INVOKER and needed these.
OLD_OPERATOR_WRITES = "models.registry, ops.runs, predictions.churn_scores, predictions.forecasts"


def upgrade() -> None:
    if is_mssql():
        return  # SQL Server's side of issue 8 is revision 0011's
    op.add_column("runs", sa.Column("backend_pid", sa.Integer), schema="ops")
    op.add_column("runs", sa.Column("backend_start", timestamp()), schema="ops")
    op.add_column("registry", sa.Column("onnx_binding", sa.Unicode(64)), schema="models")
    op.drop_constraint(op.f("ck_runs_status"), "runs", schema="ops", type_="check")
    op.create_check_constraint(op.f("ck_runs_status"), "runs", f"status IN {STATUSES}",
                               schema="ops")
    op.execute(f"""
        DO $$
        BEGIN
            {''.join(f"IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{r}') THEN "
                     f"CREATE ROLE {r} NOLOGIN; END IF; " for r in ROLES)}
        END;
        $$""")
    op.execute("CREATE INDEX ix_runs_running ON ops.runs (run_id) WHERE status = 'running'")
    op.execute("""
        CREATE TABLE ops.model_binding_key (
            id integer PRIMARY KEY CHECK (id = 1),
            inner_pad bytea NOT NULL,
            outer_pad bytea NOT NULL
        )""")
    # HMAC's two padded keys, from a 32-byte random key (two random UUIDs' bytes).
    op.execute("""
        WITH k AS (
            SELECT decode(replace(gen_random_uuid()::text || gen_random_uuid()::text, '-', '')
                || repeat('00', 32), 'hex') AS key
        )
        INSERT INTO ops.model_binding_key (id, inner_pad, outer_pad)
        SELECT 1,
            (SELECT decode(string_agg(lpad(to_hex(get_byte(k.key, i) # 54), 2, '0'), ''
                ORDER BY i), 'hex') FROM generate_series(0, 63) AS i),
            (SELECT decode(string_agg(lpad(to_hex(get_byte(k.key, i) # 92), 2, '0'), ''
                ORDER BY i), 'hex') FROM generate_series(0, 63) AS i)
        FROM k""")
    op.execute("REVOKE ALL ON ops.model_binding_key FROM PUBLIC")
    # Nobody borrows the owner's dblink connection: no PUBLIC EXECUTE on dblink.
    op.execute("""
        DO $$
        DECLARE
            f regprocedure;
        BEGIN
            FOR f IN
                SELECT p.oid::regprocedure FROM pg_proc AS p
                JOIN pg_depend AS d ON d.classid = 'pg_proc'::regclass AND d.objid = p.oid
                JOIN pg_extension AS e ON d.refobjid = e.oid AND d.deptype = 'e'
                WHERE e.extname = 'dblink'
            LOOP
                EXECUTE format('REVOKE EXECUTE ON FUNCTION %s FROM PUBLIC', f);
            END LOOP;
        END;
        $$""")
    op.execute(f"REVOKE INSERT, UPDATE, DELETE, TRUNCATE ON {OLD_OPERATOR_WRITES} "
               "FROM sqlml_operator")
    op.execute("REVOKE EXECUTE ON ALL ROUTINES IN SCHEMA ml, ops FROM PUBLIC, sqlml_operator")
    op.execute("GRANT SELECT ON ops.runs TO sqlml_operator")
    op.execute("ALTER TABLE ops.runs ENABLE ROW LEVEL SECURITY")
    op.execute("CREATE POLICY runs_own ON ops.runs FOR SELECT TO sqlml_operator "
               "USING (created_by = session_user)")
    apply_snapshot(revision)
    op.execute("""
        UPDATE models.registry AS r
        SET onnx_binding = ops.model_binding(r.model_id, r.model_name, r.version, r.kind,
            r.onnx_sha256)""")


def downgrade() -> None:
    refuse_unless_allowed("0010", columns=(("models.registry", "onnx_binding"),
                                           ("ops.runs", "backend_pid"),
                                           ("ops.runs", "backend_start")),
                          rewrites=() if is_mssql() else (ABANDONED_BECOME_FAILED,))
    if is_mssql():
        return
    revert_snapshot(revision)
    op.execute("DROP POLICY runs_own ON ops.runs")
    op.execute("ALTER TABLE ops.runs DISABLE ROW LEVEL SECURITY")
    # 0009's routines run with the caller's rights: the operator needs these back.
    op.execute("REVOKE EXECUTE ON ALL ROUTINES IN SCHEMA ml, ops FROM PUBLIC")
    op.execute("GRANT EXECUTE ON ALL ROUTINES IN SCHEMA ml, ops TO sqlml_operator")
    op.execute(f"GRANT SELECT, INSERT, UPDATE ON {OLD_OPERATOR_WRITES} TO sqlml_operator")
    op.execute("DROP TABLE ops.model_binding_key")
    op.execute("DROP INDEX ops.ix_runs_running")
    op.execute("UPDATE ops.runs SET status = 'failed' WHERE status = 'abandoned'")
    op.drop_constraint(op.f("ck_runs_status"), "runs", schema="ops", type_="check")
    op.create_check_constraint(op.f("ck_runs_status"), "runs", f"status IN {OLD_STATUSES}",
                               schema="ops")
    op.drop_column("registry", "onnx_binding", schema="models")
    op.drop_column("runs", "backend_start", schema="ops")
    op.drop_column("runs", "backend_pid", schema="ops")
