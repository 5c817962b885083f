"""Forecasting's input in batches of whole series, on PostgreSQL: memory holds a batch
of series, never all of them (issue 27).

The caller's half (``ops.stage_input``, SECURITY INVOKER) declares a cursor over the
caller's query grouped by series: one cursor row per series, holding that series'
values as one array per column, in series order. Each batch is the next
``batch_series`` cursor rows, so a series is never cut between two batches, and the
forecaster sees each series whole, exactly as when it read the input at once. Only the
caller's half fetches (a cursor's query runs with the rights of whoever fetches; see
postgres_batches.py). ``ops.run_forecast`` forecasts and writes a batch, then says
whether another follows; ``ops.call`` stages the next one and calls again. All batches
are one statement's work in one transaction: one run id, all rows or none.

The grouping sorts (or hashes) the input in the database, which spills to disk past
``work_mem``, and each series' arrays are converted by PL/Python in C, as
``pg_reader.read_query`` reads columns. The batch size is the forecaster spec's
``scoring.batch_series`` (as churn's is ``scoring.batch_rows``); the session setting
``sqlml.forecast_batch_series`` can lower it, never raise it.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from sqlml.adapters import pg_reader, pg_spi
from sqlml.adapters.postgres_batches import positive
from sqlml.errors import InputError

if TYPE_CHECKING:
    import pandas as pd

# When the spec names no batch size. A series of 120 months costs the forecaster
# about 10 kB of windows and frames; 2,000 of them a few tens of MB.
DEFAULT_BATCH_SERIES = 2_000
SETTING = "sqlml.forecast_batch_series"
_SPEC = (
    "SELECT r.run_type, s.spec #>> '{scoring,batch_series}' AS size,"
    " s.spec #>> '{input,series_id_column}' AS series_column,"
    f" pg_catalog.current_setting('{SETTING}', true) AS setting"
    " FROM ops.runs AS r, models.specs AS s WHERE r.run_id = $1 AND s.kind = 'forecaster'"
)
SERIES = "sqlml_series"  # the cursor's grouping column

@dataclass
class SeriesBatch:
    """One batch of a forecasting run's input: whole series, as ``read_query`` gives them."""

    frame: pd.DataFrame
    series: int  # series in this batch
    number: int  # 1, 2, ...
    last: bool


def forecast_input(plpy, run_id: int) -> tuple[str, int] | None:
    """For an ``ml.forecast`` run: the spec's series id column and the batch size (the
    spec's, or the session setting's where that is smaller); None for other runs."""
    plan = pg_spi._plan(plpy, _SPEC, ["bigint"])
    rows = plpy.execute(plan, [run_id])
    if not rows.nrows() or rows[0]["run_type"] != "forecast":
        return None
    row = rows[0]
    size = positive(row["size"], "the forecaster spec's scoring.batch_series", "series")
    setting = positive(row["setting"], f"setting {SETTING}", "series")
    size = size or DEFAULT_BATCH_SERIES
    return row["series_column"] or "series_id", min(size, setting) if setting else size


class SeriesReader:
    """A cursor over the caller's query, one row per series, read a batch of series at
    a time with the caller's rights."""

    def __init__(self, plpy, run_id: int, wrapped: str, names: list[str], types: list[int],
                 series_column: str, exact: frozenset[str], size: int):
        self.names, self.types, self.exact = names, types, exact
        self.series_column, self.size = series_column, size
        self.cursor = f"sqlml_series_{int(run_id)}"
        self.number = 0
        self.done = False
        # The next batch's first series, read ahead to know whether a batch is the last
        # (a batch of exactly ``size`` series may be): a run never ends on an empty batch.
        self.ahead: dict | None = None
        quote = plpy.quote_ident
        select = [f"(q.{quote(series_column)})::pg_catalog.text AS {SERIES}",
                  "pg_catalog.count(*) AS n"]
        for i, (name, oid) in enumerate(zip(names, types, strict=True)):
            if name == series_column:
                continue
            col = f"q.{quote(name)}"
            # as read_query reads each column (keys as exact text, times as microseconds)
            if name.lower() in exact:
                select.append(f"pg_catalog.array_agg({col}::pg_catalog.text) AS c{i}")
            elif oid in pg_reader.TIME_OIDS:
                select.append(
                    f"pg_catalog.array_agg(CASE WHEN pg_catalog.isfinite({col}) THEN"
                    f" (extract(epoch FROM {col}) * 1000000)::pg_catalog.int8 END) AS c{i},"
                    f" pg_catalog.count(*) FILTER (WHERE NOT pg_catalog.isfinite({col}))"
                    f" AS inf{i}")
            else:
                select.append(f"pg_catalog.array_agg({col}) AS c{i}")
        plpy.execute(f"DECLARE {self.cursor} NO SCROLL CURSOR FOR SELECT {', '.join(select)}"
                     f" FROM ({wrapped}) AS q GROUP BY 1 ORDER BY 1")

    def next(self, plpy) -> SeriesBatch:
        """The next batch of at most ``size`` whole series; the last one says so."""
        if self.done:
            raise InputError("this run's input has been read to its end")
        want = self.size + (0 if self.ahead else 1)
        fetched = plpy.execute(f"FETCH FORWARD {want} FROM {self.cursor}")
        rows = ([self.ahead] if self.ahead else []) + list(fetched)
        self.ahead = None
        self.done = fetched.nrows() < want
        if self.done:
            plpy.execute(f"CLOSE {self.cursor}")
        else:
            self.ahead = rows.pop()
        self.number += 1
        return SeriesBatch(self._frame(rows), len(rows), self.number, self.done)

    def _frame(self, rows: list[dict]) -> pd.DataFrame:
        import pandas as pd

        counts = np.array([int(r["n"]) for r in rows], dtype=np.int64)
        columns = {}
        for i, (name, oid) in enumerate(zip(self.names, self.types, strict=True)):
            if name == self.series_column:
                ids = np.empty(len(rows), dtype=object)
                ids[:] = [r[SERIES] for r in rows]
                columns[name] = pd.Series(np.repeat(ids, counts), dtype=object)
                continue
            values = list(itertools.chain.from_iterable(r[f"c{i}"] or () for r in rows))
            if name.lower() in self.exact:
                columns[name] = pd.Series(values, dtype=object)
            else:
                infinite = (sum(int(r[f"inf{i}"] or 0) for r in rows)
                            if oid in pg_reader.TIME_OIDS else None)
                columns[name] = pg_reader._column(name, values, oid, infinite)
        return pd.DataFrame(columns)


def reader(plpy, run_id: int, query: str, series_column: str, size: int,
           exact: frozenset[str]) -> SeriesReader | None:
    """A reader of the caller's query in batches of whole series; None when the query
    has no column of the spec's series id (the forecaster then names what is missing,
    reading the input at once as before)."""
    wrapped = pg_reader.check_query(plpy, query)  # exactly one SELECT (issue 22)
    names, types = pg_reader._describe(plpy, wrapped, exact)
    match = [n for n in names if n.lower() == series_column.lower()]
    if len(match) != 1:
        return None
    return SeriesReader(plpy, run_id, wrapped, names, types, match[0], exact, size)


def forecast_batch(batch) -> tuple[pd.DataFrame, SeriesBatch | None]:
    """The frame of what ``stage_input`` staged for a forecast: a batch's, or the whole."""
    if isinstance(batch, SeriesBatch):
        return batch.frame, batch
    return batch, None


def notice_batch(plpy, batch: SeriesBatch | None) -> None:
    """Progress, when the run's input comes in more than one batch."""
    if batch is not None and (batch.number > 1 or not batch.last):
        plpy.notice(f"sqlml: forecast {batch.series} series (batch {batch.number})")
