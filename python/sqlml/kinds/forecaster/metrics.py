"""Backtest metrics for the forecaster (its seasonal-naive baseline is ``base``'s).

MASE uses the seasonal scale (Hyndman and Koehler): a series' errors are divided
by the mean absolute seasonal difference (over the frequency's main season: 12
months, 7 days, 24 hours, 52 weeks, 4 quarters, 1 year) of its own in-sample part,
so 1.0 is as good as seasonal naive would have been in sample, and series of any
size can be averaged. A history of no more than one season is scaled by its
one-period differences. The overall MASE and sMAPE are means over series; RMSE pools every
point, so it is in the units of the data and dominated by the largest series.
"""

from __future__ import annotations

import numpy as np


def seasonal_scale(history: np.ndarray, season: int = 12) -> float:
    """Mean absolute seasonal difference of the in-sample part (the MASE denominator)."""
    lag = season if len(history) > season else 1
    diffs = np.abs(history[lag:] - history[:-lag])
    scale = float(np.mean(diffs)) if len(diffs) else 0.0
    # A perfectly repeating history would divide by zero; fall back to its level.
    return scale if scale > 0 else max(float(np.mean(np.abs(history))) * 1e-3, 1e-12)


def smape(actual: np.ndarray, forecast: np.ndarray) -> np.ndarray:
    """Per-point sMAPE in per cent (0 where both are 0)."""
    denominator = np.abs(actual) + np.abs(forecast)
    return np.where(denominator > 0, 200.0 * np.abs(actual - forecast)
                    / np.where(denominator > 0, denominator, 1.0), 0.0)


def backtest(actual: np.ndarray, forecast: np.ndarray, scales: np.ndarray,
             lower: np.ndarray | None = None, upper: np.ndarray | None = None) -> dict:
    """Metrics of (series, horizon) arrays; ``scales`` per series."""
    errors = np.abs(actual - forecast)
    out = {
        "mase": float(np.mean(errors.mean(axis=1) / scales)),
        "smape": float(np.mean(smape(actual, forecast).mean(axis=1))),
        "rmse": float(np.sqrt(np.mean((actual - forecast) ** 2))),
    }
    if lower is not None and upper is not None:
        inside = (actual >= lower) & (actual <= upper)
        out["coverage"] = float(np.mean(inside))
        out["coverage_by_step"] = [round(float(c), 4) for c in inside.mean(axis=0)]
    return out


BACKTEST_SERIES = 6


def backtest_points(series: list, rows: np.ndarray, actual: np.ndarray, forecast: np.ndarray,
                    lower: np.ndarray, upper: np.ndarray, naive: np.ndarray) -> list[dict]:
    """The held-out periods of the first ``BACKTEST_SERIES`` series, step by step
    (actual, forecast, interval, seasonal naive): stored with the version so that a
    report can draw the backtest without the model or the data."""
    out = []
    for row, index in enumerate(rows[:BACKTEST_SERIES]):
        out.append({
            "series_id": series[int(index)].series_id,
            **{name: [round(float(v), 6) for v in values[row]]
               for name, values in (("actual", actual), ("forecast", forecast),
                                    ("lower", lower), ("upper", upper),
                                    ("seasonal_naive", naive))},
        })
    return out
