"""The network as a correction of the chosen library base (frequencies whose
``network_base`` is ``library``).

Once validation has chosen each series' library base (``choice``), the network is
trained on that base's residuals: every window's base is the library model's forecast
from the window's origin, fitted on the series' whole history before it, and the
network learns ``delta``, the correction in units of the window's seasonal scale
(``windows.encode``'s ``base_values``). Its last layer starts at zero, so it starts
as the base itself, and early stopping keeps only what beats it on validation.

A model is fitted once per series and applied to each window's origin by
``candidates.origin_forecasts`` (statsforecast's ``forward``); refitting per window
would cost 0.05-0.4 s for each of thousands of windows. Where that fit ends decides
what it may have seen:

before the first target of the series' earliest network validation window, so the
validation windows, on which the network stops early and the gate compares it with the
base, and the held-out window are out of sample (the training windows' targets lie
inside the fit: their residuals are in-sample ones, a little smaller than a forecast's,
which the validation windows check). The refit applies the same fits to the windows of
the whole history: fitting again on it would cost as much once more (measured on 100
daily series of a year: 295 s for their bases with a fit for the training and one for
the validation windows of each series, against 315 s for the whole choice of base).

The held-out window's and forecasting's base is the candidate refitted on the history
before it (``candidates.forecast``), as without the network.

Only the windows of ``limits.max_correction_series`` series (evenly spaced in series
order) take part, and of their training windows at most
``limits.max_correction_windows``, evenly spaced (``Plan.training``): each series costs
a fit of its base (about 1.5 s for ETS and ARIMA on a year of days) and each window a
forward of up to 16 ms (ETS and ARIMA behind MSTL, hourly and weekly data), and 50
series' windows give a global network what it learns from; every series is then
forecast as base plus correction.

Where the windows are those of ``window``-base frequencies (monthly: the network
corrects the window's own Theta base, measured to beat the library there by 25% on
13 real monthly series), none of this runs.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from sqlml.kinds.forecaster import candidates, choice
from sqlml.kinds.forecaster import windows as fw
from sqlml.kinds.forecaster.inputs import Series

LIBRARY = fw.LIBRARY  # the frequency table's network_base that turns this on
MAX_SERIES = 50  # limits.max_correction_series when the spec does not say
MAX_WINDOWS = 20000  # limits.max_correction_windows when the spec does not say


@dataclass
class Plan:
    """The group's library base (every series'), and the series whose windows train the
    network (``keep``)."""

    name: str
    keep: set[int]  # indices into the training set's list of series
    max_windows: int = MAX_WINDOWS
    fits: dict = field(default_factory=dict)  # series index -> candidates.Fitted

    @classmethod
    def make(cls, name: str, n_series: int, limits: dict) -> Plan:
        picks = choice.sample([1] * n_series, limits.get("max_correction_series")
                              or MAX_SERIES, 1)
        return cls(name=name, keep=set(picks),
                   max_windows=limits.get("max_correction_windows") or MAX_WINDOWS)

    def training(self, windows: fw.Windows) -> fw.Windows:
        """The training windows of the series ``keep``, thinned to ``max_windows``."""
        kept = _rows(windows, np.isin(windows.series, sorted(self.keep)))
        if len(kept) <= self.max_windows:
            return kept
        rows = np.unique(np.linspace(0, len(kept) - 1, self.max_windows).round()
                         .astype(np.int64))
        return _rows(kept, rows)

    def validation(self, windows: fw.Windows) -> fw.Windows:
        """The validation windows of the series ``keep``."""
        return _rows(windows, np.isin(windows.series, sorted(self.keep)))


def _rows(windows: fw.Windows, rows: np.ndarray) -> fw.Windows:
    return fw.Windows(inputs=windows.inputs[rows],
                      targets=None if windows.targets is None else windows.targets[rows],
                      first=windows.first[rows], series=windows.series[rows])


def backtest_fit_end(s: Series, horizon: int, origins: int) -> int:
    """Where a series' backtest fit ends (exclusive, in ``s.values``): before the first
    target of its earliest network validation window (``windows.tail`` with cut
    ``horizon`` and ``origins`` windows)."""
    return len(s) - 2 * horizon - (origins - 1)


def window_bases(series: list[Series], windows: fw.Windows, plan: Plan, horizon: int,
                 season: int, fit_end) -> np.ndarray:
    """(len(windows), horizon): each window's base forecast in the series' units, from
    its series' chosen candidate fitted on ``s.values[:fit_end(s)]`` (once per series:
    later calls reuse the plan's fit)."""
    out = np.zeros((len(windows), horizon))
    lookback = windows.inputs.shape[1]
    for i in np.unique(windows.series):
        i = int(i)
        rows = np.flatnonzero(windows.series == i)
        s = series[i]
        if i not in plan.fits:
            end = min(max(int(fit_end(s)), 1), len(s))
            plan.fits[i] = candidates.fit(s.values, season, plan.name, end)
        ends = windows.first[rows] - s.start + lookback  # each origin, in s.values
        out[rows] = candidates.origin_forecasts(plan.fits[i], s.values, ends, horizon)
    return out


def gate_scores(windows: fw.Windows, series: list[Series], base: np.ndarray,
                corrected: np.ndarray, season: int) -> tuple[list, list, list]:
    """MASE of the base, the corrected base and their mean on each window (the scale:
    the seasonal scale of the series' real values before the window's targets)."""
    lookback = windows.inputs.shape[1]
    rows = []
    for r in range(len(windows)):
        s = series[int(windows.series[r])]
        start = int(windows.first[r] - s.start + lookback) - s.padded
        rows.append(choice.gate_window(windows.targets[r], base[r], corrected[r],
                                       s.real[:max(start, 2)], season))
    return tuple(list(column) for column in zip(*rows, strict=True)) if rows else ([], [], [])
