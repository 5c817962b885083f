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


def _numeric(x: np.ndarray, expected: dict) -> tuple[float | None, dict]:
    missing = np.isnan(x)
    present = x[~missing]
    edges = expected["edges"]
    counts = np.bincount(np.searchsorted(np.asarray(edges), present, side="right"),
                         minlength=len(edges) + 1)
    actual = rounded(shares(counts, len(present)))
    null = round(float(missing.mean()) if len(x) else 0.0, 6)
    e = [s * (1 - expected["null"]) for s in expected["shares"]] + [expected["null"]]
    a = [s * (1 - null) for s in actual] + [null]
    detail = {"edges": edges, "expected": expected["shares"], "actual": actual,
              "null_expected": expected["null"], "null_actual": null,
              "mean_expected": expected.get("mean"),
              "mean_actual": float(present.mean()) if len(present) else None}
    return (psi(e, a) if len(x) else None), detail


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
    try:
        profile = usable_profile(profile)
        if profile is None:
            return problem(NO_PROFILE)
        if profile.get("kind") == "series":
            return problem("drift_rows measures churn inputs; series go through "
                           "sqlml.kinds.drift.drift")
        small = too_few(n, profile)
        if small is not None:
            return small
        threshold = float(profile.get("threshold", PSI_THRESHOLD))
        lowered = {name: np.asarray(values)[:n]
                   for name, values in encode.by_lower_name(columns).items()}
        coded = {name: c for name, c in encode.by_lower_name(coded or {}).items()
                 if len(c.index) == n}
        return [row(name, *compare(lowered.get(name), expected, coded.get(name)), threshold)
                for name, expected in profile["features"].items()]
    except Exception as exc:  # drift must never fail the run it measures
        return problem(f"drift could not be measured: {type(exc).__name__}: {exc}")
