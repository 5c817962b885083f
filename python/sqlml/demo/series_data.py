"""Deterministic monthly series for the forecaster: usage of the synthetic telco.

Each series is the monthly usage (thousand minutes) of one cell of the telco of
``churn_data``: a region, a plan tier and a numbered market, for example
``north/basic/m07``. All series end in the same month (the data is current) and
start at different dates, so they have different lengths. In log space each is

    log(level) + trend * years                         growth or decline
    + amplitude * seasonal shape (two harmonics)        yearly, phase by region
    + level shifts                                      a price change, a competitor
    + AR(1) noise

so seasonal naive is a fair but beatable baseline: it carries last year's noise
and misses the trend, both of which a model can learn across series.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from sqlml.demo.churn_data import REGIONS

PLANS = ["basic", "standard", "premium"]
PLAN_LEVEL = {"basic": 0.6, "standard": 1.0, "premium": 1.7}
REGION_PHASE = {"north": 0.0, "south": 0.5, "east": 0.2, "west": -0.3, "central": 0.1}
LAST_MONTH = pd.Period("2025-12", freq="M")


def series_frame(n_series: int = 300, length: int = 120, min_length: int = 72,
                 seed: int = 11) -> pd.DataFrame:
    """``n_series`` series of ``min_length`` to ``length`` months, all ending in
    December 2025: columns series_id, period (first of the month), value."""
    if not 0 < min_length <= length:
        raise ValueError("need 0 < min_length <= length")
    rng = np.random.default_rng(seed)
    frames = []
    for i in range(n_series):
        region, plan = REGIONS[i % len(REGIONS)], PLANS[(i // len(REGIONS)) % len(PLANS)]
        market = i // (len(REGIONS) * len(PLANS))
        n = int(rng.integers(min_length, length + 1))
        t = np.arange(n)
        years = (t - n) / 12.0
        first = LAST_MONTH - (n - 1)
        month = (first.month - 1 + t) % 12
        phase = REGION_PHASE[region] + rng.normal(0, 0.15)
        angle = 2 * np.pi * (month / 12.0 + phase)
        shape = np.sin(angle) + rng.uniform(0.2, 0.6) * np.sin(2 * angle + rng.uniform(0, 6.3))
        log_level = np.log(PLAN_LEVEL[plan] * rng.lognormal(np.log(400), 0.7))
        trend = rng.normal(0.03, 0.07)
        shifts = np.zeros(n)
        for _ in range(rng.poisson(0.6)):
            shifts[int(rng.integers(1, n)):] += rng.normal(0, 0.12)
        noise = np.zeros(n)
        sd, phi = rng.uniform(0.015, 0.06), rng.uniform(0.2, 0.6)
        shocks = rng.normal(0, sd, n)
        for k in range(n):
            noise[k] = (phi * noise[k - 1] if k else 0.0) + shocks[k]
        log_value = (log_level + trend * years + rng.uniform(0.05, 0.25) * shape
                     + shifts + noise)
        frames.append(pd.DataFrame({
            "series_id": f"{region}/{plan}/m{market:02d}",
            "period": pd.period_range(first, periods=n, freq="M").to_timestamp(),
            "value": np.round(np.exp(log_value), 2),
        }))
    return pd.concat(frames, ignore_index=True)


def load_series(engine, n_series: int = 300, length: int = 120, min_length: int = 72,
                seed: int = 11) -> int:
    """Replace ``features.monthly_usage`` with generated series; returns rows loaded."""
    from sqlml.demo.bulk import insert_frame

    frame = series_frame(n_series, length, min_length, seed)
    frame["period"] = frame["period"].dt.date
    return insert_frame(engine, "features.monthly_usage", frame)


# --- other frequencies ------------------------------------------------------------------

# Per frequency: the pandas frequency of the periods, and the cycles (period length,
# amplitude in log space) that shape its series.
FREQUENCY_SHAPES = {
    "hourly": ("h", ((24, 0.35), (168, 0.15))),
    "daily": ("D", ((7, 0.25), (365.25, 0.15))),
    "business_daily": ("B", ((5, 0.08),)),
    "weekly": ("W-MON", ((52.18, 0.2),)),
    "monthly": ("MS", ((12, 0.2),)),
    "quarterly": ("QS", ((4, 0.2),)),
    "yearly": ("YS", ()),
}
LAST_DAY_OF_DATA = pd.Timestamp("2025-12-31 23:00")


def frequency_frame(frequency: str, n_series: int = 20, length: int = 200,
                    min_length: int | None = None, seed: int = 17) -> pd.DataFrame:
    """``n_series`` series of one frequency (a key of ``FREQUENCY_SHAPES``), each
    ``min_length`` to ``length`` periods ending at the end of 2025: usage with the
    frequency's cycles (a weekly pattern for daily data, a daily and weekly one for
    hourly data, a yearly one for weekly, monthly and quarterly data), a trend, level
    shifts and AR(1) noise, in log space. Columns series_id, period, value."""
    pandas_freq, cycles = FREQUENCY_SHAPES[frequency]
    min_length = min_length or length
    rng = np.random.default_rng(seed)
    end = LAST_DAY_OF_DATA if pandas_freq == "h" else pd.date_range(
        end=LAST_DAY_OF_DATA.normalize(), periods=1, freq=pandas_freq)[0]
    frames = []
    for i in range(n_series):
        n = int(rng.integers(min_length, length + 1))
        periods = pd.date_range(end=end, periods=n, freq=pandas_freq)
        t = np.arange(n, dtype=np.float64)
        log_value = np.full(n, np.log(rng.lognormal(np.log(200), 0.8)))
        for period, amplitude in cycles:
            phase = rng.uniform(0, 2 * np.pi)
            size = amplitude * rng.uniform(0.5, 1.5)
            log_value += size * (np.sin(2 * np.pi * t / period + phase)
                                 + 0.4 * np.sin(4 * np.pi * t / period + 2 * phase))
        log_value += rng.normal(0.0, 0.3) * t / n  # a trend over the series' life
        for _ in range(rng.poisson(0.8)):
            log_value[int(rng.integers(1, n)):] += rng.normal(0, 0.1)
        noise, shocks = 0.0, rng.normal(0, rng.uniform(0.02, 0.06), n)
        phi = rng.uniform(0.3, 0.8)
        for k in range(n):
            noise = phi * noise + shocks[k]
            log_value[k] += noise
        frames.append(pd.DataFrame({"series_id": f"{frequency}/s{i:03d}", "period": periods,
                                    "value": np.round(np.exp(log_value), 3)}))
    return pd.concat(frames, ignore_index=True)


def load_daily(engine, n_series: int = 20, days: int = 200, seed: int = 23) -> int:
    """Replace ``features.daily_usage`` with generated daily series (a weekly pattern, a
    yearly swing, a trend, level shifts, noise); returns rows loaded."""
    from sqlml.demo.bulk import insert_frame

    frame = frequency_frame("daily", n_series, days, days, seed)
    frame["series_id"] = frame["series_id"].str.replace("daily/", "cell/")
    frame["period"] = frame["period"].dt.date
    return insert_frame(engine, "features.daily_usage", frame)
