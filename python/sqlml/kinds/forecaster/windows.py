"""Windows of series, and the normalisation the forecaster learns in.

Every window is ``lookback`` periods of input followed by ``horizon`` periods of
target (periods of the model's frequency; ``season`` below is its main seasonal
period: 12 for monthly data, 7 for daily, 24 for hourly, ...). Each window is
normalised on its own, from its inputs only, so one global network serves
series of any size and level:

* ``g``: log of the values when the model works in log space (all training
  values positive), else the values divided by the window's mean absolute value;
* ``level``: the mean of ``g`` over the last ``season`` input periods, so ``z = g - level``
  is the series relative to its recent level, free of its scale;
* ``s``: the mean absolute seasonal (lag ``season``) difference of ``g`` over the
  inputs: the window's own MASE denominator;
* ``base``: a starting forecast in ``z``: from the window alone (``base``:
  seasonal naive, or Theta), or the chosen library model's forecast from the
  window's origin (``library``, see ``correction``).

The network sees ``z``, the calendar (sine and cosine of each cycle of the
frequency: month, quarter, week of year, weekday, hour, day of year; see
``frequency.calendar_names``) and ``log s`` for every input period,
and predicts ``delta``, a correction to the base in units of ``s``:

    forecast = inverse(level + base + s * delta)

so a network whose last layer is zero *is* the base method, and its mean absolute
error on ``delta`` is (in log space, to first order) the MASE it will score.
Three constants are learned from the training windows and stored with the model:
``input_scale`` (the typical size of ``z``), ``scale_floor`` (so a flat series
does not divide by zero) and ``scale_centre`` (the typical ``log s``).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from sqlml.kinds.forecaster import base as bases
from sqlml.kinds.forecaster import frequency as fq
from sqlml.kinds.forecaster.inputs import Series

LIBRARY = "library"  # Scaling.base: the chosen library base's forecasts (``correction``)
CHANNELS = 4  # monthly: z, sin(month), cos(month), log s (see ``channels``)
INPUT_CLIP = 10.0


@dataclass
class Scaling:
    lookback: int
    horizon: int
    log_space: bool
    base: str = "seasonal_naive"
    input_scale: float = 1.0
    scale_floor: float = 1e-6
    scale_centre: float = 0.0
    # Models from before frequencies were monthly: these defaults read them as such.
    frequency: str = "monthly"
    season: int = 12
    adjustment: str = "always"  # the Theta base's seasonal adjustment, base.ADJUSTMENTS

    @property
    def freq(self) -> fq.Frequency:
        return fq.get(self.frequency)

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict) -> Scaling:
        return cls(**data)


@dataclass
class Windows:
    """Raw windows in the series' own units, one row per window."""

    inputs: np.ndarray  # (n, lookback)
    targets: np.ndarray | None  # (n, horizon), None when forecasting
    first: np.ndarray  # (n,) period ordinal of inputs[:, 0]
    series: np.ndarray  # (n,) index into the list of series

    def __len__(self) -> int:
        return len(self.inputs)


def _empty(lookback: int, horizon: int, with_targets: bool) -> Windows:
    return Windows(np.zeros((0, lookback)), np.zeros((0, horizon)) if with_targets else None,
                   np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64))


def _concat(parts: list[Windows], lookback: int, horizon: int, with_targets: bool) -> Windows:
    if not parts:
        return _empty(lookback, horizon, with_targets)
    return Windows(
        inputs=np.concatenate([p.inputs for p in parts]),
        targets=np.concatenate([p.targets for p in parts]) if with_targets else None,
        first=np.concatenate([p.first for p in parts]),
        series=np.concatenate([p.series for p in parts]),
    )


def sliding(series: list[Series], lookback: int, horizon: int, cut: int,
            most_recent: int = 0) -> Windows:
    """Every window (stride 1) whose targets lie in each series' first ``len - cut``
    periods and after its back-filled ones; only each series' ``most_recent`` last
    ones when that is set (long daily or hourly histories)."""
    parts = []
    width = lookback + horizon
    for i, s in enumerate(series):
        usable = s.values[: len(s) - cut]
        first = max(s.padded - lookback, 0)  # the first start whose targets are all real
        if len(usable) - first < width:
            continue
        if most_recent:
            first = max(first, len(usable) - width + 1 - most_recent)
        block = sliding_window_view(usable, width)[first:]
        starts = np.arange(first, first + len(block))
        parts.append(Windows(
            inputs=block[:, :lookback], targets=block[:, lookback:],
            first=s.start + starts,
            series=np.full(len(block), i),
        ))
    return _concat(parts, lookback, horizon, True)


def tail(series: list[Series], lookback: int, horizon: int, cut: int, count: int) -> Windows:
    """The ``count`` windows of each series whose targets end 0..count-1 periods before
    its last ``cut`` periods (stride 1; as many as fit)."""
    parts = [last(series, lookback, horizon, cut + j) for j in range(count)]
    return _concat([p for p in parts if len(p)], lookback, horizon, True)


def last(series: list[Series], lookback: int, horizon: int, cut: int,
         with_targets: bool = True) -> Windows:
    """One window per series: targets are the ``horizon`` periods before the last ``cut``
    periods (with_targets), or, without targets, inputs end ``cut`` periods from the end."""
    parts = []
    for i, s in enumerate(series):
        end = len(s) - cut - (horizon if with_targets else 0)  # where the inputs end
        if end - lookback < 0 or (with_targets and end < s.padded):
            continue
        parts.append(Windows(
            inputs=s.values[None, end - lookback:end],
            targets=s.values[None, end:end + horizon] if with_targets else None,
            first=np.array([s.start + end - lookback]),
            series=np.array([i]),
        ))
    return _concat(parts, lookback, horizon, with_targets)


@dataclass
class Context:
    """Per-window quantities that turn network outputs back into values."""

    level: np.ndarray  # (n,)
    scale: np.ndarray  # (n,) s, floored
    magnitude: np.ndarray  # (n,) mean |value| of the window (linear space only)
    base: np.ndarray  # (n, horizon) the base forecast in z


def _g(inputs: np.ndarray, log_space: bool) -> tuple[np.ndarray, np.ndarray]:
    if log_space:
        return np.log(inputs), np.ones(len(inputs))
    magnitude = np.mean(np.abs(inputs), axis=1)
    magnitude = np.where(magnitude > 0, magnitude, 1.0)
    return inputs / magnitude[:, None], magnitude


def raw_scale(g: np.ndarray, season: int = 12) -> np.ndarray:
    return np.mean(np.abs(g[:, season:] - g[:, :-season]), axis=1)


def channels(freq: fq.Frequency) -> list[str]:
    """The network's input channels for ``freq``: z, the calendar, log s."""
    return ["z", *fq.calendar_names(freq), "log_scale"]


def base_forecast(z: np.ndarray, scaling: Scaling) -> np.ndarray:
    """The window's own base, in z. A ``library`` scaling's base comes from outside
    (``encode``'s ``base_values``); without it the base is z's level, 0."""
    if scaling.base == LIBRARY:
        return np.zeros((len(z), scaling.horizon))
    if scaling.base == "theta":
        return bases.theta(z, scaling.horizon, scaling.season, scaling.adjustment)
    return bases.seasonal_naive(z, scaling.horizon, scaling.season)


def fit_scaling(windows: Windows, lookback: int, horizon: int, log_space: bool,
                base: str, frequency: str = "monthly", season: int = 12,
                adjustment: str = "always") -> Scaling:
    """The three learned constants, from the training windows."""
    g, _ = _g(windows.inputs, log_space)
    s = raw_scale(g, season)
    positive = s[s > 0]
    floor = max(0.01 * float(np.median(positive)), 1e-6) if len(positive) else 1e-6
    s = np.maximum(s, floor)
    z = g - g[:, -season:].mean(axis=1, keepdims=True)
    size = float(np.median(np.mean(np.abs(z), axis=1)))
    return Scaling(lookback=lookback, horizon=horizon, log_space=log_space, base=base,
                   input_scale=size if size > 1e-6 else 1.0, scale_floor=floor,
                   scale_centre=float(np.median(np.log(s))), frequency=frequency,
                   season=season, adjustment=adjustment)


def encode(windows: Windows, scaling: Scaling,
           base_values: np.ndarray | None = None) -> tuple[np.ndarray, Context]:
    """Network inputs (n, lookback, channels) as float32, and each window's context.
    ``base_values`` (n, horizon), in the series' units, is the base forecast of each
    window when it comes from outside the window (a library model fitted on the
    series' whole history before it; see ``correction``)."""
    season = scaling.season
    g, magnitude = _g(windows.inputs, scaling.log_space)
    level = g[:, -season:].mean(axis=1)
    scale = np.maximum(raw_scale(g, season), scaling.scale_floor)
    z = g - level[:, None]
    lookback = scaling.lookback
    if base_values is None:
        base = base_forecast(z, scaling)
    else:
        base = _relative(base_values, windows.inputs, magnitude, scaling.log_space) - level[:, None]
    ordinals = windows.first[:, None] + np.arange(lookback)[None, :]
    angles = fq.calendar_angles(ordinals, scaling.freq)
    x = np.empty((len(windows), lookback, 2 + 2 * len(angles)), dtype=np.float32)
    x[:, :, 0] = np.clip(z / scaling.input_scale, -INPUT_CLIP, INPUT_CLIP)
    for k, angle in enumerate(angles):
        x[:, :, 1 + 2 * k] = np.sin(angle)
        x[:, :, 2 + 2 * k] = np.cos(angle)
    x[:, :, -1] = np.clip(np.log(scale) - scaling.scale_centre, -INPUT_CLIP, INPUT_CLIP)[:, None]
    return x, Context(level=level, scale=scale, magnitude=magnitude, base=base)


def _relative(values: np.ndarray, inputs: np.ndarray, magnitude: np.ndarray,
              log_space: bool) -> np.ndarray:
    """``g`` of forecasts in the series' units: in log space floored at a hundredth of the
    window's least input (a library model on the original scale can forecast zero or
    less for a positive series)."""
    if log_space:
        return np.log(np.maximum(values, 0.01 * inputs.min(axis=1, keepdims=True)))
    return values / magnitude[:, None]


def targets(windows: Windows, context: Context, scaling: Scaling) -> np.ndarray:
    """What the network learns: (z_true - base) / s, float32."""
    if scaling.log_space:
        g = np.log(windows.targets)
    else:
        g = windows.targets / context.magnitude[:, None]
    z = g - context.level[:, None]
    return ((z - context.base) / context.scale[:, None]).astype(np.float32)


def decode(delta: np.ndarray, context: Context, scaling: Scaling,
           offset: np.ndarray | float = 0.0) -> np.ndarray:
    """Values from network outputs; ``offset`` (in units of s) shifts them, for interval
    bounds. Only the first ``delta.shape[1]`` steps are decoded."""
    steps = delta.shape[1]
    g = (context.level[:, None] + context.base[:, :steps]
         + context.scale[:, None] * (delta + offset))
    if scaling.log_space:
        return np.exp(g)
    return g * context.magnitude[:, None]
