"""The calendar of a training set: its frequency, its periods, and their seasonality.

A frequency turns each row's ``period`` (a date, or a timestamp for hourly data)
into an integer *ordinal*, a count of periods since 1970, so that a regular series
is a run of consecutive ordinals and a gap is a jump:

=============== =============================================== ============ ========
frequency        ordinal                                        seasons       main
=============== =============================================== ============ ========
hourly           hours since 1970-01-01 00:00 UTC                24, 168       24
daily            days since 1970-01-01                           7, 365.25     7
business_daily   Monday-to-Friday days since 1970-01-01          5             5
weekly           weeks since Monday 1970-01-05                   52.18         52
monthly          months since January 1970                       12            12
quarterly        quarters since 1970 Q1                          4             4
yearly           years since 1970                                none          1
=============== =============================================== ============ ========

The *main* season (the first, rounded) is the period of seasonal naive, of the
MASE scale and of the Theta base's seasonal adjustment; a season of 1 means none.

Each series keeps its own place inside a period (its *anchor*), so its forecasts
continue its own calendar and join back to its rows: an hourly series observed at
:30 is forecast at :30, a weekly one on its weekday, a business-daily one on the
next weekday (Friday is followed by Monday), a monthly one on its day of the month
(month ends, a fixed day 1..28, else the first), a quarterly or yearly one on its
month and day within the quarter or year.

Inference (``infer``) reads each series' median spacing between consecutive
periods, so a few missing periods do not change it; a daily series without a
single Saturday or Sunday that spans a weekend is business-daily, not "daily with
gaps". Every series of one training set must agree.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from sqlml.errors import InputError

LAST_DAY = 99  # a monthly-type anchor day: the period's last day
_EPOCH = np.datetime64("1970-01-01", "D")
_MONDAY = np.datetime64("1970-01-05", "D")
_HOUR_NS = 3_600_000_000_000
_DAY_NS = 24 * _HOUR_NS


@dataclass(frozen=True)
class Frequency:
    name: str
    unit: str  # one period, in words
    seasons: tuple[float, ...]  # seasonal periods, the main one first
    months: int = 0  # periods made of months (monthly 1, quarterly 3, yearly 12); else 0

    @property
    def season(self) -> int:
        """The main seasonal period as a whole number of periods; 1: no seasonality."""
        return max(int(round(self.seasons[0])), 1) if self.seasons else 1

    def plural(self, n: int | None = None) -> str:
        return self.unit if n == 1 else self.unit + "s"


FREQUENCIES = {f.name: f for f in (
    Frequency("hourly", "hour", (24.0, 168.0)),
    Frequency("daily", "day", (7.0, 365.25)),
    Frequency("business_daily", "business day", (5.0,)),
    Frequency("weekly", "week", (52.18,)),
    Frequency("monthly", "month", (12.0,), months=1),
    Frequency("quarterly", "quarter", (4.0,), months=3),
    Frequency("yearly", "year", (), months=12),
)}
MONTHLY = FREQUENCIES["monthly"]

# Median spacing in days -> frequency (before the business-day rule).
_SPACINGS = (
    (1 / 24, 1 / 24, "hourly"),
    (1.0, 1.0, "daily"),
    (6.0, 8.0, "weekly"),
    (27.0, 32.0, "monthly"),
    (88.0, 93.0, "quarterly"),
    (364.0, 367.0, "yearly"),
)


def get(name: str) -> Frequency:
    if name not in FREQUENCIES:
        raise InputError(f"unknown frequency {name!r}; one of: " + ", ".join(FREQUENCIES))
    return FREQUENCIES[name]


def stamps(values: pd.Series) -> pd.Series:
    """Periods as naive UTC timestamps (timestamps with a zone are taken in UTC)."""
    return pd.to_datetime(values, utc=True, format="mixed").dt.tz_localize(None)


def _one(times: np.ndarray) -> str | None:
    """The frequency of one series' sorted distinct timestamps (datetime64[ns]); None
    when a single period says nothing."""
    if len(times) < 2:
        return None
    step = float(np.median(np.diff(times).astype(np.int64))) / _DAY_NS
    for low, high, name in _SPACINGS:
        if low * 0.999 <= step <= high * 1.001:
            if name == "daily":
                days = times.astype("datetime64[D]")
                weekend = ~np.is_busday(days)
                spans_weekend = (days[-1] - days[0]).astype(int) >= 7 or \
                    bool((np.diff(days).astype(int) == 3).any())
                if not weekend.any() and spans_weekend:
                    return "business_daily"
            return name
    return f"{step:g} days"


def infer(frame: pd.DataFrame, what: str) -> Frequency:
    """The one frequency of every series in ``frame`` (series_id text, stamp)."""
    found: dict[str, str] = {}
    for sid, group in frame.groupby("series_id", sort=True):
        times = np.unique(group["stamp"].to_numpy(dtype="datetime64[ns]"))
        name = _one(times)
        if name is None:
            continue
        if name not in FREQUENCIES:
            raise InputError(
                f"{what}: series {sid!r} has periods {name} apart, which is not a "
                "frequency the forecaster knows (hourly, daily, business_daily, weekly, "
                "monthly, quarterly, yearly); aggregate it in the input query, or set "
                'options {"frequency": ...}')
        found[sid] = name
    if not found:
        raise InputError(f"{what}: no series has two periods, so the frequency cannot be "
                         'inferred; set options {"frequency": ...}')
    names = set(found.values())
    if len(names) > 1:
        first = next(iter(found.items()))
        other = next((sid, name) for sid, name in found.items() if name != first[1])
        raise InputError(
            f"{what}: series {first[0]!r} is {first[1]} but series {other[0]!r} is "
            f"{other[1]}; one model serves one frequency: train one model per frequency, "
            'or set options {"frequency": ...} to aggregate them to one')
    return FREQUENCIES[names.pop()]


def series_frequencies(frame: pd.DataFrame) -> dict[str, str]:
    """Each series' own inferred frequency (series with one period are left out)."""
    out = {}
    for sid, group in frame.groupby("series_id", sort=True):
        name = _one(np.unique(group["stamp"].to_numpy(dtype="datetime64[ns]")))
        if name is not None:
            out[sid] = name
    return out


# --- ordinals ------------------------------------------------------------------------


def _month_ordinals(times: pd.Series) -> np.ndarray:
    return ((times.dt.year - 1970) * 12 + times.dt.month - 1).to_numpy(dtype=np.int64)


def ordinals(times: pd.Series, freq: Frequency) -> np.ndarray:
    """Each timestamp's period as an integer count of periods since 1970."""
    if freq.months:
        return np.floor_divide(_month_ordinals(times), freq.months)
    ns = times.to_numpy(dtype="datetime64[ns]")
    days = ns.astype("datetime64[D]")
    if freq.name == "hourly":
        return np.floor_divide(ns.astype(np.int64), _HOUR_NS)
    if freq.name == "daily":
        return (days - _EPOCH).astype(np.int64)
    if freq.name == "business_daily":
        # A weekend day counts as the next Monday: two rows then are duplicates.
        return np.busday_count(_EPOCH, days).astype(np.int64)
    return np.floor_divide((days - _MONDAY).astype(np.int64), 7)  # weekly


def label(ordinal: int, freq: Frequency) -> str:
    """A period in words for messages: 2024-03, 2024Q1, 2024, 2024-03-15, 2024-03-15 13:00."""
    if freq.months == 1:
        return str(pd.Period(ordinal=int(ordinal), freq="M"))
    if freq.months == 3:
        return str(pd.Period(ordinal=int(ordinal), freq="Q"))
    if freq.months == 12:
        return str(1970 + int(ordinal))
    return str(period_starts(np.array([ordinal]), freq)[0])[: 16 if freq.name == "hourly"
                                                            else 10]


def period_starts(ords: np.ndarray, freq: Frequency) -> pd.DatetimeIndex:
    """The first instant of each period (for weekly: its Monday)."""
    ords = np.asarray(ords, dtype=np.int64)
    if freq.months:
        months = ords * freq.months
        return pd.PeriodIndex.from_ordinals(months, freq="M").to_timestamp()
    if freq.name == "hourly":
        return pd.DatetimeIndex(ords * _HOUR_NS)
    if freq.name == "daily":
        return pd.DatetimeIndex(_EPOCH + ords)
    if freq.name == "business_daily":
        return pd.DatetimeIndex(np.busday_offset(_EPOCH, ords, roll="forward"))
    return pd.DatetimeIndex(_MONDAY + 7 * ords)


# --- anchors: where in its period each series' rows fall --------------------------------


def anchors(frame: pd.DataFrame, freq: Frequency) -> dict[str, tuple[int, int]]:
    """Per series, its place inside a period, as (months, days-or-nanoseconds):

    * months-based frequencies: (month within the period, day 1..28 or ``LAST_DAY``):
      period ends if every row is the last day of its month (or of its quarter or
      year), one fixed day if every row uses it, else the first;
    * the others: (0, offset from the period's start in nanoseconds), the offset
      every row shares (the minute of an hourly series, the weekday and time of a
      weekly one, the time of day of a daily one), else the most common one."""
    out = {}
    for sid, group in frame.groupby("series_id", sort=True):
        times = group["stamp"]
        if freq.months:
            out[sid] = _month_anchor(times, freq)
            continue
        starts = period_starts(ordinals(times, freq), freq)
        offsets = times.to_numpy(dtype="datetime64[ns]") - starts.to_numpy()
        offsets = offsets.astype(np.int64)
        if freq.name == "business_daily":
            offsets = np.maximum(offsets, 0)  # weekend rows (counted as Monday)
        values, counts = np.unique(offsets, return_counts=True)
        out[sid] = (0, int(values[np.argmax(counts)]))
    return out


def _month_anchor(times: pd.Series, freq: Frequency) -> tuple[int, int]:
    month_in = np.unique(_month_ordinals(times) % freq.months)
    within = int(month_in[0]) if len(month_in) == 1 else 0
    day, end = times.dt.day, times.dt.is_month_end
    if freq.months > 1 and end.all() and len(month_in) == 1 and within == freq.months - 1:
        return within, LAST_DAY
    if end.all() and day.nunique() > 1:
        return within, LAST_DAY
    if day.nunique() == 1:
        first = int(day.iloc[0])
        return within, LAST_DAY if first >= 29 and end.all() else min(first, 28)
    return within, 1


def period_stamps(ords: np.ndarray, anchor: np.ndarray, freq: Frequency) -> pd.DatetimeIndex:
    """Timestamps of periods ``ords`` at each row's anchor (``anchors``): (n, 2) array."""
    ords = np.asarray(ords, dtype=np.int64)
    anchor = np.asarray(anchor, dtype=np.int64).reshape(len(ords), 2)
    if freq.months:
        months = ords * freq.months + anchor[:, 0]
        index = pd.PeriodIndex.from_ordinals(months, freq="M")
        starts, ends = index.to_timestamp(), index.to_timestamp(how="end").normalize()
        days = anchor[:, 1]
        offsets = pd.to_timedelta(np.where(days == LAST_DAY, 0, days - 1), unit="D")
        return pd.DatetimeIndex(np.where(days == LAST_DAY, ends, starts + offsets))
    return period_starts(ords, freq) + pd.to_timedelta(anchor[:, 1], unit="ns")


# --- calendar inputs -------------------------------------------------------------------


def calendar_names(freq: Frequency) -> list[str]:
    """The network's calendar channels, two (sin, cos) per cycle."""
    cycles = {"hourly": ["hour", "weekday"], "daily": ["weekday", "day_of_year"],
              "business_daily": ["weekday"], "weekly": ["week_of_year"],
              "monthly": ["month"], "quarterly": ["quarter"], "yearly": []}[freq.name]
    return [f"{c}_{f}" for c in cycles for f in ("sin", "cos")]


def calendar_angles(ords: np.ndarray, freq: Frequency) -> list[np.ndarray]:
    """Angles (radians, same shape as ``ords``) of each calendar cycle, in the order of
    ``calendar_names``; monthly: 2 pi (month index) / 12, as the monthly model had."""
    ords = np.asarray(ords, dtype=np.int64)
    if freq.name == "monthly":
        return [2 * np.pi * (ords % 12) / 12]
    if freq.name == "quarterly":
        return [2 * np.pi * (ords % 4) / 4]
    if freq.name == "yearly":
        return []
    if freq.name == "hourly":
        return [2 * np.pi * (ords % 24) / 24,
                2 * np.pi * ((ords // 24 + 3) % 7) / 7]  # 1970-01-01 was a Thursday
    if freq.name == "daily":
        return [2 * np.pi * ((ords + 3) % 7) / 7, 2 * np.pi * (ords % 365.25) / 365.25]
    if freq.name == "business_daily":
        return [2 * np.pi * ((ords + 3) % 5) / 5]
    return [2 * np.pi * (ords % 52.1775) / 52.1775]  # weekly
