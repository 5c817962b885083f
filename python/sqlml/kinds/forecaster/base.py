"""Starting forecasts that the network corrects, computed from each window alone.

``seasonal_naive``: the last 12 months repeated.

``theta``: the Theta method (Assimakopoulos and Nikolopoulos 2000, in Hyndman and
Billah's form: simple exponential smoothing plus half the linear drift) on the
seasonally adjusted window, then re-seasonalised. Seasonal indices are the
month effects of a line-plus-month-dummies fit to the window. They are always used: the
classical test for seasonality (the 12-month autocorrelation against Bartlett's
limit) rejects even strongly seasonal series in windows of three or four years,
and dropping real seasonality costs far more than fitting a weak one (measured on
real and synthetic series: MASE 0.76 with indices always on, 0.82 with the test,
at a 48-month lookback; 0.75 against 0.77 at 60 months, the default).
It is far less noisy than seasonal naive, which repeats last year's accidents,
and on real monthly data it is a strong statistical method on its own; the
network then learns what it misses, across series.

Both work on ``z`` (the window relative to its level, in log or scaled space),
vectorised over windows: NumPy only, the same at training and forecasting time.
"""

from __future__ import annotations

import numpy as np

SEASON = 12
ALPHAS = np.linspace(0.05, 1.0, 20)


def seasonal_naive(z: np.ndarray, horizon: int) -> np.ndarray:
    lookback = z.shape[1]
    return z[:, lookback - SEASON + np.arange(horizon) % SEASON]


def _linear_fit(y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Intercept and slope of a least-squares line through each row, against 0..L-1."""
    t = np.arange(y.shape[1], dtype=np.float64)
    tc = t - t.mean()
    slope = (y - y.mean(axis=1, keepdims=True)) @ tc / np.sum(tc ** 2)
    intercept = y.mean(axis=1) - slope * t.mean()
    return intercept, slope


def _seasonal_indices(z: np.ndarray) -> np.ndarray:
    """(n, 12) indices by position modulo 12 counted from the window's end, mean zero:
    the month effects of one least-squares fit of a line plus 12 month dummies, so a
    trend does not leak into the indices nor the seasonal pattern into the trend."""
    lookback = z.shape[1]
    t = np.arange(lookback, dtype=np.float64)
    phase = (t.astype(np.int64) - lookback) % SEASON  # the last month has phase 11
    design = np.column_stack([t - t.mean(), np.eye(SEASON)[phase]])
    coefficients = z @ np.linalg.pinv(design).T
    indices = coefficients[:, 1:]
    return indices - indices.mean(axis=1, keepdims=True)


def theta(z: np.ndarray, horizon: int) -> np.ndarray:
    """(n, horizon) Theta forecasts of each window."""
    n, lookback = z.shape
    indices = _seasonal_indices(z)
    phase = (np.arange(lookback) - lookback) % SEASON
    adjusted = z - indices[:, phase]
    _, slope = _linear_fit(adjusted)
    # Simple exponential smoothing for every alpha at once; keep each window's best.
    level = np.repeat(adjusted[:, :1], len(ALPHAS), axis=1)
    sse = np.zeros_like(level)
    for t in range(1, lookback):
        error = adjusted[:, t:t + 1] - level
        sse += error ** 2
        level = level + ALPHAS[None, :] * error
    best = np.argmin(sse, axis=1)
    alpha = ALPHAS[best]
    final = level[np.arange(n), best]
    steps = np.arange(1, horizon + 1)[None, :]
    drift = 0.5 * slope[:, None] * (steps - 1 + 1 / alpha[:, None])
    future_phase = (np.arange(horizon)) % SEASON
    return final[:, None] + drift + indices[:, future_phase]


BASES = {"seasonal_naive": seasonal_naive, "theta": theta}
