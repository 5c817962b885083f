"""What every PL/Python step of the PostgreSQL adapter shares: our errors raised as
PostgreSQL errors with a SQLSTATE (and no Python traceback), the session's prepared
plans, and frames handed back as rows.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING

from sqlml.errors import (
    ArtifactError,
    InputError,
    ModelNotFoundError,
    ResourceLimitError,
    SqlmlError,
)

if TYPE_CHECKING:
    import pandas as pd

SQLSTATES = {
    InputError: "22023",  # invalid_parameter_value
    ModelNotFoundError: "42704",  # undefined_object
    ArtifactError: "XX001",  # data_corrupted
    ResourceLimitError: "53400",  # configuration_limit_exceeded
}


def _state(exc: SqlmlError) -> str:
    return next((s for cls, s in SQLSTATES.items() if isinstance(exc, cls)), "XX000")


def database_errors(fn):
    """Raise our errors as ``plpy.error`` with a SQLSTATE, keeping the message clean."""

    @functools.wraps(fn)
    def wrapper(plpy, *args, **kwargs):
        try:
            return fn(plpy, *args, **kwargs)
        except SqlmlError as exc:
            plpy.error(f"sqlml: {exc}", sqlstate=_state(exc))

    return wrapper


# Prepared once per session (PL/Python keeps this module for the session's life).
_plans: dict[str, object] = {}


def _plan(plpy, sql: str, types: list[str]):
    plan = _plans.get(sql)
    if plan is None:
        plan = _plans[sql] = plpy.prepare(sql, types)
    return plan


def rows(frame: pd.DataFrame) -> list[tuple]:
    """A frame as PL/Python's set-returning functions want it, NaN as NULL."""
    clean = frame.astype(object).where(frame.notna(), None)
    return list(clean.itertuples(index=False, name=None))
