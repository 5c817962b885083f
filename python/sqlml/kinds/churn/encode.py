"""The churn features as the network's float32 matrix, on NumPy alone.

This is the one implementation of the transform that training and scoring
share (``Preprocessor.transform`` calls it), kept free of pandas so the scoring
path imports in a fraction of a second: on SQL Server every call is a fresh
process, and on PostgreSQL the first call of every session pays the imports.

Columns arrive as NumPy arrays: float64 for numbers (NaN for NULL), or object
arrays holding ``str``, ``int``, ``float``, ``Decimal``, ``bool`` or ``None``, as
drivers and PL/Python hand them over. Categories are matched per distinct value,
not per row: a column of 200,000 rows and a dozen values costs a dozen Python
calls and one C-level pass.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from sqlml.errors import InputError

CLIP = 10.0
# Category slots: 0 for NULL or blank, 1 for a value outside the vocabulary,
# then the vocabulary in order.
MISSING_SLOT, UNSEEN_SLOT = 0, 1


def by_lower_name(columns: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Columns keyed by their trimmed lower-case names, as every query's columns are
    matched to a model's; two columns that differ only in case are refused."""
    lowered: dict[str, np.ndarray] = {}
    for name, values in columns.items():
        low = str(name).strip().lower()
        if low in lowered:
            raise InputError(f"input has two columns named {low!r}: "
                             "alias one of them in the input query")
        lowered[low] = values
    return lowered


def category_text(v):
    """Text form of one value, None for NULL or blank; 3.0 and 3 are the same category."""
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return None
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    s = str(v).strip()
    return s if s else None


@dataclass(frozen=True)
class Coded:
    """A text column as its distinct values, in order of first appearance (None for
    NULL), and each row's position among them. Encoding and drift need no more of a
    column than this, so an adapter that builds it once while it splits the column
    (the PostgreSQL reader) spares both a pass over every row in Python."""

    values: list
    index: np.ndarray  # intp, one per row

    @classmethod
    def of(cls, items: list) -> Coded:
        position = {v: i for i, v in enumerate(dict.fromkeys(items))}
        index = np.fromiter(map(position.__getitem__, items), dtype=np.intp, count=len(items))
        return cls(list(position), index)

    def counts(self) -> list[int]:
        """How many rows hold each of ``values``."""
        return np.bincount(self.index, minlength=len(self.values)).tolist()

    def column(self) -> np.ndarray:
        """The column itself, as an object array."""
        distinct = np.empty(len(self.values), dtype=object)
        distinct[:] = self.values
        return distinct.take(self.index)


def category_slots(values: np.ndarray, vocabulary: list[str],
                   coded: Coded | None = None) -> np.ndarray:
    """Each value's one-hot slot (see MISSING_SLOT, UNSEEN_SLOT), as intp; ``coded``,
    when the caller has it, is the same column already coded (no pass over its rows)."""
    index = {v: i + 2 for i, v in enumerate(vocabulary)}

    def slot(v) -> int:
        text = category_text(v)
        return MISSING_SLOT if text is None else index.get(text, UNSEEN_SLOT)

    if coded is not None:
        return np.array([slot(v) for v in coded.values], dtype=np.intp)[coded.index]
    items = values.tolist()
    slot_of = {v: slot(v) for v in set(items)}
    # NaN objects hash by identity, and the list holds the very objects the set saw.
    return np.fromiter(map(slot_of.__getitem__, items), dtype=np.intp, count=len(items))


def _number(v):
    if v is None:
        return math.nan
    if isinstance(v, str):
        s = v.strip()
        if not s:
            return math.nan
        if "_" in s:  # float() reads "1_000"; SQL and pandas do not
            raise ValueError(s)
        return float(s)
    return float(v)  # bool, int, float, Decimal, NumPy scalars


# The largest magnitude a number may have: past it the float arithmetic of scaling
# (sums of squares), windows and the float32 network overflows or loses the column.
MAX_MAGNITUDE = 1e18


def refuse_extreme(values: np.ndarray, column: str) -> None:
    """No infinite number, and none past MAX_MAGNITUDE: an error naming the column
    (NaN is NULL, and passes)."""
    with np.errstate(invalid="ignore"):
        bad = np.abs(values) > MAX_MAGNITUDE
    if bad.any():
        raise InputError(
            f"column {column!r} has {int(bad.sum())} value(s) that are infinite or beyond "
            f"{MAX_MAGNITUDE:g} in magnitude (first {float(values[bad][0])!r}); numbers must "
            f"be finite, at most {MAX_MAGNITUDE:g} in magnitude, or NULL"
        )


def numeric_values(values: np.ndarray, column: str) -> np.ndarray:
    """A numeric feature as float64, NaN for NULL or blank; text that is no number,
    an infinite value or one past MAX_MAGNITUDE is an error naming the column (the
    model learned it as numeric)."""
    if values.dtype.kind in "fiub":
        out = values.astype(np.float64)
        refuse_extreme(out, column)
        return out
    items = values.tolist()
    out = np.empty(len(items), dtype=np.float64)
    bad = []
    for i, v in enumerate(items):
        try:
            out[i] = _number(v)
        except (TypeError, ValueError):
            bad.append(v)
            out[i] = math.nan
    if bad:
        examples = ", ".join(repr(v) for v in list(dict.fromkeys(bad))[:3])
        raise InputError(
            f"column {column!r} must be numeric, as it was in training; "
            f"found {examples} in {len(bad)} row(s)"
        )
    refuse_extreme(out, column)
    return out


def numeric_width(col: dict) -> int:
    """Matrix columns of one numeric feature: scaled value, was-missing flag, bins."""
    return 1 + bool(col["indicator"]) + max(len(col.get("edges") or []) - 1, 0)


def blocks(preprocessing: dict) -> dict[str, slice]:
    """Each feature's slice of the matrix, numeric features first, as ``transform`` lays
    them out."""
    out, pos = {}, 0
    for col in preprocessing["numeric"]:
        out[col["name"]] = slice(pos, pos + numeric_width(col))
        pos += numeric_width(col)
    for col in preprocessing["categorical"]:
        out[col["name"]] = slice(pos, pos + len(col["vocabulary"]) + 2)
        pos += len(col["vocabulary"]) + 2
    return out


def transform(preprocessing: dict, columns: Mapping[str, np.ndarray], n: int,
              numeric_ready: bool = False,
              slots: Mapping[str, np.ndarray] | None = None) -> np.ndarray:
    """The float32 input matrix of ``n`` rows. ``preprocessing`` is the bundle's
    ``features`` JSON (``Preprocessor.to_json``); ``columns`` maps lower-case names
    to arrays. ``numeric_ready``: numeric columns are already float64 (training
    converts them with its own rules first). ``slots``: categorical columns' slots
    (``category_slots``) where the caller has them already."""
    numeric, categorical = preprocessing["numeric"], preprocessing["categorical"]
    needed = [c["name"] for c in numeric] + [c["name"] for c in categorical]
    missing = [c for c in needed if c not in columns]
    if missing:
        raise InputError(f"input lacks feature column(s) the model needs: {', '.join(missing)}")
    width = sum(numeric_width(c) for c in numeric) + sum(len(c["vocabulary"]) + 2
                                                          for c in categorical)
    out = np.zeros((n, width), dtype=np.float32)
    pos = 0
    for col in numeric:
        values = columns[col["name"]]
        values = values if numeric_ready else numeric_values(values, col["name"])
        nan = np.isnan(values)
        filled = np.where(nan, col["median"], values)
        scaled = filled - col["mean"]
        scaled /= col["std"]
        out[:, pos] = np.clip(scaled, -CLIP, CLIP, out=scaled)
        if col["indicator"]:
            out[:, pos + 1] = nan
        edges = col.get("edges") or []
        if edges:  # piecewise-linear encoding over quantile bins (see preprocessing)
            edges = np.asarray(edges)
            start = pos + 1 + bool(col["indicator"])
            bins = np.subtract.outer(filled, edges[:-1])
            bins /= edges[1:] - edges[:-1]
            out[:, start:start + len(edges) - 1] = np.clip(bins, 0.0, 1.0, out=bins)
        pos += numeric_width(col)
    if not categorical:
        return out
    # Every one-hot 1 of every categorical column set in one scatter: row r's slot s of
    # the column whose block starts at p is element r * width + p + s.
    hot = np.empty((n, len(categorical)), dtype=np.intp)
    for j, col in enumerate(categorical):
        slot = (slots or {}).get(col["name"])
        if slot is None:
            slot = category_slots(columns[col["name"]], col["vocabulary"])
        hot[:, j] = slot + pos
        pos += len(col["vocabulary"]) + 2
    hot += (np.arange(n, dtype=np.intp) * width)[:, None]
    out.reshape(-1)[hot.ravel()] = 1.0
    return out
