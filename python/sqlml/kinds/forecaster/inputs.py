"""Monthly series from SQL rows: checks, and the regular grid the forecaster needs.

Input rows are ``series_id``, ``period``, ``value`` (column names matched
case-insensitively; other columns are ignored). The rules, each either applied
or refused with an error that names the series:

* ``series_id``: text or integer, at most 128 characters; NULL is an error.
* ``period``: a date (or timestamp, or ISO text). Any day of a month stands for
  that month, so ``2024-03-15`` is March 2024. Forecasts keep each series' own
  convention, so they join back to its rows: month-end input (``2024-03-31``)
  gets month-end forecasts, one fixed day (the 15th) gets that day, anything
  else the first of the month. NULL is an error.
* two rows of one series in the same month are duplicates: an error naming the
  series and the month (whether or not the values agree), since the model
  cannot know which one is right.
* ``value`` NULL is a missing month. Missing months inside a series (NULL
  values, or months without a row) are filled by linear interpolation between
  their neighbours (log-linear for a log-space model), and counted in the
  training metrics (``filled_points``). A gap longer than ``max_gap_months``
  (the spec's limit, one season) is an error naming the series and the months:
  a year of invented values is not data. NULLs before a series' first value or
  after its last one are dropped: a series starts at its first known month and
  ends, and is forecast from, its last known month.
* a series shorter than the model reads (``lookback`` + ``horizon`` months to
  train, ``lookback`` months to forecast) is back-filled: its first 12 months are
  repeated before it until it is long enough, a flat seasonal past that adds no
  trend. Back-filled months are never targets, nor part of a series' MASE scale
  or seasonal-naive baseline; training reports how many series needed it. Below
  a minimum of real months (``horizon`` + 24 to train, so the backtest has two
  years in sample; 24 to forecast) the series is an error naming it, and nothing
  is trained or written.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from sqlml.errors import InputError
from sqlml.kinds.columns import as_numeric, normalise_columns, text_ids

COLUMNS = ("series_id", "period", "value")
SEASON = 12
LAST_DAY = 99  # day_conventions: the series' periods are month ends
MAX_SERIES_ID_LENGTH = 128


@dataclass
class Series:
    """One series on a regular monthly grid, gaps filled."""

    series_id: str
    start: pd.Period  # the month of values[0]
    values: np.ndarray  # float64, no NaN
    filled: int  # how many months were interpolated
    padded: int = 0  # how many leading months are back-filled, not data

    def __len__(self) -> int:
        return len(self.values)

    @property
    def real(self) -> np.ndarray:
        """The values without the back-filled months."""
        return self.values[self.padded:]

    @property
    def last(self) -> pd.Period:
        return self.start + (len(self.values) - 1)

    def months(self) -> np.ndarray:
        """Calendar month (1..12) of every value."""
        return ((self.start.month - 1 + np.arange(len(self.values))) % 12) + 1


def _shown(ids: list[str], limit: int = 3) -> str:
    head = ", ".join(repr(i) for i in ids[:limit])
    return head + (f" and {len(ids) - limit} more" if len(ids) > limit else "")


def series_ids(values: pd.Series, column: str = "series_id") -> pd.Series:
    return text_ids(values, column, MAX_SERIES_ID_LENGTH, "every row needs its series")


def month_ordinals(values: pd.Series, ids: pd.Series, column: str = "period") -> np.ndarray:
    """Each row's month as a count of months since January 1970 (pandas' monthly
    Period ordinal); NULLs and non-dates name the series."""
    missing = values.isna()
    if missing.any():
        raise InputError(f"column {column!r} is NULL in {int(missing.sum())} row(s), first in "
                         f"series {ids[missing].iloc[0]!r}")
    try:
        stamps = pd.to_datetime(values, utc=True, format="mixed")
    except (TypeError, ValueError) as exc:
        raise InputError(f"column {column!r} must hold dates: {exc}") from exc
    # Timestamps with a zone are taken in UTC; DATE columns are unaffected.
    return ((stamps.dt.year - 1970) * 12 + stamps.dt.month - 1).to_numpy(dtype=np.int64)


def month(ordinal: int) -> pd.Period:
    return pd.Period(ordinal=int(ordinal), freq="M")


def read_frame(frame: pd.DataFrame, routine: str) -> pd.DataFrame:
    """The three columns, typed: series_id (text), month (ordinal), value (float, NaN = NULL)."""
    frame = normalise_columns(frame)
    for column in COLUMNS:
        if column not in frame.columns:
            shown = ", ".join(frame.columns[:20]) or "none"
            raise InputError(f"{routine}: input has no {column!r} column (columns: {shown}); "
                             "forecasting rows are series_id, period, value")
    if frame.empty:
        raise InputError(f"{routine}: input_query returned no rows")
    ids = series_ids(frame["series_id"])
    return pd.DataFrame({
        "series_id": ids.to_numpy(dtype=object),
        "month": month_ordinals(frame["period"], ids),
        "value": as_numeric(frame["value"], "value", strict=True).to_numpy(dtype=np.float64),
    })


def day_conventions(frame: pd.DataFrame) -> dict[str, int]:
    """Per series, the day of the month its periods use: 1..28 for a fixed day,
    ``LAST_DAY`` for month ends; series that mix days get 1. Read from the raw rows,
    which ``read_frame`` reduces to months."""
    frame = normalise_columns(frame)
    ids = series_ids(frame["series_id"])
    stamps = pd.to_datetime(frame["period"], utc=True, format="mixed")
    days = pd.DataFrame({"series_id": ids.to_numpy(dtype=object), "day": stamps.dt.day,
                         "end": stamps.dt.is_month_end})
    conventions = {}
    for sid, group in days.groupby("series_id"):
        if group["end"].all() and group["day"].nunique() > 1:
            conventions[sid] = LAST_DAY
        elif group["day"].nunique() == 1:
            day = int(group["day"].iloc[0])
            conventions[sid] = LAST_DAY if day >= 29 and group["end"].all() else min(day, 28)
        else:
            conventions[sid] = 1
    return conventions


def period_dates(ordinals: np.ndarray, days: np.ndarray) -> pd.DatetimeIndex:
    """Dates of month ``ordinals`` on ``days`` (1..28, or ``LAST_DAY``)."""
    starts = pd.PeriodIndex.from_ordinals(ordinals, freq="M").to_timestamp()
    ends = pd.PeriodIndex.from_ordinals(ordinals, freq="M").to_timestamp(how="end").normalize()
    offsets = pd.to_timedelta(np.where(days == LAST_DAY, 0, days - 1), unit="D")
    return pd.DatetimeIndex(np.where(days == LAST_DAY, ends, starts + offsets))


def _refuse_duplicates(rows: pd.DataFrame, routine: str) -> None:
    duplicated = rows.duplicated(["series_id", "month"], keep=False)
    if duplicated.any():
        first = rows[duplicated].sort_values(["series_id", "month"]).iloc[0]
        n_series = rows.loc[duplicated, "series_id"].nunique()
        raise InputError(
            f"{routine}: series {first.series_id!r} has more than one row for "
            f"{month(first.month)} "
            f"({n_series} series have duplicates); periods count by month, so two dates in "
            "one month are duplicates: aggregate them in the input query"
        )


def regularise(frame: pd.DataFrame, routine: str, transform: str,
               max_gap: int) -> tuple[list[Series], bool]:
    """Rows to one gap-filled monthly series per id (sorted by id), and whether they
    are modelled in log space: ``transform`` 'log', or 'auto' with every value > 0."""
    rows = read_frame(frame, routine)
    _refuse_duplicates(rows, routine)
    known = rows.dropna(subset=["value"])
    log_space = transform == "log" or (transform == "auto" and bool((known["value"] > 0).all()))
    out = []
    for sid, group in rows.groupby("series_id", sort=True):
        group = group.dropna(subset=["value"]).sort_values("month")
        if group.empty:
            raise InputError(f"{routine}: series {sid!r} has no non-NULL value")
        ordinals, values = group["month"].to_numpy(), group["value"].to_numpy()
        if log_space and (values <= 0).any():
            at = int(np.argmax(values <= 0))
            raise InputError(
                f"{routine}: series {sid!r} has a value <= 0 ({values[at]:g} in "
                f"{month(ordinals[at])}), but this model works in log space; train it "
                'with options {"transform": "none"} for data with zeros or negatives'
            )
        steps = np.diff(ordinals)
        if len(steps) and steps.max() - 1 > max_gap:
            at = int(np.argmax(steps))
            raise InputError(
                f"{routine}: series {sid!r} has no value for {steps[at] - 1} months "
                f"({month(ordinals[at] + 1)} to {month(ordinals[at + 1] - 1)}); gaps of up "
                f"to {max_gap} months are interpolated, longer ones must be filled or the "
                "series split in the input query"
            )
        grid = np.arange(ordinals[0], ordinals[-1] + 1)
        space = np.log(values) if log_space else values
        filled = np.interp(grid, ordinals, space)
        filled = np.exp(filled) if log_space else filled
        filled[ordinals - ordinals[0]] = values  # known months exactly as given
        out.append(Series(
            series_id=sid,
            start=month(ordinals[0]),
            values=filled,
            filled=int(len(grid) - len(ordinals)),
        ))
    return out, log_space


def refuse_short(series: list[Series], needed: int, routine: str, why: str) -> None:
    short = [s for s in series if len(s.real) < needed]
    if short:
        worst = min(short, key=lambda s: len(s.real))
        raise InputError(
            f"{routine}: series {_shown([s.series_id for s in short])} "
            f"{'is' if len(short) == 1 else 'are'} shorter than {needed} months ({why}; "
            f"{worst.series_id!r} has {len(worst.real)}): leave them out of the input query"
        )


def backfill(series: list[Series], length: int) -> list[Series]:
    """Each series at least ``length`` months long, by repeating its first 12 months
    before it (a series needs 12 real months for that; ``refuse_short`` first)."""
    out = []
    for s in series:
        missing = length - len(s)
        if missing <= 0:
            out.append(s)
            continue
        season = s.values[:SEASON]
        # Month k before the start repeats the month 12 - (k mod 12) after it, so the
        # calendar stays aligned.
        before = season[(np.arange(-missing, 0)) % SEASON]
        out.append(Series(series_id=s.series_id, start=s.start - missing,
                          values=np.concatenate([before, s.values]), filled=s.filled,
                          padded=missing))
    return out
