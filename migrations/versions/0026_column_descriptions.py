"""Column descriptions of the tables the quick start reads, and the views' new meaning.

Revision ID: 0026
Revises: 0023
Create Date: 2026-12-06

Why (issue 22, findings 11, 13, 14): the quick start sends users to
``models.registry``, ``ops.runs`` and ``predictions.churn_scores``, whose columns
had no description; they get one (COMMENT ON; MS_Description on SQL Server), as
the analyst views have had since revision 0015. ``predictions.churn_reasons_latest``
now shows each customer's latest run that kept reasons (the nightly job keeps
none), and ``models.drift`` the latest row per model name and feature, so the
descriptions revision 0015 and 0021 gave them are reworded to say so. Schema DDL
only: no data moves. On SQL Server a description is dropped where it exists and
added again (Babelfish loses a view's descriptions when the view is replaced), so
either order with the objects revision that replaces the views works.
"""

import sqlalchemy as sa
from alembic import op

from sqlml.deploy.ddl import is_mssql

revision = "0026"
down_revision = "0023"

# (schema, object, TABLE or VIEW) -> (what it is, {column: what it holds}).
DESCRIPTIONS = {
    ("models", "registry", "TABLE"): (
        "Every model version ever trained or imported, with its blobs, metrics and status. "
        "Operators read it (models.active_models is the analysts' part of it); only the "
        "ml routines write it.",
        {
            "model_id": "The version's key (predictions and runs point at it).",
            "model_name": "The model name given to ml.train_* (one name, many versions).",
            "version": "Version number within the name, counting from 1.",
            "kind": "churn or forecaster.",
            "status": "candidate (trained, not used), active (the one scoring uses; one per "
                      "name) or retired (was active).",
            "status_reason": "Why the version has its status (the activation rule's verdict "
                             "or who activated it).",
            "artifact": "The Keras bundle (.keras, safe mode) with its preprocessing.",
            "artifact_sha256": "sha256 of artifact, checked before it is loaded.",
            "onnx_artifact": "The ONNX bundle scoring and forecasting run.",
            "onnx_sha256": "sha256 of onnx_artifact, checked before it is loaded.",
            "onnx_binding": "Binds the ONNX blob to this model name and version, so a blob "
                            "moved to another row is refused.",
            "spec": "The model spec with the options it was trained with (JSON).",
            "metrics": "Validation metrics with the baseline's beside them (JSON: churn auc "
                       "vs baseline_auc; forecaster mase vs baseline_mase).",
            "feature_schema": "The input columns, their encoding and the drift profile (JSON).",
            "trained_rows": "Rows the version was trained on.",
            "training_seconds": "Wall-clock training time.",
            "device": "Where it trained (CPU or the GPU's name).",
            "created_at": "When the version was registered.",
            "created_by": "The login that trained it.",
            "activated_at": "When it last became active.",
        },
    ),
    ("ops", "runs", "TABLE"): (
        "One row per call of an ml routine (train, score, forecast, activate), failed, "
        "cancelled and abandoned ones included. Operators read their own runs.",
        {
            "run_id": "The run's key (predictions.* and ops.run_drift point at it).",
            "run_type": "Which routine: train_churn, score_churn, train_forecaster, forecast, "
                        "activate, ...",
            "model_name": "The model name the call was given.",
            "model_id": "The version it used or trained (models.registry); NULL when it "
                        "failed before choosing one.",
            "status": "running, succeeded, failed or abandoned (its session died).",
            "rows_in": "Rows (churn) or series (forecaster) read from the input.",
            "rows_out": "Rows written: scores, forecasts, or 1 for a trained version.",
            "params": "The call's parameters (JSON).",
            "started_at": "When the call began.",
            "finished_at": "When it ended; NULL while running.",
            "error": "The error a failed run ended with; NULL otherwise.",
            "created_by": "The login that called.",
            "backend_pid": "PostgreSQL: the calling session's process, to find abandoned runs.",
            "backend_start": "PostgreSQL: when that session started.",
            "session_id": "SQL Server: the calling session (@@SPID), to find abandoned runs.",
            "login_time": "SQL Server: when that session logged in.",
        },
    ),
    ("predictions", "churn_scores", "TABLE"): (
        "Every churn score every scoring run wrote; analysts read the newest per customer "
        "through predictions.churn_latest.",
        {
            "run_id": "The scoring run (ops.runs) that wrote the score.",
            "model_id": "The version that scored (models.registry).",
            "customer_id": "The customer's key, as the input query gave it (as text).",
            "churn_probability": "Probability (0 to 1) that the customer churns.",
            "scored_at": "When the score was written.",
        },
    ),
    ("predictions", "churn_reasons_latest", "VIEW"): (
        "Why each customer got their churn score, per model name: the reasons of the latest "
        "scoring run that kept reasons for the customer (ml.score_churn's explain), most "
        "risk-raising first (ORDER BY churn_probability DESC, rank). A later run without "
        "explain does not hide them; compare run_id with predictions.churn_latest's.",
        {
            "churn_probability": "The churn probability (0 to 1) of the run these reasons "
                                 "belong to.",
            "run_id": "The scoring run (ops.runs) that wrote the reasons and that score.",
        },
    ),
    ("models", "drift", "VIEW"): (
        "The latest drift measurement of each input feature, per model name (whichever "
        "version ran): the population stability index of the run's input against the "
        "version's training profile, flagged past 0.2. A run of too few rows records one "
        "row, feature '*', that says so.",
        {
            "model_version": "The version that ran the measuring run (its training "
                             "profile was the reference).",
        },
    ),
}
# What the two views' reworded descriptions said before (revisions 0015 and 0021).
PREVIOUS = {
    ("predictions", "churn_reasons_latest", "VIEW"): (
        "Why each customer got their latest churn score, per model name: the reasons the "
        "scoring run behind predictions.churn_latest kept (ml.score_churn's explain), most "
        "risk-raising first (ORDER BY churn_probability DESC, rank).",
        {
            "churn_probability": "The customer's latest churn probability (0 to 1).",
            "run_id": "The scoring run (ops.runs) that wrote them.",
        },
    ),
    ("models", "drift", "VIEW"): (
        "Latest input drift per model version and feature: the population stability "
        "index (PSI) of the newest run's input against the training profile; flagged "
        "when PSI > 0.2.",
        {
            "model_version": "The version whose training profile was the reference.",
        },
    ),
}
ENGINE_ONLY = {"backend_pid": False, "backend_start": False,  # PostgreSQL's columns
               "session_id": True, "login_time": True}  # SQL Server's


def _literal(text: str) -> str:
    quoted = "'" + text.replace("'", "''") + "'"
    return "N" + quoted if is_mssql() else quoted


def _columns(schema: str, name: str, columns: dict) -> dict:
    if op.get_context().as_sql:
        return {c: t for c, t in columns.items() if ENGINE_ONLY.get(c, is_mssql()) == is_mssql()}
    existing = {c["name"] for c in sa.inspect(op.get_bind()).get_columns(name, schema=schema)}
    return {c: t for c, t in columns.items() if c in existing}


def _ms_set(schema: str, name: str, kind: str, column: str | None, text: str | None) -> str:
    """Add, update or (text None) drop one MS_Description, whether or not it exists."""
    target = (f"@level0type = N'SCHEMA', @level0name = N'{schema}', "
              f"@level1type = N'{kind}', @level1name = N'{name}'")
    if column:
        target += f", @level2type = N'COLUMN', @level2name = N'{column}'"
    # Dropped where it exists, whatever that takes: Babelfish ends the connection when
    # fn_listextendedproperty is asked about a view's column, its
    # sys.extended_properties does not list them, and a missing one is error 15217 on
    # SQL Server but another number there. So the drop may fail quietly; the add that
    # follows it fails loudly if the description is still there.
    drop = ("BEGIN TRY EXEC sys.sp_dropextendedproperty @name = N'MS_Description', "
            f"{target}; END TRY BEGIN CATCH END CATCH")
    if text is None:
        return drop
    # Drop and add rather than sp_updateextendedproperty, which also ends Babelfish's
    # connection for a view's column.
    return (f"{drop};\nEXEC sys.sp_addextendedproperty @name = N'MS_Description', "
            f"@value = {_literal(text)}, {target}")


def _describe(descriptions: dict, drop_tables: bool = False) -> None:
    for (schema, name, kind), (about, columns) in descriptions.items():
        clear = drop_tables and kind == "TABLE"
        if is_mssql():
            op.execute(_ms_set(schema, name, kind, None, None if clear else about))
        else:
            op.execute(f"COMMENT ON {kind} {schema}.{name} IS "
                       f"{'NULL' if clear else _literal(about)}")
        for column, text in _columns(schema, name, columns).items():
            if is_mssql():
                op.execute(_ms_set(schema, name, kind, column, None if clear else text))
            else:
                op.execute(f"COMMENT ON COLUMN {schema}.{name}.{column} IS "
                           f"{'NULL' if clear else _literal(text)}")


def upgrade() -> None:
    _describe(DESCRIPTIONS)


def downgrade() -> None:
    _describe({k: v for k, v in DESCRIPTIONS.items() if k[2] == "TABLE"}, drop_tables=True)
    _describe(PREVIOUS)
