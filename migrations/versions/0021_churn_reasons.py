"""Churn reasons: the table ml.score_churn writes explanations to, and the analyst view.

Revision ID: 0021
Revises: 0020
Create Date: 2026-11-28

Why: a score alone does not tell a retention team what to do (issue 13). With
``explain = k`` a scoring run also writes, in the same transaction as its scores,
each customer's ``k`` strongest reasons: the input column, the customer's value
of it as text, and its contribution (the change in churn probability this value
accounts for, positive when it raises the risk; see
``sqlml.kinds.churn.explain``). Analysts read the latest run's reasons per model
name through ``predictions.churn_reasons_latest``, beside ``churn_latest``.
``ml.score_churn`` takes ``explain`` (default 0, so two-argument calls work as
before) on both engines; on PostgreSQL it travels in the run's params through
``ops.call`` to ``ops.run_score_churn``, whose embedded-Python half
``ops.churn_score_staged`` writes the reasons beside the scores, in the same
transaction. A PostgreSQL function's argument list is part of its identity, so the
old signatures are dropped before their new definitions are created (and the other
way round on downgrade).
Definitions: migrations/objects/0021/ (see sqlml/deploy/objects.py).
postgres ships: ml.score_churn, ops.churn_score_staged, ops.run_call,
    ops.run_score_churn, predictions.churn_reasons_latest.
mssql ships: ml.score_churn, predictions.churn_reasons_latest.
"""

import sqlalchemy as sa
from alembic import op

from sqlml.deploy.data_loss import refuse_unless_allowed
from sqlml.deploy.ddl import is_mssql
from sqlml.deploy.objects import apply_snapshot, execute, revert_snapshot

revision = "0021"
down_revision = "0020"

# What analysts see of the view (COMMENT ON / MS_Description), as revision 0015
# describes the other analyst views; kept here so a later wording is a later revision.
VIEW = ("predictions", "churn_reasons_latest")
ABOUT = ("Why each customer got their latest churn score, per model name: the reasons the "
         "scoring run behind predictions.churn_latest kept (ml.score_churn's explain), most "
         "risk-raising first (ORDER BY churn_probability DESC, rank).")
COLUMNS = {
    "customer_id": "The customer's key, as text (integer keys are their digits).",
    "rank": "1 for the reason that raises this customer's risk most, then 2, 3, ...",
    "feature": "The input column (as named in the scoring query).",
    "feature_value": "The customer's value of that column, as text; NULL when it was NULL.",
    "contribution": "Change in churn probability this value accounts for (Shapley value "
                    "against training customers): positive raises the risk.",
    "churn_probability": "The customer's latest churn probability (0 to 1).",
    "model_name": "The model name scored with (ml.score_churn's model_name).",
    "model_version": "The version of that model that produced the score and reasons.",
    "model_id": "The version's key in models.registry / models.active_models.",
    "run_id": "The scoring run (ops.runs) that wrote them.",
    "scored_at": "When the score was written.",
}

# PostgreSQL functions whose argument lists change here: (before, after).
SIGNATURES = [
    ("ml.score_churn(text, text)", "ml.score_churn(text, text, integer)"),
    ("ops.run_score_churn(bigint, text)", "ops.run_score_churn(bigint, text, integer)"),
    ("ops.churn_score_staged(bigint, bigint, bytea, text)",
     "ops.churn_score_staged(bigint, bigint, bytea, text, integer)"),
]


def _literal(text: str) -> str:
    quoted = "'" + text.replace("'", "''") + "'"
    return "N" + quoted if is_mssql() else quoted


def _describe(drop: bool = False) -> None:
    schema, view = VIEW
    for column, text in [(None, ABOUT), *COLUMNS.items()]:
        if is_mssql():
            target = (f"@level0type = N'SCHEMA', @level0name = N'{schema}', "
                      f"@level1type = N'VIEW', @level1name = N'{view}'")
            if column:
                target += f", @level2type = N'COLUMN', @level2name = N'{column}'"
            op.execute(f"EXEC sys.sp_dropextendedproperty @name = N'MS_Description', {target}"
                       if drop else
                       f"EXEC sys.sp_addextendedproperty @name = N'MS_Description', "
                       f"@value = {_literal(text)}, {target}")
        elif not drop:  # PostgreSQL's comments go with the view
            what = f"COLUMN {schema}.{view}.{column}" if column else f"VIEW {schema}.{view}"
            op.execute(f"COMMENT ON {what} IS {_literal(text)}")


def upgrade() -> None:
    op.create_table(
        "churn_reasons",
        # As for churn_scores: the run names its model, so no per-row foreign key
        # to the registry; the run itself is checked once per row batch by its key.
        sa.Column("run_id", sa.BigInteger, sa.ForeignKey("ops.runs.run_id"), nullable=False),
        sa.Column("customer_id", sa.Unicode(64), nullable=False),
        sa.Column("rank", sa.SmallInteger, nullable=False),
        sa.Column("feature", sa.Unicode(128), nullable=False),
        sa.Column("feature_value", sa.Unicode(4000)),  # NULL: the customer's value was NULL
        sa.Column("contribution", sa.Double, nullable=False),
        sa.PrimaryKeyConstraint("run_id", "customer_id", "rank"),
        sa.CheckConstraint("rank >= 1", name="rank"),
        sa.CheckConstraint("contribution BETWEEN -1 AND 1", name="contribution"),
        schema="predictions",
    )
    if not is_mssql():
        for before, _ in SIGNATURES:
            execute(f"DROP FUNCTION IF EXISTS {before}")
    apply_snapshot(revision)
    _describe()


def downgrade() -> None:
    refuse_unless_allowed("0021", tables=("predictions.churn_reasons",))
    _describe(drop=True)
    if not is_mssql():
        for _, after in SIGNATURES:
            execute(f"DROP FUNCTION IF EXISTS {after}")
    revert_snapshot(revision)
    op.drop_table("churn_reasons", schema="predictions")
