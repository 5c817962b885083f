"""Input drift: does the data a run reads still look like the data the model learned from?

Each version stores a **profile** of its training inputs with its registration
(``feature_schema.profile``):

* churn: per numeric feature the edges of ten quantile bins and the share of
  training rows in each (plus the share of NULLs); per categorical feature the
  share of each category (the rarest beyond ``MAX_CATEGORIES`` pooled as
  ``other``, plus NULLs);
* forecaster: per series its level (mean of its last ``SEASON`` values) and scale
  (standard deviation of its values), and the same bins over the series' levels
  and scales.

Each scoring and forecasting run profiles its own input the same way and
compares, per feature, with the **population stability index**
``PSI = sum((a - e) * ln(a / e))`` over the bins (``e``: training share, ``a``:
this run's share). The common reading, used here: below 0.1 stable, 0.1 to 0.2
a moderate shift, **above 0.2 (``PSI_THRESHOLD``) a shift worth acting on**,
which sets ``flagged``. Drift is information, never an error: :func:`drift`
returns a frame even when the input or the profile is unusable.

Engine-neutral: plain pandas in, plain pandas out; the adapters store the rows
in ``ops.run_drift``.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

from sqlml.errors import InputError

# The threshold, the PSI, the share rounding and the rows (flagged past the threshold,
# or one '*' row that says why not) are shared with the NumPy-only comparison that
# churn scoring runs on its columns (kinds/drift_columns.py).
from sqlml.kinds import drift_columns, keys
from sqlml.kinds.columns import as_numeric, normalise_columns
from sqlml.kinds.drift_columns import PSI_THRESHOLD, SMOOTHING, psi  # noqa: F401
from sqlml.kinds.drift_columns import rounded as _round
from sqlml.kinds.drift_columns import shares as _shares

BINS = 10
MAX_CATEGORIES = 50
SEASON = 12
OTHER = "(other)"
NULL = "(null)"
COLUMNS = ["feature", "psi", "flagged", "detail"]
PROFILE_VERSION = 1


# --- profiles, at training time --------------------------------------------------


def numeric_profile(values: pd.Series) -> dict:
    """Quantile bin edges (inner edges only: the outer bins are open) and shares."""
    x = pd.to_numeric(values, errors="coerce").astype("float64")
    present = x.dropna().to_numpy()
    # Rounded before the shares are counted: a run bins with the stored (rounded)
    # edges, and quantile edges often fall exactly on a training value.
    edges = _round(np.unique(np.quantile(present, np.linspace(0, 1, BINS + 1)[1:-1]))) \
        if len(present) else []
    return {
        "type": "numeric",
        "edges": edges,
        **_numeric_shares(x, edges),
        "mean": float(present.mean()) if len(present) else None,
    }


def _numeric_shares(x: pd.Series, edges) -> dict:
    present = x.dropna().to_numpy()
    counts = np.bincount(np.searchsorted(np.asarray(edges), present, side="right"),
                         minlength=len(edges) + 1)
    return {"shares": _round(_shares(counts, len(present))),
            "null": round(float(x.isna().mean()) if len(x) else 0.0, 6)}


def _as_text(values: pd.Series) -> pd.Series:
    """Categories as stripped text, NULL and blank as None (vectorised: this runs on
    every column of every scoring run)."""
    values = values.astype(object)
    text = values.astype(str).str.strip()
    return text.where(values.notna() & (text != ""), None).astype(object)


def categorical_profile(values: pd.Series) -> dict:
    text = _as_text(values)
    counts = text.dropna().value_counts()
    kept = counts.iloc[:MAX_CATEGORIES]
    total = int(counts.sum())
    shares = {str(k): round(float(v) / total, 6) for k, v in kept.items()} if total else {}
    return {
        "type": "categorical",
        "shares": shares,
        "other": round(float(counts.iloc[MAX_CATEGORIES:].sum()) / total, 6) if total else 0.0,
        "null": round(float(text.isna().mean()) if len(text) else 0.0, 6),
    }


def feature_profile(features: pd.DataFrame, numeric: list[str],
                    categorical: list[str], min_rows: int = drift_columns.MIN_ROWS) -> dict:
    """The training inputs of a churn model (``features``: no id, no label);
    ``min_rows``: the fewest rows a run's drift is measured from."""
    frame = normalise_columns(features)
    out = {}
    for name in numeric:
        out[name] = numeric_profile(as_numeric(frame[name], name, strict=False)
                                    if name in frame else pd.Series(dtype="float64"))
    for name in categorical:
        out[name] = categorical_profile(frame[name] if name in frame
                                        else pd.Series(dtype=object))
    return {"version": PROFILE_VERSION, "kind": "features", "rows": int(len(frame)),
            "threshold": PSI_THRESHOLD, "min_rows": int(min_rows), "features": out}


def _series_key(value) -> str:
    """A series id as the forecaster keys it (``kinds.keys``); drift never refuses one."""
    try:
        return keys.key_text(value, "series_id")
    except InputError:
        return str(value)


def series_stats(frame: pd.DataFrame) -> pd.DataFrame:
    """Per series: ``level`` (mean of the last ``SEASON`` values in period order) and
    ``scale`` (standard deviation of all its values)."""
    frame = normalise_columns(frame)
    data = pd.DataFrame({
        "series_id": frame["series_id"].astype(object).map(_series_key),
        "period": pd.to_datetime(frame["period"], utc=True, errors="coerce"),
        "value": pd.to_numeric(frame["value"], errors="coerce"),
    }).dropna(subset=["period", "value"]).sort_values(["series_id", "period"])
    grouped = data.groupby("series_id")["value"]
    return pd.DataFrame({
        "level": grouped.apply(lambda v: float(v.iloc[-SEASON:].mean())),
        "scale": grouped.std(ddof=0).fillna(0.0),
    })


def series_profile(frame: pd.DataFrame, min_rows: int = drift_columns.MIN_SERIES) -> dict:
    """The training inputs of a forecaster: rows of series_id, period, value;
    ``min_rows``: the fewest series a run's drift is measured from."""
    stats = series_stats(frame)
    return {
        "version": PROFILE_VERSION, "kind": "series", "rows": int(len(frame)),
        "threshold": PSI_THRESHOLD, "min_rows": int(min_rows),
        "features": {"series_level": numeric_profile(stats["level"]),
                     "series_scale": numeric_profile(stats["scale"])},
        "series": {str(k): [round(float(r.level), 6), round(float(r.scale), 6)]
                   for k, r in stats.iterrows()},
    }


# --- comparison, at every run ----------------------------------------------------


def _compare(values: pd.Series | None, expected: dict) -> tuple[float | None, dict]:
    if values is None:
        return None, {"missing": True}
    if expected["type"] == "numeric":
        actual = _numeric_shares(pd.to_numeric(values, errors="coerce").astype("float64"),
                                 expected["edges"])
        e = [s * (1 - expected["null"]) for s in expected["shares"]] + [expected["null"]]
        a = [s * (1 - actual["null"]) for s in actual["shares"]] + [actual["null"]]
        present = pd.to_numeric(values, errors="coerce").dropna()
        detail = {"edges": expected["edges"], "expected": expected["shares"],
                  "actual": actual["shares"], "null_expected": expected["null"],
                  "null_actual": actual["null"], "mean_expected": expected.get("mean"),
                  "mean_actual": float(present.mean()) if len(present) else None}
        return (psi(e, a) if len(values) else None), detail
    text = _as_text(values)
    total = int(text.notna().sum())
    counts = text.dropna().value_counts()
    known = list(expected["shares"])
    actual_shares = {k: float(counts.get(k, 0)) / total if total else 0.0 for k in known}
    other = 1.0 - sum(actual_shares.values()) if total else 0.0
    null_actual = float(text.isna().mean()) if len(text) else 0.0
    present_e, present_a = 1 - expected["null"], 1 - null_actual
    e = [expected["shares"][k] * present_e for k in known] + \
        [expected["other"] * present_e, expected["null"]]
    a = [actual_shares[k] * present_a for k in known] + [other * present_a, null_actual]
    unseen = [str(k) for k in counts.index if k not in expected["shares"]][:10]
    detail = {"expected": expected["shares"], "actual": _rounded_dict(actual_shares),
              "other_expected": expected["other"], "other_actual": round(other, 6),
              "null_expected": expected["null"], "null_actual": round(null_actual, 6),
              "unseen": unseen}
    return (psi(e, a) if len(values) else None), detail


def _rounded_dict(shares: dict) -> dict:
    return {k: round(v, 6) for k, v in shares.items()}


def _row(feature: str, value: float | None, detail: dict, threshold: float) -> dict:
    return dict(zip(COLUMNS, drift_columns.row(feature, value, detail, threshold),
                    strict=True))


def _feature_rows(frame: pd.DataFrame, profile: dict, threshold: float) -> list[dict]:
    frame = normalise_columns(frame)
    rows = []
    for name, expected in profile["features"].items():
        value, detail = _compare(frame[name] if name in frame else None, expected)
        rows.append(_row(name, value, detail, threshold))
    return rows


def _series_rows(frame: pd.DataFrame, profile: dict, threshold: float) -> list[dict]:
    return _stats_rows(series_stats(frame), profile, threshold)


def _stats_rows(stats: pd.DataFrame, profile: dict, threshold: float) -> list[dict]:
    rows = []
    for name, column in (("series_level", "level"), ("series_scale", "scale")):
        value, detail = _compare(stats[column], profile["features"][name])
        rows.append(_row(name, value, detail, threshold))
    # Which series moved: level now against level in training, in training scales.
    trained = pd.DataFrame.from_dict(profile.get("series", {}), orient="index",
                                     columns=["level_trained", "scale_trained"])
    joined = stats.join(trained, how="inner")
    moved = ((joined["level"] - joined["level_trained"]).abs()
             / joined["scale_trained"].where(joined["scale_trained"] > 0)).dropna()
    moved = moved[moved > 3].sort_values(ascending=False)
    detail = json.loads(rows[0]["detail"])
    detail.update({"series_compared": int(len(joined)),
                   "series_new": int(len(stats) - len(joined)),
                   "series_moved_3_scales": int(len(moved)),
                   "most_moved": {str(k): round(float(v), 3) for k, v in moved.iloc[:5].items()}})
    rows[0]["detail"] = json.dumps(detail)
    return rows


def drift(frame: pd.DataFrame, profile: dict | str | None) -> pd.DataFrame:
    """One row per profiled feature: ``feature``, ``psi`` (NULL when it cannot be
    measured: the column is missing or the input is empty), ``flagged``
    (``psi > threshold``), ``detail`` (JSON: the bins and both shares). An
    unusable profile or input gives one row ``feature = '*'`` whose detail says
    why, so that a run is never failed by its drift check."""
    try:
        profile = drift_columns.usable_profile(profile)
        if profile is None:
            return _problem(drift_columns.NO_PROFILE)
        threshold = float(profile.get("threshold", PSI_THRESHOLD))
        if profile.get("kind") == "series":
            n = normalise_columns(frame)["series_id"].nunique() if len(frame) else 0
            small = drift_columns.too_few(n, profile, "series")
        else:
            small = drift_columns.too_few(len(frame), profile)
        if small is not None:
            return pd.DataFrame(small, columns=COLUMNS)
        if profile.get("kind") == "series":
            rows = _series_rows(frame, profile, threshold)
        else:
            rows = _feature_rows(frame, profile, threshold)
        return pd.DataFrame(rows, columns=COLUMNS)
    except Exception as exc:  # drift must never fail the run it measures
        return _problem(f"drift could not be measured: {type(exc).__name__}: {exc}")


def series_drift(stats: pd.DataFrame | None, n_series: int,
                 profile: dict | str | None) -> pd.DataFrame:
    """:func:`drift` of a forecasting input read a batch of whole series at a time,
    from its series' ``series_stats`` (concatenated, in series order) and its number of
    series: the same rows as :func:`drift` of the whole input. Never raises."""
    try:
        profile = drift_columns.usable_profile(profile)
        if profile is None:
            return _problem(drift_columns.NO_PROFILE)
        if profile.get("kind") != "series":
            return _problem("drift could not be measured: the version's profile is not "
                            "a forecaster's")
        small = drift_columns.too_few(n_series, profile, "series")
        if small is not None:
            return pd.DataFrame(small, columns=COLUMNS)
        if stats is None:
            stats = pd.DataFrame({"level": [], "scale": []})
        threshold = float(profile.get("threshold", PSI_THRESHOLD))
        return pd.DataFrame(_stats_rows(stats, profile, threshold), columns=COLUMNS)
    except Exception as exc:  # drift must never fail the run it measures
        return _problem(f"drift could not be measured: {type(exc).__name__}: {exc}")


def _problem(message: str) -> pd.DataFrame:
    return pd.DataFrame(drift_columns.problem(message), columns=COLUMNS)


def as_json(rows: pd.DataFrame) -> str:
    """The drift rows as one JSON array (``detail`` as an object): what the engines'
    procedures unpack into ``ops.run_drift`` (jsonb_to_recordset / OPENJSON)."""
    records = []
    for row in rows.itertuples(index=False):
        value = None if row.psi is None or pd.isna(row.psi) else round(float(row.psi), 6)
        records.append({"feature": row.feature, "psi": value, "flagged": bool(row.flagged),
                        "detail": json.loads(row.detail)})
    return json.dumps(records)
