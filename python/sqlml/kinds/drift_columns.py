"""Input drift of a churn scoring run, on NumPy alone: :mod:`sqlml.kinds.drift`'s
comparison for inputs that arrive as one array per column (the PostgreSQL adapter's
``read_columns``), with the same numbers and the same ``detail``.

Why a second implementation: drift runs on every scoring call, and the pandas one
cost more than the scoring itself (issue 11, 200,000 rows: about 330 ms of a
1.7 s call; one row: about 9 ms of an 11 ms call, and importing pandas was 210 ms
of a new session's first call). Here a numeric feature is one ``searchsorted``
and one ``bincount``; a categorical one counts the distinct values once and
strips and matches only those. ``tests/test_drift.py`` holds the two to equality.

A column whose type does not fit its profile (text where training saw numbers,
numbers where it saw categories) is compared by the pandas implementation, which
is imported only then, so odd inputs keep exactly the old semantics.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from sqlml.kinds.churn import encode

PSI_THRESHOLD = 0.2
# Fewest rows (churn) or series (forecaster) a run's PSI is computed from. Bins of a
# handful of rows swing by whole shares, so one customer scored alone would be
# "flagged" on every feature. The spec sets it (limits.drift_min_rows); training
# stores it in the version's profile; profiles from before it have this default.
MIN_ROWS = 100
MIN_SERIES = 5  # a forecaster's run is measured per series (level and scale)
# Empty bins would make ln(a / e) infinite; a share this small stands in for zero.
SMOOTHING = 1e-4


def psi(expected: list[float] | np.ndarray, actual: list[float] | np.ndarray) -> float:
    """Population stability index of two share vectors over the same bins."""
    e = np.clip(np.asarray(expected, dtype=np.float64), SMOOTHING, None)
    a = np.clip(np.asarray(actual, dtype=np.float64), SMOOTHING, None)
    e, a = e / e.sum(), a / a.sum()
    return float(np.sum((a - e) * np.log(a / e)))


def shares(counts, total: int) -> list[float]:
    return [float(c) / total if total else 0.0 for c in counts]


def rounded(values) -> list[float]:
    return [round(float(v), 6) for v in values]


@dataclass
class _NumericTally:
    """A numeric feature's rows so far: counts per bin of the profile's edges, NULLs,
    and the sum of the present values (for the mean)."""

    counts: np.ndarray
    missing: int = 0
    rows: int = 0
    total: float = 0.0

    def add(self, x: np.ndarray, edges: list) -> None:
        missing = np.isnan(x)
        present = x[~missing]
        self.counts += np.bincount(np.searchsorted(np.asarray(edges), present, side="right"),
                                   minlength=len(edges) + 1)
        self.missing += int(missing.sum())
        self.rows += len(x)
        self.total += float(present.sum())


def _numeric_result(tally: _NumericTally, expected: dict) -> tuple[float | None, dict]:
    present = tally.rows - tally.missing
    actual = rounded(shares(tally.counts, present))
    null = round(float(tally.missing) / tally.rows if tally.rows else 0.0, 6)
    e = [s * (1 - expected["null"]) for s in expected["shares"]] + [expected["null"]]
    a = [s * (1 - null) for s in actual] + [null]
    detail = {"edges": expected["edges"], "expected": expected["shares"], "actual": actual,
              "null_expected": expected["null"], "null_actual": null,
              "mean_expected": expected.get("mean"),
              "mean_actual": tally.total / present if present else None}
    return (psi(e, a) if tally.rows else None), detail


def _numeric(x: np.ndarray, expected: dict) -> tuple[float | None, dict]:
    tally = _NumericTally(np.zeros(len(expected["edges"]) + 1, dtype=np.int64))
    tally.add(x, expected["edges"])
    return _numeric_result(tally, expected)


def _categories(raw_counts: Counter) -> tuple[dict[str, int], int]:
    """Counts of each category (stripped text; blank is NULL), most frequent first,
    ties in order of first appearance; and the number of NULLs."""
    merged: dict[str, int] = {}
    nulls = 0
    for raw, count in raw_counts.items():  # first-appearance order
        text = None if raw is None else raw.strip()
        if not text:
            nulls += count
        else:
            merged[text] = merged.get(text, 0) + count
    ordered = sorted(merged.items(), key=lambda kv: -kv[1])  # stable: ties keep order
    return dict(ordered), nulls


def _categorical(raw_counts: Counter, n: int, expected: dict) -> tuple[float | None, dict]:
    counts, nulls = _categories(raw_counts)
    total = n - nulls
    known = list(expected["shares"])
    actual_shares = {k: float(counts.get(k, 0)) / total if total else 0.0 for k in known}
    other = 1.0 - sum(actual_shares.values()) if total else 0.0
    null_actual = float(nulls) / n if n else 0.0
    present_e, present_a = 1 - expected["null"], 1 - null_actual
    e = [expected["shares"][k] * present_e for k in known] + \
        [expected["other"] * present_e, expected["null"]]
    a = [actual_shares[k] * present_a for k in known] + [other * present_a, null_actual]
    unseen = [k for k in counts if k not in expected["shares"]][:10]
    detail = {"expected": expected["shares"],
              "actual": {k: round(v, 6) for k, v in actual_shares.items()},
              "other_expected": expected["other"], "other_actual": round(other, 6),
              "null_expected": expected["null"], "null_actual": round(null_actual, 6),
              "unseen": unseen}
    return (psi(e, a) if n else None), detail


def compare(values: np.ndarray | None, expected: dict,
            coded: encode.Coded | None = None) -> tuple[float | None, dict]:
    """One feature's PSI and detail, as ``kinds.drift._compare`` computes them;
    ``coded``: the same column already coded, so its values are counted without a
    pass over its rows."""
    if values is None:
        return None, {"missing": True}
    if expected["type"] == "numeric" and values.dtype.kind == "f":
        return _numeric(values, expected)
    if expected["type"] != "numeric" and values.dtype == object:
        # Counter and Coded both list values in order of first appearance.
        raw_counts = (Counter(dict(zip(coded.values, coded.counts(), strict=True)))
                      if coded is not None else Counter(values.tolist()))
        if all(v is None or type(v) is str for v in raw_counts):
            return _categorical(raw_counts, len(values), expected)
    import pandas as pd  # a column whose type does not match its profile: rare

    from sqlml.kinds import drift

    return drift._compare(pd.Series(values), expected)


NO_PROFILE = ("this model version has no training profile (trained before drift was "
              "recorded): retrain it to measure drift")


def usable_profile(profile: dict | str | None) -> dict | None:
    """A version's training profile (JSON text or parsed), or None when it has none to
    compare against (trained before drift was recorded)."""
    if isinstance(profile, str):
        profile = json.loads(profile)
    return profile if profile and "features" in profile else None


def row(feature: str, value: float | None, detail: dict, threshold: float) -> tuple:
    """(feature, psi, flagged, detail JSON): one row of ``ops.run_drift``."""
    flagged = value is not None and value > threshold
    return (feature, value, bool(flagged), json.dumps({**detail, "threshold": threshold}))


def problem(message: str) -> list[tuple]:
    return [("*", None, False, json.dumps({"error": message}))]


def too_few(n: int, profile: dict, unit: str = "rows") -> list[tuple] | None:
    """The one row recorded instead of PSIs when ``n`` is below the profile's
    minimum (never a flag), or None when the sample is large enough."""
    least = int(profile.get("min_rows", MIN_SERIES if unit == "series" else MIN_ROWS))
    if n >= least:
        return None
    return [("*", None, False, json.dumps({
        "error": f"too few {unit}: {n}, drift needs at least {least} "
                 "(limits.drift_min_rows in the model's spec)",
        "too_few_rows": True, unit: int(n), "min_rows": least}))]


def drift_rows(columns: Mapping[str, np.ndarray], n: int, profile: dict | str | None,
               coded: Mapping[str, encode.Coded] | None = None) -> list[tuple]:
    """``n`` rows as one array per column (names in any case) against a churn
    version's training profile: one ``(feature, psi, flagged, detail)`` per profiled
    feature, as :func:`sqlml.kinds.drift.drift` gives them for the same rows. Never
    raises: an unusable input or profile is one row ``'*'`` that says why.
    ``coded``: text columns already coded (``encode.Coded``), by name."""
    return Tally(profile).add(columns, n, coded).rows()


@dataclass
class Tally:
    """:func:`drift_rows` for rows that arrive in batches: a scoring run adds each
    batch as it scores it, and :meth:`rows` gives what ``drift_rows`` gives for all the
    rows at once. The profile is additive (counts per bin, category and NULL), so
    memory holds those counts, never the rows; only a feature's mean adds up its
    batches' sums (equal to the whole's mean to about 1e-15, relative)."""

    profile: dict | str | None
    rows_seen: int = 0
    problem: str | None = None
    numeric: dict = field(default_factory=dict)  # name -> _NumericTally
    categorical: dict = field(default_factory=dict)  # name -> Counter of raw values
    missing: set = field(default_factory=set)  # profiled features the input lacks

    def __post_init__(self):
        try:
            self.profile = usable_profile(self.profile)
        except Exception as exc:  # drift must never fail the run it measures
            self.profile, self.problem = None, f"drift could not be measured: " \
                f"{type(exc).__name__}: {exc}"
            return
        if self.profile is None:
            self.problem = NO_PROFILE
        elif self.profile.get("kind") == "series":
            self.profile, self.problem = None, ("drift_rows measures churn inputs; series go "
                                                "through sqlml.kinds.drift.drift")

    def add(self, columns: Mapping[str, np.ndarray], n: int,
            coded: Mapping[str, encode.Coded] | None = None) -> Tally:
        """Count ``n`` more rows (one array per column, names in any case)."""
        if self.problem is not None:
            return self
        try:
            lowered = {name: np.asarray(values)[:n]
                       for name, values in encode.by_lower_name(columns).items()}
            coded = {name: c for name, c in encode.by_lower_name(coded or {}).items()
                     if len(c.index) == n}
            for name, expected in self.profile["features"].items():
                values = lowered.get(name)
                if values is None:
                    self.missing.add(name)
                elif expected["type"] == "numeric":
                    tally = self.numeric.setdefault(name, _NumericTally(
                        np.zeros(len(expected["edges"]) + 1, dtype=np.int64)))
                    tally.add(_as_float(values), expected["edges"])
                else:
                    self.categorical.setdefault(name, Counter()).update(
                        _raw_counts(values, coded.get(name)))
            self.rows_seen += n
        except Exception as exc:  # drift must never fail the run it measures
            self.problem = f"drift could not be measured: {type(exc).__name__}: {exc}"
        return self

    def state(self) -> str:
        """The counts so far as JSON text, for an engine that runs each batch in a new
        process (SQL Server: one external script per batch) to carry to the next."""
        return json.dumps({
            "rows": self.rows_seen, "problem": self.problem, "missing": sorted(self.missing),
            "numeric": {name: [t.counts.tolist(), t.missing, t.rows, t.total]
                        for name, t in self.numeric.items()},
            # pairs, not an object: a category may be NULL, and JSON keys are text
            "categorical": {name: [[value, count] for value, count in counter.items()]
                            for name, counter in self.categorical.items()}})

    @classmethod
    def from_state(cls, profile: dict | str | None, state: str | None) -> Tally:
        """A tally of ``profile`` holding the counts of :meth:`state` (None: no rows yet)."""
        tally = cls(profile)
        if not state:
            return tally
        saved = json.loads(state)
        tally.rows_seen = int(saved["rows"])
        tally.problem = tally.problem or saved.get("problem")
        tally.missing = set(saved["missing"])
        tally.numeric = {name: _NumericTally(np.asarray(counts, dtype=np.int64), int(missing),
                                             int(rows), float(total))
                         for name, (counts, missing, rows, total) in saved["numeric"].items()}
        tally.categorical = {name: Counter(dict((value, int(count)) for value, count in pairs))
                             for name, pairs in saved["categorical"].items()}
        return tally

    def rows(self) -> list[tuple]:
        """One ``(feature, psi, flagged, detail)`` per profiled feature, for every row added."""
        if self.problem is not None:
            return problem(self.problem)
        small = too_few(self.rows_seen, self.profile)
        if small is not None:  # a handful of rows says nothing of drift (issue 22)
            return small
        try:
            threshold = float(self.profile.get("threshold", PSI_THRESHOLD))
            out = []
            for name, expected in self.profile["features"].items():
                if name in self.missing:
                    result = (None, {"missing": True})
                elif expected["type"] == "numeric":
                    result = _numeric_result(self.numeric.get(name) or _NumericTally(
                        np.zeros(len(expected["edges"]) + 1, dtype=np.int64)), expected)
                else:
                    result = _categorical(self.categorical.get(name, Counter()),
                                          self.rows_seen, expected)
                out.append(row(name, *result, threshold))
            return out
        except Exception as exc:  # drift must never fail the run it measures
            return problem(f"drift could not be measured: {type(exc).__name__}: {exc}")


def _as_float(values: np.ndarray) -> np.ndarray:
    """A numeric feature's values as float64, NaN for NULL; text where training saw
    numbers is read as pandas' ``to_numeric`` reads it (unparsable: NULL), as
    ``kinds.drift`` compares it."""
    if values.dtype.kind == "f":
        return values
    import pandas as pd  # a column whose type does not match its profile: rare

    return pd.to_numeric(pd.Series(values), errors="coerce").astype("float64").to_numpy()


def _raw_counts(values: np.ndarray, coded: encode.Coded | None) -> Counter:
    """A categorical feature's values counted, in order of first appearance; numbers
    where training saw categories as ``kinds.drift`` turns them into text."""
    if values.dtype == object:
        raw = (Counter(dict(zip(coded.values, coded.counts(), strict=True)))
               if coded is not None else Counter(values.tolist()))
        if all(v is None or type(v) is str for v in raw):
            return raw
    import pandas as pd  # a column whose type does not match its profile: rare

    from sqlml.kinds import drift

    return Counter(v if isinstance(v, str) else None
                   for v in drift._as_text(pd.Series(values)).tolist())
