"""Keys (customer ids, series ids) as text, exactly as they went in.

A key is what a caller joins predictions back on, so it must come back byte for
byte: text as it was (no trimming: ``' 42 '``, ``'42'`` and ``'x\\n'`` are three
customers), integers and whole NUMERICs as their exact digits. A value that has no
exact text form here (a date, a boolean, a fraction held in a float, a float past
2**53) is refused with the column's name rather than rewritten: a rounded key can
be another customer's.

Pure Python, no pandas: churn scoring imports it on its lean path. Every reader
(PostgreSQL's, SQL Server's frames, Spark's batches) ends here.
"""

from __future__ import annotations

import math
from decimal import Decimal

from sqlml.errors import InputError

ACCEPTED = ("integers or NUMERIC (smallint, int, bigint, numeric) or text "
            "(text, varchar, char, uuid)")
# float64 holds every integer up to 2**53 exactly; past it a driver's float may
# already be another integer.
FLOAT_EXACT = 2 ** 53


def _refuse(column: str, value, why: str) -> InputError:
    shown = repr(value)
    return InputError(f"column {column!r} holds {shown[:80]} ({why}): keys must be {ACCEPTED}, "
                      "and come back exactly as they went in; cast the column in the input "
                      "query")


def key_text(value, column: str) -> str | None:
    """One key as its exact text; None for NULL; InputError naming ``column`` for a
    value with no exact text form."""
    if value is None:
        return None
    if isinstance(value, str):
        return value
    kind = type(value).__name__
    if isinstance(value, bool) or kind == "bool_":
        raise _refuse(column, value, "a boolean")
    if isinstance(value, int) or kind.startswith(("int", "uint")):
        return str(int(value))
    if isinstance(value, Decimal):
        if value.is_nan():
            return None
        if not value.is_finite():
            raise _refuse(column, value, "not a finite number")
        return str(int(value)) if value == value.to_integral_value() else str(value)
    if isinstance(value, float) or kind.startswith("float"):
        number = float(value)
        if math.isnan(number):
            return None
        if not number.is_integer() or abs(number) > FLOAT_EXACT:
            raise _refuse(column, value, "a floating-point value, not an exact integer")
        return str(int(number))
    if kind in ("NaTType", "NAType"):
        return None
    raise _refuse(column, value, f"a {kind}")


def key_texts(items: list, column: str, max_length: int, null_hint: str = "") -> list[str]:
    """Keys as exact text: no NULL, at most ``max_length`` characters each."""
    if set(map(type, items)) <= {str}:  # a reader's text: one C-level pass
        keys = list(items)
    else:
        keys = [key_text(v, column) for v in items]
        nulls = sum(k is None for k in keys)
        if nulls:
            raise InputError(f"column {column!r} has {nulls} NULL value(s)"
                             + (f"; {null_hint}" if null_hint else ""))
    if max(map(len, keys), default=0) > max_length:
        first = next(k for k in keys if len(k) > max_length)
        raise InputError(f"column {column!r} values must be at most {max_length} characters; "
                         f"{first[:80]!r} is {len(first)}")
    return keys
