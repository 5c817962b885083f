"""The forecaster's windows on many series, bounded by the spec, not by the number of series.

One global network learns from windows of every series (``windows.sliding``: every
start, stride 1), validates on each series' last ``validation_origins`` windows
(``windows.tail``) and is refit on every window of the full series. Those counts
grow with the series: 10,000 monthly series of 120 months are 490,000 refit windows,
about 280 MB as float64 values and 470 MB more as the network's float32 inputs,
before TensorFlow copies them. So past the spec's ``limits.max_training_windows``
(the backtest's training windows and the refit's, each) and
``limits.max_validation_windows``, a seeded uniform sample of windows is kept,
chosen before any window is built, so memory holds the sample only:

* training windows: a uniform sample over all (series, start) pairs, so each series
  keeps about its share and the network sees every part of the set;
* validation windows: every series' first validation window (the one the base choice
  gates the network on, ``model._choose``, and as small as the held-out window per
  series) and a uniform sample of the others.

Below the limits nothing changes: every window, in the same order, so a set of a
few hundred or thousand series trains exactly as before. What was sampled is
recorded in the version's metrics (``sample``), as churn training records its
stratified sample of rows.
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from sqlml.kinds.forecaster import windows as fw
from sqlml.kinds.forecaster.inputs import Series

# The series whose last window checks the ONNX export against Keras (evenly spaced).
# The check is of the graph, not the data: on 10,000 series its maximum difference
# grew past the tolerance with the count alone (measured: 2.2e-05 against 1e-05,
# where 1,000 series pass), so the number checked is fixed.
PARITY_SERIES = 2_000

# Separate random streams per use, so one sample does not shift with another's size.
STREAMS = {"train": 1, "valid": 2, "refit": 3}


class Sampler:
    """The spec's window limits and the run's seed; what was sampled, for the metrics."""

    def __init__(self, limits: dict, seed: int):
        self.max_training = int(limits.get("max_training_windows") or 0)
        self.max_validation = int(limits.get("max_validation_windows") or 0)
        self.seed = int(seed)
        self.sampled: dict[str, dict] = {}

    def _rng(self, use: str) -> np.random.Generator:
        return np.random.default_rng([self.seed, STREAMS[use]])

    def sliding(self, use: str, series: list[Series], lookback: int, horizon: int,
                cut: int, most_recent: int = 0) -> fw.Windows:
        """``windows.sliding``, or a uniform sample of ``max_training_windows`` of them."""
        width = lookback + horizon
        spans = []  # (series index, first start, starts), as windows.sliding counts them
        for i, s in enumerate(series):
            usable = len(s) - cut
            first = max(s.padded - lookback, 0)
            if usable - first < width:
                continue
            if most_recent:
                first = max(first, usable - width + 1 - most_recent)
            spans.append((i, first, usable - width + 1 - first))
        total = sum(n for _, _, n in spans)
        if not self.max_training or total <= self.max_training:
            return fw.sliding(series, lookback, horizon, cut, most_recent)
        picked = np.sort(self._rng(use).choice(total, size=self.max_training, replace=False))
        offsets = np.cumsum([0] + [n for _, _, n in spans])
        bounds = np.searchsorted(picked, offsets)
        parts = []
        for k, (i, first, _) in enumerate(spans):
            chosen = picked[bounds[k]:bounds[k + 1]] - offsets[k]
            if not len(chosen):
                continue
            s = series[i]
            starts = first + chosen
            block = sliding_window_view(s.values[:len(s) - cut], width)[starts]
            parts.append(fw.Windows(inputs=block[:, :lookback], targets=block[:, lookback:],
                                    first=s.start + starts,
                                    series=np.full(len(starts), i)))
        self.sampled[use] = {"windows": self.max_training, "of": int(total)}
        return fw._concat(parts, lookback, horizon, True)

    def tail(self, series: list[Series], lookback: int, horizon: int, cut: int,
             count: int) -> fw.Windows:
        """``windows.tail``, or each series' first validation window and a uniform
        sample of the others, ``max_validation_windows`` in all (at least one each)."""
        # Which (origin j, series i) pairs have a window, as windows.last decides.
        ok = np.array([[len(s) - cut - j - horizon - lookback >= 0
                        and len(s) - cut - j - horizon >= s.padded for s in series]
                       for j in range(count)], dtype=bool).reshape(count, len(series))
        total = int(ok.sum())
        if not self.max_validation or total <= self.max_validation:
            return fw.tail(series, lookback, horizon, cut, count)
        first = int(ok[0].sum()) if count else 0
        others = np.flatnonzero(ok[1:].reshape(-1)) + len(series)
        room = max(self.max_validation - first, 0)
        keep = np.zeros_like(ok)
        if count:
            keep[0] = ok[0]
        if room and len(others):
            chosen = self._rng("valid").choice(others, size=min(room, len(others)),
                                               replace=False)
            keep.reshape(-1)[chosen] = True
        parts = []
        for j in range(count):
            rows = np.flatnonzero(keep[j])
            if not len(rows):
                continue
            ends = np.array([len(series[i]) - cut - j - horizon for i in rows])
            parts.append(fw.Windows(
                inputs=np.stack([series[i].values[e - lookback:e] for i, e in
                                 zip(rows, ends, strict=True)]),
                targets=np.stack([series[i].values[e:e + horizon] for i, e in
                                  zip(rows, ends, strict=True)]),
                first=np.array([series[i].start + e - lookback for i, e in
                                zip(rows, ends, strict=True)], dtype=np.int64),
                series=rows.astype(np.int64)))
        self.sampled["valid"] = {"windows": int(keep.sum()), "of": total,
                                 "every_series_first_window": first}
        return fw._concat(parts, lookback, horizon, True)

    def record(self) -> dict | None:
        """The ``sample`` of the version's metrics; None when every window was used."""
        if not self.sampled:
            return None
        return {"max_training_windows": self.max_training,
                "max_validation_windows": self.max_validation, "seed": self.seed,
                **self.sampled}


def parity_series(series: list[Series], limit: int = PARITY_SERIES) -> list[Series]:
    """At most ``limit`` of the series, evenly spaced (all of them up to the limit)."""
    if len(series) <= limit:
        return series
    return [series[int(i)] for i in np.linspace(0, len(series) - 1, limit).round()]
