"""Downgrades that would drop data refuse unless told.

A downgrade that drops a table or a column drops its rows with it, and nothing
brings them back (``alembic downgrade 0020`` used to drop every kept churn reason
without a word). So each such revision calls :func:`refuse_unless_allowed` first,
naming what it drops; online, it counts what they hold and refuses while any holds
data; offline (``--sql``) it cannot look, so it refuses outright. Either way the
sentence says what would go and how to allow it: ``alembic -x allow_data_loss=true
downgrade ...`` (or ``config.attributes["allow_data_loss"] = True`` for code that
drives Alembic itself).

A downgrade that changes or deletes rows it keeps (a status relabelled, forecasts
of a finer calendar deleted) names each such :class:`Rewrite` with the rows it
would touch, whatever else it drops, and refuses while any exist.

Tables whose rows a revision writes itself (``models.specs``) are not guarded: an
upgrade writes them again.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from alembic import context, op

from sqlml.errors import SqlmlError

FLAG = "allow_data_loss"


@dataclass(frozen=True)
class Rewrite:
    """Rows of ``table`` ('schema.table') that a downgrade changes or deletes: those
    matching ``where`` (SQL, this engine's), in words ``sentence``."""

    sentence: str
    table: str
    where: str


def allowed() -> bool:
    """Whether this Alembic run was told that a downgrade may drop data."""
    flag = context.get_x_argument(as_dictionary=True).get(FLAG)
    if flag is None:
        flag = context.config.attributes.get(FLAG)
    return str(flag).strip().lower() in ("true", "1", "yes")


def _held(bind, table: str, column: str | None) -> int:
    schema, name = table.split(".")
    inspector = sa.inspect(bind)
    if not inspector.has_table(name, schema=schema):
        return 0
    if column and column not in {c["name"] for c in inspector.get_columns(name, schema=schema)}:
        return 0  # an engine this revision did not add the column on
    target = sa.table(name, sa.column(column) if column else sa.column("x"), schema=schema)
    counted = sa.func.count(target.c[column]) if column else sa.func.count()
    return int(bind.execute(sa.select(counted).select_from(target)).scalar() or 0)


def _touched(bind, rewrite: Rewrite) -> int:
    schema, name = rewrite.table.split(".")
    if not sa.inspect(bind).has_table(name, schema=schema):
        return 0
    return int(bind.execute(sa.text(
        f"SELECT count(*) FROM {rewrite.table} WHERE {rewrite.where}")).scalar() or 0)


def refuse_unless_allowed(revision: str, tables: tuple[str, ...] = (),
                          columns: tuple[tuple[str, str], ...] = (),
                          rewrites: tuple[Rewrite, ...] = ()) -> None:
    """Refuse revision ``revision``'s downgrade unless allowed, when it would drop any
    of ``tables`` ('schema.table') or ``columns`` (('schema.table', 'column')) with data
    in them, or make one of ``rewrites`` to rows that exist (each named on its own,
    whether or not anything else is dropped)."""
    if allowed():
        return
    if context.is_offline_mode():
        lost = [*tables, *(f"{t}.{c}" for t, c in columns), *(r.sentence for r in rewrites)]
    else:
        bind = op.get_bind()
        lost = [f"{t} ({n} rows)" for t in tables if (n := _held(bind, t, None))]
        lost += [f"{t}.{c} ({n} values)" for t, c in columns if (n := _held(bind, t, c))]
        lost += [f"{r.sentence} ({n} rows)" for r in rewrites if (n := _touched(bind, r))]
    held = ", ".join(lost)
    if lost:
        raise SqlmlError(
            f"downgrade of revision {revision} would drop data: {held}; nothing was changed. "
            f"Back it up first, or run it with -x {FLAG}=true to drop it"
        )


# Revisions 0010 (PostgreSQL) and 0011 (SQL Server) added status 'abandoned'; going
# below them relabels those runs.
ABANDONED_BECOME_FAILED = Rewrite("ops.runs: status 'abandoned' becomes 'failed'", "ops.runs",
                                  "status = 'abandoned'")
