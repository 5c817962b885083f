"""Realised performance: a version's predictions against the outcomes that arrived.

``ml.evaluate`` (both engines) hands these the caller's rows:

- churn: labelled rows (``customer_id``, ``churned``, the features). The version
  scores them (the ONNX path ``ml.score_churn`` takes) and the metrics are those its
  validation recorded, under the same names: ``auc``, ``pr_auc``, ``log_loss``,
  ``brier``, and ``accuracy`` at the version's own cut (its recorded ``threshold``).
  The logistic-regression baseline is not stored with a version, so it cannot score
  new rows: its validation figures are repeated beside them as ``baseline`` with
  ``"scored": false``.
- forecaster: actuals (``series_id``, ``period``, ``value``) against the version's
  latest forecast of each of those periods (``predictions.forecasts``). MASE is on
  each series' own scale, as in training: the mean absolute seasonal difference of
  the series' actuals before the first compared period (its in-sample part; give
  the input some history), or of all its actuals when fewer than two precede it;
  sMAPE in per cent; coverage, the share of actuals inside the forecast's interval.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from sqlml.errors import InputError

EVALUATING = "evaluation"


def churn(frame: pd.DataFrame, onnx_artifact: bytes, onnx_sha256: str,
          recorded: dict, spec_input: dict) -> tuple[int, dict]:
    """Labelled rows -> (rows, metrics)."""
    from sqlml.kinds.churn import model
    from sqlml.kinds.churn.metrics import classification
    from sqlml.kinds.columns import normalise_columns

    label = spec_input["label_column"]
    frame = normalise_columns(frame)
    if label not in frame.columns:
        shown = ", ".join(frame.columns[:20]) or "none"
        raise InputError(f"{EVALUATING}: input has no {label!r} column (columns: {shown}); "
                         "evaluating a churn model needs the outcomes")
    if frame.empty:
        raise InputError(f"{EVALUATING}: input_query returned no rows")
    y = model.labels(frame[label], label)
    if len(np.unique(y)) < 2:
        raise InputError(f"{EVALUATING}: column {label!r} has only one class ({int(y[0])}) in "
                         f"{len(y)} rows; AUC needs churned and retained customers")
    scored = model.score(frame.drop(columns=[label]), onnx_artifact, onnx_sha256)
    threshold = float(recorded.get("threshold", 0.5))
    metrics = classification(y, scored["churn_probability"].to_numpy(), threshold)
    metrics.update({"n": int(len(y)), "positives": int(y.sum())})
    if isinstance(recorded.get("baseline"), dict):
        metrics["baseline"] = {**recorded["baseline"], "scored": False,
                               "note": "validation figures: the baseline is not stored "
                                       "with the version, so it cannot score these rows"}
    return int(len(y)), metrics


def forecaster(actuals: pd.DataFrame, forecasts: pd.DataFrame, season: int) -> tuple[int, dict]:
    """Actuals (series_id, period, value) and the version's latest forecasts (series_id,
    period, forecast, lower, upper) -> (points compared, metrics)."""
    from sqlml.kinds.forecaster import metrics as fm
    from sqlml.kinds.forecaster.inputs import read_frame

    rows = read_frame(actuals, EVALUATING).dropna(subset=["value"])
    if forecasts.empty:
        raise InputError(f"{EVALUATING}: this version has no forecasts; forecast with it first "
                         "(ml.forecast with version)")
    fc = forecasts.assign(
        series_id=forecasts["series_id"].astype(str).str.strip(),
        stamp=pd.to_datetime(forecasts["period"]).dt.tz_localize(None).astype("datetime64[ns]"))
    rows = rows.assign(stamp=pd.to_datetime(rows["stamp"]).astype("datetime64[ns]"))
    joined = rows.merge(fc[["series_id", "stamp", "forecast", "lower", "upper"]],
                        on=["series_id", "stamp"], how="inner")
    if joined.empty:
        raise InputError(f"{EVALUATING}: none of the {len(rows)} actual(s) is a period this "
                         "version forecast; evaluate the periods its latest forecasts cover")
    season = max(int(season), 1)
    mase, smapes, inside = [], [], []
    for sid, group in joined.groupby("series_id", sort=True):
        history = rows[rows["series_id"] == sid].sort_values("stamp")
        before = history[history["stamp"] < group["stamp"].min()]["value"].to_numpy()
        scale_from = before if len(before) >= 2 else history["value"].to_numpy()
        scale = fm.seasonal_scale(scale_from, season)
        actual, forecast = group["value"].to_numpy(), group["forecast"].to_numpy()
        mase.append(float(np.mean(np.abs(actual - forecast))) / scale)
        smapes.append(float(np.mean(fm.smape(actual, forecast))))
        inside.extend(((actual >= group["lower"].to_numpy())
                       & (actual <= group["upper"].to_numpy())).tolist())
    points = int(len(joined))
    return points, {"mase": float(np.mean(mase)), "smape": float(np.mean(smapes)),
                    "coverage": float(np.mean(inside)), "n_series": len(mase),
                    "n_points": points}
