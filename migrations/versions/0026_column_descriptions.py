"""Column descriptions of the tables the quick start reads, and the views' new meaning.

Revision ID: 0026
Revises: 0024
Create Date: 2026-12-06

Why (issue 22, findings 11, 13, 14): the quick start sends users to
``models.registry``, ``ops.runs`` and ``predictions.churn_scores``, whose columns
had no description; they get one (COMMENT ON; MS_Description on SQL Server), as
the analyst views have had since revision 0015. ``predictions.churn_reasons_latest``
now shows each customer's latest run that kept reasons (the nightly job keeps
none), and ``models.drift`` the latest row per model name and feature, so the
descriptions revision 0015 and 0021 gave them are reworded to say so. Schema DDL
only: no data moves.

On every engine the downgrade rewords the two views' descriptions back to what
revisions 0015 and 0021 said (their own downgrades then drop them). The views keep
their descriptions when a later revision replaces them: SQL Server's ALTER VIEW does,
and on Babelfish, which replaces a view by DROP and CREATE, deploy's translation puts
them back (``sqlml.deploy.tsql_batches``). Babelfish cannot list a view column's
description (fn_listextendedproperty ends the connection), so nothing here asks.
"""

import importlib.util
from pathlib import Path

import sqlalchemy as sa
from alembic import op

from sqlml.deploy.ddl import is_mssql

revision = "0026"
down_revision = "0024"

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
# The revisions whose descriptions of the two views this one rewords.
DESCRIBED_BY = {("models", "drift"): "0015_drift_and_descriptions.py",
                ("predictions", "churn_reasons_latest"): "0021_churn_reasons.py"}
ENGINE_ONLY = {"backend_pid": False, "backend_start": False,  # PostgreSQL's columns
               "session_id": True, "login_time": True}  # SQL Server's


def _previous(schema: str, view: str) -> tuple[str, dict]:
    """What the describing revision said of the view (its own data, read from its file)."""
    path = Path(__file__).with_name(DESCRIBED_BY[(schema, view)])
    spec = importlib.util.spec_from_file_location(f"sqlml_revision_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    if hasattr(module, "DESCRIPTIONS"):
        return module.DESCRIPTIONS[(schema, view)]
    return module.ABOUT, module.COLUMNS


def _literal(text: str) -> str:
    quoted = "'" + text.replace("'", "''") + "'"
    return "N" + quoted if is_mssql() else quoted


def _columns(schema: str, name: str, columns: dict) -> dict:
    if op.get_context().as_sql:
        return {c: t for c, t in columns.items() if ENGINE_ONLY.get(c, is_mssql()) == is_mssql()}
    existing = {c["name"] for c in sa.inspect(op.get_bind()).get_columns(name, schema=schema)}
    return {c: t for c, t in columns.items() if c in existing}


def _ms(action: str, schema: str, name: str, kind: str, column: str | None,
        text: str | None = None) -> str:
    """One MS_Description statement: add, update or drop."""
    target = (f"@level0type = N'SCHEMA', @level0name = N'{schema}', "
              f"@level1type = N'{kind}', @level1name = N'{name}'")
    if column:
        target += f", @level2type = N'COLUMN', @level2name = N'{column}'"
    value = "" if text is None else f"@value = {_literal(text)}, "
    return f"EXEC sys.sp_{action}extendedproperty @name = N'MS_Description', {value}{target}"


def _set(schema: str, name: str, kind: str, column: str | None, text: str | None,
         new: bool) -> None:
    """Describe (text None: undescribe) one object or column. On SQL Server a new
    description is added and an existing one reworded; a column's by drop and add,
    because Babelfish's sp_updateextendedproperty ends the connection on a view's."""
    if not is_mssql():
        target = f"{schema}.{name}" + (f".{column}" if column else "")
        what = "COLUMN" if column else kind
        op.execute(f"COMMENT ON {what} {target} IS "
                   f"{'NULL' if text is None else _literal(text)}")
    elif text is None:
        op.execute(_ms("drop", schema, name, kind, column))
    elif new:
        op.execute(_ms("add", schema, name, kind, column, text))
    elif column:
        op.execute(_ms("drop", schema, name, kind, column))
        op.execute(_ms("add", schema, name, kind, column, text))
    else:
        op.execute(_ms("update", schema, name, kind, None, text))


def upgrade() -> None:
    for (schema, name, kind), (about, columns) in DESCRIPTIONS.items():
        new = kind == "TABLE"
        _set(schema, name, kind, None, about, new)
        for column, text in _columns(schema, name, columns).items():
            _set(schema, name, kind, column, text, new)


def downgrade() -> None:
    for (schema, name, kind), (_, columns) in DESCRIPTIONS.items():
        if kind == "TABLE":
            _set(schema, name, kind, None, None, False)
            for column in _columns(schema, name, columns):
                _set(schema, name, kind, column, None, False)
            continue
        about, before = _previous(schema, name)
        _set(schema, name, kind, None, about, False)
        for column in _columns(schema, name, columns):
            _set(schema, name, kind, column, before[column], False)
