"""Column handling every model kind shares: case-insensitive names, numbers from any SQL type."""

from __future__ import annotations

import numpy as np
import pandas as pd

from sqlml.errors import InputError
from sqlml.kinds import keys
from sqlml.kinds.churn import encode


def normalise_columns(frame: pd.DataFrame) -> pd.DataFrame:
    """Lower-case column names (SQL identifiers are case-insensitive); refuse clashes."""
    lowered = [str(c).strip().lower() for c in frame.columns]
    seen: dict[str, str] = {}
    for original, low in zip(frame.columns, lowered, strict=True):
        if low in seen:
            raise InputError(
                f"input has two columns named {low!r} ({seen[low]!r} and {original!r}): "
                "alias one of them in the input query"
            )
        seen[low] = original
    out = frame.copy()
    out.columns = lowered
    return out


def _blank_to_nan(values: pd.Series) -> pd.Series:
    """Object or string values (pandas 3 infers ``str``) with blanks as NaN."""
    return values.astype(object).map(lambda v: np.nan if isinstance(v, str) and not v.strip()
                                     else v)


def as_numeric(values: pd.Series, column: str, strict: bool) -> pd.Series | None:
    """The column as float64, or None when it is not numeric (strict: raise instead)."""
    if pd.api.types.is_bool_dtype(values):
        return values.astype("float64")
    if pd.api.types.is_numeric_dtype(values):
        return values.astype("float64")
    if pd.api.types.is_datetime64_any_dtype(values):
        # Days since 1970: dates become a trend-like number the network can scale.
        stamps = pd.to_datetime(values, utc=True)
        return (stamps - pd.Timestamp(0, tz="UTC")).dt.total_seconds() / 86400.0
    cleaned = _blank_to_nan(values)
    converted = pd.to_numeric(cleaned.map(_number_or_text), errors="coerce")
    bad = converted.isna() & cleaned.notna()
    if bad.any():
        if strict:
            examples = ", ".join(repr(v) for v in cleaned[bad].unique()[:3])
            raise InputError(
                f"column {column!r} must be numeric, as it was in training; "
                f"found {examples} in {int(bad.sum())} row(s)"
            )
        return None
    return converted.astype("float64")


def _number_or_text(value):
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, str):
        return value.strip()
    try:
        return float(value)  # Decimal, int, numpy scalars
    except (TypeError, ValueError):
        return value


def text_ids(values: pd.Series, column: str, max_length: int, null_hint: str = "") -> pd.Series:
    """Ids as text, the key of the prediction tables, exactly as they went in (the rule
    of ``kinds.keys``: text untouched, integers as their digits, anything else that has
    no exact text refused, naming the column)."""
    if pd.api.types.is_datetime64_any_dtype(values) or pd.api.types.is_bool_dtype(values):
        raise InputError(f"column {column!r} is {values.dtype}: keys must be {keys.ACCEPTED}; "
                         "cast the column in the input query")
    items = values.astype(object).where(values.notna(), None).tolist()
    return pd.Series(keys.key_texts(items, column, max_length, null_hint), index=values.index,
                     dtype=object)


def refuse_duplicates(ids: pd.Series, column: str, what: str, why: str) -> None:
    """Each id once: copies would land on both sides of a validation split, or score twice."""
    duplicated = ids[ids.duplicated()]
    if not duplicated.empty:
        raise InputError(
            f"{what}: column {column!r} has {len(duplicated)} duplicate value(s) "
            f"(first {duplicated.iloc[0]!r}); {why}"
        )


def refuse_infinite(frame: pd.DataFrame, what: str) -> None:
    """No infinite number, and none past ``encode.MAX_MAGNITUDE``, in a feature column:
    an error naming the column and counting the rows (a value of 1e308 would overflow
    the column's scaling and leave it zero)."""
    for column in frame.columns:
        values = frame[column]
        if pd.api.types.is_bool_dtype(values):
            continue
        numbers = as_numeric(values, column, strict=False)
        if numbers is None:
            continue
        try:
            encode.refuse_extreme(numbers.to_numpy(dtype="float64"), column)
        except InputError as exc:
            raise InputError(f"{what}: {exc}") from None


# Python types a driver hands over for columns no model reads (bytea / VARBINARY,
# arrays, JSON documents, composites).
_UNSUPPORTED = (bytes, bytearray, memoryview, list, tuple, dict, set)
ACCEPTED_TYPES = "numbers, booleans, dates and timestamps, and text"


def refuse_unsupported(frame: pd.DataFrame, what: str) -> None:
    """Every column holds numbers, booleans, dates or text: a binary or array column is
    an error naming it, not a UnicodeDecodeError or an unhashable list later."""
    for column in frame.columns:
        values = frame[column]
        if values.dtype != object:
            continue
        odd = next((v for v in values.tolist() if isinstance(v, _UNSUPPORTED)), None)
        if odd is not None:
            raise InputError(f"{what}: column {column!r} holds {type(odd).__name__} values, "
                             f"which sqlml does not read: input columns must be "
                             f"{ACCEPTED_TYPES}; cast or leave it out in the input query")
