"""A forecasting run's drift when its input comes a batch of whole series at a time
(issue 27): each series lies whole in one batch, so its level and scale
(``drift.series_stats``) are those of the whole input; they are kept, two numbers a
series, and compared with the version's profile as ``drift.drift`` compares the
whole input. PostgreSQL keeps the tally in the session between batches
(adapters/postgres_series.py); SQL Server carries it from one external script to the
next as JSON (``state``, adapters/mssql.py). Never raises: a problem is the '*' row.
"""

from __future__ import annotations

import json

import pandas as pd

from sqlml.kinds import drift
from sqlml.kinds.columns import normalise_columns


class SeriesTally:
    def __init__(self, profile, series: int = 0, stats: dict | None = None,
                 error: str | None = None):
        self.profile = profile
        self.series = series  # distinct series ids read so far
        self.stats = stats if stats is not None else {}  # id -> [level, scale]
        self.error = error

    @classmethod
    def from_state(cls, profile, state: str | None) -> SeriesTally:
        if not state:
            return cls(profile)
        data = json.loads(state)
        return cls(profile, int(data["series"]), data["stats"], data.get("error"))

    def state(self) -> str:
        return json.dumps({"series": self.series, "stats": self.stats, "error": self.error})

    def add(self, frame: pd.DataFrame) -> None:
        if self.error is not None:
            return
        try:
            self.series += int(normalise_columns(frame)["series_id"].nunique()) if len(frame) \
                else 0
            stats = drift.series_stats(frame)
            self.stats.update({str(k): [float(level), float(scale)] for k, level, scale in
                               zip(stats.index, stats["level"], stats["scale"], strict=True)})
        except Exception as exc:  # drift never fails the run: the rows say why
            self.error = f"drift could not be measured: {type(exc).__name__}: {exc}"

    def frame(self) -> pd.DataFrame:
        """:func:`drift.drift`'s rows for every series so far."""
        if self.error is not None:
            return drift._problem(self.error)
        stats = pd.DataFrame.from_dict(self.stats, orient="index", columns=["level", "scale"]
                                       ).sort_index() if self.stats else None
        return drift.series_drift(stats, self.series, self.profile)
