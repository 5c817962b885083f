"""Series from SQL rows: checks, and the regular grid the forecaster needs.

Input rows are ``series_id``, ``period``, ``value`` (column names matched
case-insensitively; other columns are ignored). The periods are counted in the
training set's frequency (see ``frequency``: hourly to yearly, inferred from the
periods unless ``options.frequency`` says it). The rules, each either applied or
refused with an error that names the series:

* ``series_id``: text or integer, at most 128 characters; NULL is an error.
* ``period``: a date or timestamp (or ISO text); any instant inside a period stands
  for that period, so for a monthly model ``2024-03-15`` is March 2024. Forecasts
  keep each series' own place in its period (see ``frequency.anchors``), so they
  join back to its rows. NULL is an error.
* two rows of one series in the same period are duplicates: an error naming the
  series and the period (whether or not the values agree), since the model
  cannot know which one is right.
* ``value`` NULL is a missing period. Missing periods inside a series (NULL
  values, or periods without a row) are filled by linear interpolation between
  their neighbours (log-linear for a log-space model), and counted in the
  training metrics (``filled_points``). A gap longer than ``max_gap`` periods (the
  spec's limit for the frequency, about one season) is an error naming the series
  and the periods: a season of invented values is not data. NULLs before a
  series' first value or after its last one are dropped: a series starts at its
  first known period and ends, and is forecast from, its last known period.
* a series shorter than the model reads (``lookback`` + ``horizon`` periods to
  train, ``lookback`` to forecast) is back-filled: its first season is repeated
  before it until it is long enough, a flat seasonal past that adds no trend.
  Back-filled periods are never targets, nor part of a series' MASE scale or
  seasonal-naive baseline; training reports how many series needed it. Below a
  minimum of real periods (``horizon`` + the frequency's ``min_history`` to train,
  so the backtest has that much in sample, e.g. 24 months; ``min_history`` to
  forecast) the series is an error naming it, and nothing is trained or written.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from sqlml.errors import InputError
from sqlml.kinds.churn import encode
from sqlml.kinds.columns import (
    as_numeric,
    normalise_columns,
    refuse_unsupported,
    text_ids,
)
from sqlml.kinds.forecaster import frequency as fq
from sqlml.kinds.forecaster.frequency import LAST_DAY, MONTHLY, Frequency

COLUMNS = ("series_id", "period", "value")
MAX_SERIES_ID_LENGTH = 128
__all__ = ["LAST_DAY", "Series", "read_frame", "regularise", "refuse_short", "backfill"]


@dataclass
class Series:
    """One series on a regular grid of its frequency, gaps filled."""

    series_id: str
    start: int  # the period ordinal of values[0] (see ``frequency.ordinals``)
    values: np.ndarray  # float64, no NaN
    filled: int  # how many periods were interpolated
    padded: int = 0  # how many leading periods are back-filled, not data
    freq: Frequency = MONTHLY

    def __len__(self) -> int:
        return len(self.values)

    @property
    def real(self) -> np.ndarray:
        """The values without the back-filled periods."""
        return self.values[self.padded:]

    @property
    def last(self) -> int:
        return self.start + (len(self.values) - 1)

    def label(self, ordinal: int) -> str:
        return fq.label(ordinal, self.freq)


def _shown(ids: list[str], limit: int = 3) -> str:
    head = ", ".join(repr(i) for i in ids[:limit])
    return head + (f" and {len(ids) - limit} more" if len(ids) > limit else "")


def series_ids(values: pd.Series, column: str = "series_id") -> pd.Series:
    return text_ids(values, column, MAX_SERIES_ID_LENGTH, "every row needs its series")


def period_stamps(values: pd.Series, ids: pd.Series, column: str = "period") -> pd.Series:
    """Each row's period as a naive UTC timestamp; NULLs and non-dates name the series."""
    missing = values.isna()
    if missing.any():
        raise InputError(f"column {column!r} is NULL in {int(missing.sum())} row(s), first in "
                         f"series {ids[missing].iloc[0]!r}")
    if _zoned(values):
        raise InputError(
            f"column {column!r} holds timestamps with a time zone (timestamptz, "
            "datetimeoffset or text with an offset): a period is a calendar value, and an "
            "instant falls in different periods in different time zones; pass it in the "
            f"calendar you mean, e.g. {column}::date or ({column} AT TIME ZONE 'Europe/Berlin')"
        )
    try:
        return fq.stamps(values)
    except (TypeError, ValueError) as exc:
        raise InputError(f"column {column!r} must hold dates: {exc}") from exc


def _zoned(values: pd.Series) -> bool:
    """Whether the periods carry a time zone or an offset, which would move them to UTC."""
    if isinstance(values.dtype, pd.DatetimeTZDtype):
        return True
    if pd.api.types.is_datetime64_any_dtype(values):
        return False
    items = values.dropna().astype(object)
    if any(getattr(v, "tzinfo", None) is not None for v in items.tolist()):
        return True
    text = items[items.map(lambda v: isinstance(v, str))].astype(str).str.strip()
    # A time of day followed by Z or an offset (a date alone has neither).
    return bool(text.str.contains(r"\d:\d\d(?::\d\d(?:\.\d*)?)?\s*(?:[zZ]|[+-]\d\d(?::?\d\d)?)$",
                                  regex=True).any())


def read_frame(frame: pd.DataFrame, what: str) -> pd.DataFrame:
    """The three columns, typed: series_id (text), stamp (naive UTC timestamp), value
    (float, NaN = NULL). Frames already read pass through."""
    if "stamp" in frame.columns and list(frame.columns) == ["series_id", "stamp", "value"]:
        return frame
    frame = normalise_columns(frame)
    refuse_unsupported(frame[[c for c in COLUMNS if c in frame.columns]], what)
    for column in COLUMNS:
        if column not in frame.columns:
            shown = ", ".join(frame.columns[:20]) or "none"
            raise InputError(f"{what}: input has no {column!r} column (columns: {shown}); "
                             "forecasting rows are series_id, period, value")
    if frame.empty:
        raise InputError(f"{what}: input_query returned no rows")
    ids = series_ids(frame["series_id"])
    values = as_numeric(frame["value"], "value", strict=True).to_numpy(dtype=np.float64)
    try:
        encode.refuse_extreme(values, "value")
    except InputError as exc:
        raise InputError(f"{what}: {exc}") from None
    return pd.DataFrame({
        "series_id": ids.to_numpy(dtype=object),
        "stamp": period_stamps(frame["period"], ids).to_numpy(),
        "value": values,
    })


def _refuse_duplicates(rows: pd.DataFrame, freq: Frequency, what: str) -> None:
    duplicated = rows.duplicated(["series_id", "ordinal"], keep=False)
    if duplicated.any():
        first = rows[duplicated].sort_values(["series_id", "ordinal"]).iloc[0]
        n_series = rows.loc[duplicated, "series_id"].nunique()
        raise InputError(
            f"{what}: series {first.series_id!r} has more than one row for "
            f"{fq.label(first.ordinal, freq)} "
            f"({n_series} series have duplicates); periods count by {freq.unit}, so two "
            f"instants in one {freq.unit} are duplicates: aggregate them in the input query"
        )


def regularise(frame: pd.DataFrame, what: str, transform: str, max_gap: int,
               freq: Frequency = MONTHLY) -> tuple[list[Series], bool]:
    """Rows to one gap-filled series per id (sorted by id) on ``freq``'s grid, and
    whether they are modelled in log space: ``transform`` 'log', or 'auto' with every
    value > 0."""
    rows = read_frame(frame, what)
    rows = rows.assign(ordinal=fq.ordinals(rows["stamp"], freq))
    _refuse_duplicates(rows, freq, what)
    known = rows.dropna(subset=["value"])
    log_space = transform == "log" or (transform == "auto" and bool((known["value"] > 0).all()))
    units = freq.plural()
    out = []
    for sid, group in rows.groupby("series_id", sort=True):
        group = group.dropna(subset=["value"]).sort_values("ordinal")
        if group.empty:
            raise InputError(f"{what}: series {sid!r} has no non-NULL value")
        ordinals, values = group["ordinal"].to_numpy(), group["value"].to_numpy()
        if log_space and (values <= 0).any():
            at = int(np.argmax(values <= 0))
            raise InputError(
                f"{what}: series {sid!r} has a value <= 0 ({values[at]:g} in "
                f"{fq.label(ordinals[at], freq)}), but this model works in log space; train "
                'it with options {"transform": "none"} for data with zeros or negatives'
            )
        steps = np.diff(ordinals)
        if len(steps) and steps.max() - 1 > max_gap:
            at = int(np.argmax(steps))
            raise InputError(
                f"{what}: series {sid!r} has no value for {steps[at] - 1} {units} "
                f"({fq.label(ordinals[at] + 1, freq)} to "
                f"{fq.label(ordinals[at + 1] - 1, freq)}); gaps of up to {max_gap} {units} "
                "are interpolated, longer ones must be filled or the series split in the "
                "input query"
            )
        grid = np.arange(ordinals[0], ordinals[-1] + 1)
        space = np.log(values) if log_space else values
        filled = np.interp(grid, ordinals, space)
        filled = np.exp(filled) if log_space else filled
        filled[ordinals - ordinals[0]] = values  # known periods exactly as given
        out.append(Series(
            series_id=sid,
            start=int(ordinals[0]),
            values=filled,
            filled=int(len(grid) - len(ordinals)),
            freq=freq,
        ))
    return out, log_space


def refuse_short(series: list[Series], needed: int, what: str, why: str) -> None:
    short = [s for s in series if len(s.real) < needed]
    if short:
        worst = min(short, key=lambda s: len(s.real))
        raise InputError(
            f"{what}: series {_shown([s.series_id for s in short])} "
            f"{'is' if len(short) == 1 else 'are'} shorter than {needed} "
            f"{worst.freq.plural()} ({why}; {worst.series_id!r} has {len(worst.real)}): "
            "leave them out of the input query"
        )


def backfill(series: list[Series], length: int, season: int = 12) -> list[Series]:
    """Each series at least ``length`` periods long, by repeating its first ``season``
    periods before it (a series needs a season of real periods for that;
    ``refuse_short`` first)."""
    out = []
    for s in series:
        missing = length - len(s)
        if missing <= 0:
            out.append(s)
            continue
        first = s.values[:season]
        season = len(first)  # a series shorter than a season repeats what it has
        # Period k before the start repeats the period season - (k mod season) after
        # it, so the calendar stays aligned.
        before = first[(np.arange(-missing, 0)) % season]
        out.append(Series(series_id=s.series_id, start=s.start - missing,
                          values=np.concatenate([before, s.values]), filled=s.filled,
                          padded=missing, freq=s.freq))
    return out
