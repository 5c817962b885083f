"""The active version (the champion) measured on the rows a new version (the
challenger) was measured on, so the activation rule compares two figures of one exam.

Each version records its validation metric on its own split; after the data moves,
two such figures are marks of two different exams. Here the champion's ONNX bundle
scores the challenger's held-out rows, and the same metric is computed on them:

- churn: the challenger's validation split (the same stratified split of the same
  training rows, rebuilt from the seed and fraction it recorded), AUC;
- forecaster: the challenger's backtest, each series' last ``horizon`` periods held
  out, forecast by the champion from the periods before them, MASE on each series'
  own seasonal scale.

The result goes into the challenger's metrics as ``same_rows``; ``ops.register_model``
(both engines) applies the rule to it. A comparison that cannot be made (the champion
needs a column the rows lack, was trained for a shorter horizon, ...) is recorded as
an ``error``, and the rule then keeps the champion.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from sqlml.errors import SqlmlError

CHURN_ROWS = "the challenger's validation split"
FORECAST_ROWS = "the challenger's backtest: each series' last {horizon} periods"


def compare(kind: str, frame: pd.DataFrame, spec: dict, registration: dict,
            champion: dict) -> dict:
    """``champion``: model_id, version, onnx_artifact, onnx_sha256 of the active version.
    Returns the ``same_rows`` document: champion_model_id, champion_version, metric,
    challenger, champion, rows, rows_from; or the ids and an ``error``."""
    metric = spec["activation_metric"]["name"]
    out = {"champion_model_id": int(champion["model_id"]),
           "champion_version": int(champion["version"]), "metric": metric}
    try:
        if kind == "churn":
            figure, rows, rows_from = _churn(frame, spec, registration, champion)
        elif kind == "forecaster":
            figure, rows, rows_from = _forecaster(frame, registration, champion)
        else:
            raise SqlmlError(f"no same-rows comparison for model kind {kind!r}")
    except Exception as exc:  # the rule keeps the champion and says why
        return {**out, "error": f"{type(exc).__name__}: {exc}"[:1000]}
    return {**out, "challenger": float(registration["metrics"][metric]),
            "champion": float(figure), "rows": int(rows), "rows_from": rows_from}


def _churn(frame: pd.DataFrame, spec: dict, registration: dict, champion: dict):
    from sqlml.kinds.churn import model as churn
    from sqlml.kinds.churn.metrics import classification

    opts = registration["spec"]["options"]
    features, y = churn.prepare_training(frame, spec)
    _, valid_idx = churn.stratified_split(y, opts["validation_fraction"], opts["seed"])
    id_col = spec["input"]["id_column"]
    rows = features.iloc[valid_idx].copy()
    rows.insert(0, id_col, churn.normalise_columns(frame)[id_col].iloc[valid_idx].to_numpy())
    scored = churn.score(rows.reset_index(drop=True), champion["onnx_artifact"],
                         champion["onnx_sha256"])
    metric = spec["activation_metric"]["name"]
    return classification(y[valid_idx], scored["churn_probability"].to_numpy())[metric], \
        len(valid_idx), CHURN_ROWS


def held_out(frame: pd.DataFrame, registration: dict):
    """The challenger's backtest rows: per series (as training regularised it), the
    actuals of its last ``horizon`` periods, the MASE scale of the periods before
    them, and the input rows up to them (what a forecast from there may read)."""
    from sqlml.kinds.forecaster import frequency as fq
    from sqlml.kinds.forecaster import inputs, metrics

    m = registration["metrics"]
    horizon, season = int(m["horizon"]), max(int(round(float(m["season"]))), 1)
    freq = fq.FREQUENCIES[m["frequency"]]
    table = registration["spec"]["frequencies"][freq.name]
    rows = inputs.read_frame(frame, "same-rows comparison")
    # As training regularised them: gaps interpolated in the space it modelled.
    series, _ = inputs.regularise(rows, "same-rows comparison", m.get("transform", "none"),
                                  table["max_gap"], freq)
    ordinals = fq.ordinals(rows["stamp"], freq)
    out = []
    for s in series:
        cutoff = s.last - horizon
        before = rows[(rows["series_id"] == s.series_id) & (ordinals <= cutoff)]
        actual = s.values[-horizon:]
        scale = metrics.seasonal_scale(s.values[s.padded:-horizon], season)
        out.append((s.series_id, actual, scale, before))
    return out, horizon


def _forecaster(frame: pd.DataFrame, registration: dict, champion: dict):
    from sqlml.kinds.forecaster import model as forecaster

    series, horizon = held_out(frame, registration)
    history = pd.concat([b for *_, b in series], ignore_index=True)
    history = history.rename(columns={"stamp": "period"})
    predicted = forecaster.forecast(history, champion["onnx_artifact"], champion["onnx_sha256"],
                                    horizon)
    by_series = {sid: g.sort_values("step")["forecast"].to_numpy()
                 for sid, g in predicted.groupby("series_id")}
    errors = []
    for sid, actual, scale, _ in series:
        forecast = by_series.get(sid)
        if forecast is None or len(forecast) != horizon:
            raise SqlmlError(f"the active version gave no {horizon}-period forecast of series "
                             f"{sid!r}")
        errors.append(float(np.mean(np.abs(actual - forecast))) / scale)
    points = horizon * len(series)
    if points != int(registration["metrics"].get("n_test_points", points)):
        raise SqlmlError(f"the backtest held out {registration['metrics']['n_test_points']} "
                         f"points, the comparison {points}")
    return float(np.mean(errors)), points, FORECAST_ROWS.format(horizon=horizon)


def describe(compared: dict) -> str:
    """One progress line for the comparison."""
    head = f"same-rows comparison with active version {compared['champion_version']}"
    if "error" in compared:
        return f"{head}: not made ({compared['error']})"
    return (f"{head}: {compared['metric']} {compared['challenger']:.4f} (new) against "
            f"{compared['champion']:.4f} (active) on {compared['rows']} rows "
            f"({compared['rows_from']})")
