"""Call the public ``ml.*`` routines from Python, the same way on both engines.

T-SQL: ``EXEC ml.score_churn @model_name = ?``. PostgreSQL:
``SELECT * FROM ml.score_churn(model_name => %(model_name)s)``. Parameters are
always bound, never formatted into the statement. Progress messages the
routine emits (NOTICE on PostgreSQL) go to ``progress`` as they arrive.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import sqlalchemy as sa

from sqlml.errors import InputError

ROUTINES = {
    "train_churn_model": ("model_name", "input_query", "options", "activate"),
    "score_churn": ("model_name", "input_query"),
    "train_forecaster": ("model_name", "input_query", "options", "activate"),
    "forecast": ("model_name", "horizon", "input_query"),
    "activate_model": ("model_name", "version"),
    "runtime_info": (),
}


def statement(dialect: str, routine: str, params: dict) -> str:
    if routine not in ROUTINES:
        raise InputError(f"unknown routine ml.{routine}; known: {', '.join(ROUTINES)}")
    unknown = set(params) - set(ROUTINES[routine])
    if unknown:
        raise InputError(f"ml.{routine} has no parameter {sorted(unknown)[0]!r}")
    names = [n for n in ROUTINES[routine] if n in params]
    if dialect == "mssql":
        args = ", ".join(f"@{n} = :{n}" for n in names)
        return f"EXEC ml.{routine} {args}".rstrip()
    args = ", ".join(f"{n} => :{n}" for n in names)
    return f"SELECT * FROM ml.{routine}({args})"


def call(engine: sa.Engine, routine: str, progress: Callable[[str], None] | None = None,
         **params) -> list[dict]:
    """Run one routine in its own transaction; returns its result rows as dicts."""
    params = {k: v for k, v in params.items() if v is not None}
    sql = statement(engine.dialect.name, routine, params)
    with engine.begin() as connection:
        raw = connection.connection.driver_connection
        handler = None
        if progress and engine.dialect.name == "postgresql":
            def handler(diagnostic):
                progress(re.sub(r"^sqlml: ", "", diagnostic.message_primary or ""))
            raw.add_notice_handler(handler)
        try:
            return [dict(row) for row in connection.execute(sa.text(sql), params).mappings()]
        finally:
            if handler is not None:
                raw.remove_notice_handler(handler)
