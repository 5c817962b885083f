"""Input drift per run (ops.run_drift, models.drift) and descriptions of the analyst views.

Revision ID: 0015
Revises: 0013
Create Date: 2026-11-28

Why: a model is only as good as the resemblance of today's data to its training
data. Every scoring and forecasting run compares its input with the profile its
model version stored at training time and keeps one row per feature here (the
population stability index and a flag past 0.2); ``models.drift`` shows the
latest per model and feature to analysts, reports and whoever decides to
retrain. The analyst-facing views and their columns are described in the
database itself (COMMENT ON; MS_Description on SQL Server), so SSMS, psql's
``\\d+`` and BI tools show what each column means.
Definitions: migrations/objects/0015/ (see sqlml/deploy/objects.py).
postgres ships: models.drift, ops.drift_staged, ops.run_forecast, ops.run_score_churn.
mssql ships: ml.forecast, ml.score_churn, models.drift.
"""

import sqlalchemy as sa
from alembic import op

from sqlml.deploy.data_loss import refuse_unless_allowed
from sqlml.deploy.ddl import is_mssql, json_checks, json_text, run_and_model
from sqlml.deploy.objects import apply_snapshot, revert_snapshot

revision = "0015"
down_revision = "0013"

# view -> (what it is, {column: what it holds}); kept in this revision so that a
# later change of wording is a later revision.
DESCRIPTIONS = {
    ("predictions", "churn_latest"): (
        "Each customer's most recent churn score, per model name: what reports and "
        "analysts read (WHERE churn_probability > 0.7).",
        {
            "customer_id": "The customer's key, as text (integer keys are their digits).",
            "churn_probability": "Probability (0 to 1) that the customer churns, from the "
                                 "model version named on the row.",
            "model_name": "The model name scored with (ml.score_churn's model_name).",
            "model_version": "The version of that model that produced this score.",
            "model_id": "The version's key in models.registry / models.active_models.",
            "run_id": "The scoring run (ops.runs) that wrote this score.",
            "scored_at": "When the score was written.",
        },
    ),
    ("predictions", "forecast_latest"): (
        "The newest forecast of each series, per model name, one row per future period, "
        "with its prediction interval.",
        {
            "series_id": "The series' key, as text.",
            "period": "The period forecast (a date on the series' own day of the month).",
            "step": "How many periods after the series' last actual value (1 = the next).",
            "forecast": "The forecast value, in the units of the series.",
            "lower": "Lower end of the prediction interval (coverage recorded in "
                     "models.registry metrics.coverage_target).",
            "upper": "Upper end of the prediction interval.",
            "model_name": "The forecaster's model name.",
            "model_version": "The version that produced this forecast.",
            "model_id": "The version's key in models.registry / models.active_models.",
            "run_id": "The forecasting run (ops.runs) that wrote this row.",
        },
    ),
    ("models", "active_models"): (
        "The version of each model name that scoring and forecasting use now; "
        "no model blobs, no features.",
        {
            "model_id": "The version's key.",
            "model_name": "The model name (a kind may have several names).",
            "version": "Version number within the name, counting from 1.",
            "kind": "churn or forecaster.",
            "metrics": "Validation metrics as JSON, with the baseline's beside them "
                       "(churn: auc vs baseline_auc; forecaster: mase vs baseline_mase).",
            "trained_rows": "Rows the version was trained on.",
            "training_seconds": "Wall-clock training time.",
            "device": "Where it trained (CPU or the GPU's name).",
            "status_reason": "Why the version has its status (the activation rule's verdict "
                             "or who activated it).",
            "created_at": "When the version was registered.",
            "created_by": "The login that trained it.",
            "activated_at": "When it became active.",
        },
    ),
    ("models", "drift"): (
        "Latest input drift per model version and feature: the population stability "
        "index (PSI) of the newest run's input against the training profile; flagged "
        "when PSI > 0.2.",
        {
            "model_name": "The model name.",
            "model_version": "The version whose training profile was the reference.",
            "kind": "churn or forecaster.",
            "model_id": "The version's key in models.registry.",
            "run_id": "The scoring or forecasting run that measured it (ops.runs).",
            "run_type": "score_churn or forecast.",
            "measured_at": "When that run started.",
            "feature": "The input column (churn) or series_level / series_scale "
                       "(forecaster); '*' when drift could not be measured (see detail).",
            "psi": "Population stability index: < 0.1 stable, 0.1-0.2 moderate, "
                   "> 0.2 a shift worth acting on. NULL when not measurable.",
            "flagged": "True when psi exceeds the threshold (0.2).",
            "detail": "JSON: the bins or categories with training and current shares, "
                      "null shares, means, unseen categories, moved series.",
        },
    ),
}


def _existing_columns(schema: str, view: str) -> set[str] | None:
    """The view's columns, online; None offline (--sql), where everything is described."""
    if op.get_context().as_sql:
        return None
    return {c["name"] for c in sa.inspect(op.get_bind()).get_columns(view, schema=schema)}


def _literal(text: str) -> str:
    quoted = "'" + text.replace("'", "''") + "'"
    return "N" + quoted if is_mssql() else quoted


def _ms_description(schema: str, view: str, column: str | None, text: str | None) -> str:
    target = (f"@level0type = N'SCHEMA', @level0name = N'{schema}', "
              f"@level1type = N'VIEW', @level1name = N'{view}'")
    if column:
        target += f", @level2type = N'COLUMN', @level2name = N'{column}'"
    if text is None:
        return f"EXEC sys.sp_dropextendedproperty @name = N'MS_Description', {target}"
    return (f"EXEC sys.sp_addextendedproperty @name = N'MS_Description', "
            f"@value = {_literal(text)}, {target}")


def _describe(drop: bool = False) -> None:
    for (schema, view), (about, columns) in DESCRIPTIONS.items():
        existing = _existing_columns(schema, view)
        statements = []
        if is_mssql():
            statements.append(_ms_description(schema, view, None, None if drop else about))
        else:
            statements.append(f"COMMENT ON VIEW {schema}.{view} IS "
                              f"{'NULL' if drop else _literal(about)}")
        for column, text in columns.items():
            if existing is not None and column not in existing:
                continue
            if is_mssql():
                statements.append(_ms_description(schema, view, column, None if drop else text))
            else:
                statements.append(f"COMMENT ON COLUMN {schema}.{view}.{column} IS "
                                  f"{'NULL' if drop else _literal(text)}")
        for statement in statements:
            op.execute(statement)


def upgrade() -> None:
    op.create_table(
        "run_drift",
        *run_and_model(),
        sa.Column("feature", sa.Unicode(256), nullable=False),
        sa.Column("psi", sa.Double),
        sa.Column("flagged", sa.Boolean, nullable=False),
        sa.Column("detail", json_text()),
        sa.PrimaryKeyConstraint("run_id", "feature"),
        *json_checks("run_drift", "detail"),
        schema="ops",
    )
    op.create_index("ix_run_drift_model_id_feature_run_id", "run_drift",
                    ["model_id", "feature", "run_id"], schema="ops")
    apply_snapshot(revision)
    _describe()


def downgrade() -> None:
    refuse_unless_allowed("0015", tables=("ops.run_drift",))
    _describe(drop=True)
    revert_snapshot(revision)
    op.drop_index("ix_run_drift_model_id_feature_run_id", table_name="run_drift", schema="ops")
    op.drop_table("run_drift", schema="ops")
