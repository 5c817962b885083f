"""The LSTM forecaster: input checks, backtest, refit, intervals, forecasting.

Rows are ``series_id``, ``period``, ``value`` (see ``inputs`` for how bad rows
are handled). One global network serves every series (``network``),
in the per-window normalisation of ``windows``.

The training set's frequency (hourly to yearly) is inferred from its periods
unless ``options.frequency`` says it (``frequency``); it sets the seasonal period
(``options.season`` overrides), the calendar inputs, the gap limit, the least
history a series needs, and the defaults of ``horizon``, ``lookback`` and
``validation_origins`` (the spec's ``frequencies`` table), and the version
records it: forecasting series of another frequency with it is an error.
Below, "periods" are periods of that frequency.

Training one version, for each series of n periods:

1. **Backtest.** The last ``horizon`` periods are held out. Of the rest, the
   windows whose targets end in its last ``validation_origins`` periods are the
   validation set (early stopping); with 15 real series one window each would be
   too few to choose epochs by (measured: the network then beat validation and
   lost on the held-out year). Every earlier window trains (stride 1). The
   held-out periods are then forecast and scored: MASE (seasonal scale), sMAPE,
   RMSE, interval coverage, the base method's scores, and seasonal naive's on the
   same periods (``baseline_mase``). A series too short for a training window
   still gives validation and test windows; when no series is long enough for
   any training window, the network keeps its starting point, the base method,
   and training says so.
2. **Intervals** come from the validation residuals, in units of each window's
   seasonal scale: a width per horizon step (the mean absolute residual, made
   non-decreasing in the step) times the ``coverage`` quantile of the residuals
   divided by those widths, pooled over steps. Their coverage on the held-out
   periods is recorded.
3. **Refit** (``refit``: true, the default): the network is trained again on
   every window of the full series, each ensemble member for the number of epochs
   it found best in the backtest (with the automatic batch for that many windows,
   see ``batch_and_rate``), so the version that is stored has seen the most
   recent periods. Its metrics are the backtest's. With ``refit`` false the
   backtest network itself is stored.

4. **Base and gate** (``candidates``: true, the default; ``choice``): before the
   network trains, a statsforecast base (on the original or the log scale) is chosen per
   group on validation windows only, and every series of the group takes it. Where
   the frequency's ``network_base`` is ``library`` (every frequency but monthly) the
   network then learns a correction of that base (``correction``): each window's base
   is the library model's forecast from the window's origin. On monthly
   series it corrects the window's own Theta base, as without candidates. The network
   is kept (alone, or averaged with the base) only where it beats the base on
   validation windows; the held-out window is then forecast as chosen, and
   ``metrics.choice`` records every candidate, each series' base and what the network
   added to it.

Training is ``prepare`` (options, series, windows, scaling), ``fit_and_backtest``
(network, choice, held-out scores) and ``refit_and_package`` (refit, export, registry
row). Forecasting reads the last ``lookback`` periods of each series and runs the ONNX
graph (TensorFlow is not imported), and fits the chosen library base on each series'
history where the version has one (and adds the network's correction to it where the
network corrects the library base).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from sqlml import artifacts
from sqlml.errors import ArtifactError, InputError
from sqlml.kinds import TrainedModel, drift
from sqlml.kinds.forecaster import base as bases
from sqlml.kinds.forecaster import candidates, choice, correction, inputs, metrics, network
from sqlml.kinds.forecaster import frequency as fq
from sqlml.kinds.forecaster import windows as fw
from sqlml.kinds.forecaster.window_sample import Sampler, parity_series
from sqlml.kinds.training import Progress
from sqlml.specs import resolve_options

TRAINING = "forecaster training"
FORECASTING = "forecasting"
KIND = "forecaster"
PARITY_TOLERANCE = 1e-5
TRANSFORMS = ("auto", "log", "none")
BASES = ("seasonal_naive", "theta")
MIN_AUTO_BATCH, MAX_AUTO_BATCH = 64, 512
# Models from before frequencies: monthly, with these limits.
MONTHLY_DEFAULTS = {"max_gap": 12, "min_history": 24}
SERIES_RECORDS = 50  # evaluated series whose candidates' scores the registry keeps


def min_lookback(season: int) -> int:
    return max(2 * season, 4)


def frequency_of(opts: dict, rows: pd.DataFrame) -> fq.Frequency:
    """``options.frequency``, else the one inferred from the rows."""
    if not opts["frequency"]:
        return fq.infer(rows, TRAINING)
    if opts["frequency"] not in fq.FREQUENCIES:
        raise InputError(f"option 'frequency' of {TRAINING} is out of range: "
                         f"{json.dumps(opts['frequency'])} (one of: "
                         + ", ".join(fq.FREQUENCIES) + "; or leave it out to infer it)")
    return fq.FREQUENCIES[opts["frequency"]]


def by_frequency(opts: dict, table: dict) -> dict:
    """The options with the frequency's defaults in place of 0 (horizon, lookback,
    validation_origins, season)."""
    out = dict(opts)
    seasons = table["seasons"]
    out["season"] = float(opts["season"] or (seasons[0] if seasons else 1))
    out["horizon"] = opts["horizon"] or table["horizon"]
    season = max(int(round(out["season"])), 1)
    out["lookback"] = opts["lookback"] or max(table["lookback"], min_lookback(season))
    out["validation_origins"] = (opts["validation_origins"]
                                 or min(table["validation_origins"], out["horizon"]))
    return out


def _check_options(opts: dict, limits: dict, table: dict) -> None:
    season = max(int(round(opts["season"])), 1)
    checks = {
        "horizon": 1 <= opts["horizon"] <= table["max_horizon"],
        "lookback": min_lookback(season) <= opts["lookback"] <= table["max_lookback"],
        "units": opts["units"] >= 1,
        "layers": opts["layers"] >= 1,
        "ensemble": 1 <= opts["ensemble"] <= limits["max_ensemble"],
        "batch_size": opts["batch_size"] >= 0,
        "learning_rate": opts["learning_rate"] > 0,
        "dropout": 0 <= opts["dropout"] < 1,
        "patience": opts["patience"] >= 1,
        "validation_origins": 1 <= opts["validation_origins"] <= opts["horizon"],
        "coverage": 0 < opts["coverage"] < 1,
        "transform": opts["transform"] in TRANSFORMS,
        "base": opts["base"] in BASES,
    }
    for name, ok in checks.items():
        if not ok:
            raise InputError(
                f"option {name!r} of {TRAINING} is out of range: {json.dumps(opts[name])} "
                f"(for {opts['frequency']} series: 1 <= horizon <= {table['max_horizon']}; "
                f"{min_lookback(season)} <= lookback <= {table['max_lookback']} (two seasons "
                f"of {season}); units, layers, patience >= 1; "
                "batch_size >= 0 (0: auto); 1 <= validation_origins <= horizon; "
                f"1 <= ensemble <= {limits['max_ensemble']}; learning_rate > 0; "
                "0 <= dropout < 1; 0 < coverage < 1; transform 'auto', 'log' or 'none')"
            )


def batch_and_rate(opts: dict, n_windows: int) -> tuple[int, float]:
    """``batch_size`` 0 (auto): 64 windows a step for up to a few thousand windows, the
    regime of a few dozen real series, where small steps learn most; more for big
    sets, about 50 steps an epoch up to 512, with the learning rate scaled by the
    square root of the batch growth (Adam's usual rule). Measured on 500 series x 120
    months, 2 CPU cores: 410 s instead of 1098 s at batch 64, same backtest MASE. The
    backtest and the refit each take it from their own number of windows."""
    if opts["batch_size"]:
        return opts["batch_size"], opts["learning_rate"]
    batch = int(2 ** np.floor(np.log2(max(n_windows / 50, 1.0))))
    batch = min(MAX_AUTO_BATCH, max(MIN_AUTO_BATCH, batch))
    return batch, opts["learning_rate"] * float(np.sqrt(batch / MIN_AUTO_BATCH))


def fit_intervals(residuals: np.ndarray, coverage: float) -> list[float]:
    """Half-widths per step, in units of the seasonal scale, from validation residuals."""
    size = np.abs(residuals)
    per_step = np.maximum.accumulate(np.maximum(size.mean(axis=0), 1e-6))
    ratio = float(np.quantile(size / per_step, coverage))
    return [float(w) for w in per_step * ratio]


def choose_adjustment(windows: fw.Windows, scaling: fw.Scaling) -> dict[str, float]:
    """The Theta base's validation MAE (units of the seasonal scale) with each seasonal
    adjustment; ties keep the earlier of always, test, never."""
    out = {}
    for adjustment in bases.ADJUSTMENTS:
        trial = fw.Scaling(**{**scaling.to_json(), "adjustment": adjustment})
        _, y, _ = _encoded(windows, trial)
        out[adjustment] = float(np.mean(np.abs(y)))
    return out


def _encoded(windows: fw.Windows, scaling: fw.Scaling, base_values: np.ndarray | None = None):
    x, context = fw.encode(windows, scaling, base_values)
    y = fw.targets(windows, context, scaling) if windows.targets is not None else None
    return x, y, context


@dataclass
class Prepared:
    """A training set read, checked and cut into windows, with its scaling."""

    opts: dict
    table: dict
    freq: fq.Frequency
    series: list
    log_space: bool
    seasons: list
    train_w: fw.Windows
    valid_w: fw.Windows
    test_w: fw.Windows
    scaling: fw.Scaling
    scale_opts: dict
    adjustment_maes: dict
    padded: int
    filled: int
    sampler: Sampler | None = None
    limits: dict = field(default_factory=dict)
    plan: correction.Plan | None = None  # the network corrects the library base

    @property
    def horizon(self) -> int:
        return self.opts["horizon"]

    @property
    def lookback(self) -> int:
        return self.opts["lookback"]

    @property
    def season(self) -> int:
        return max(int(round(self.opts["season"])), 1)


def prepare(frame: pd.DataFrame, spec: dict, options: str | dict | None,
            progress: Progress) -> Prepared:
    """Options resolved for the frequency, series regularised, the backtest's windows
    and the scaling learned from its training windows."""
    opts = resolve_options(spec, options, TRAINING)
    rows = inputs.read_frame(frame, TRAINING)
    freq = frequency_of(opts, rows)
    source = "given" if opts["frequency"] else "inferred"
    table = spec["frequencies"][freq.name]
    opts = by_frequency({**opts, "frequency": freq.name}, table)
    _check_options(opts, spec["limits"], table)
    horizon, lookback = opts["horizon"], opts["lookback"]
    season = max(int(round(opts["season"])), 1)
    units = freq.plural()
    series, log_space = inputs.regularise(rows, TRAINING, opts["transform"],
                                           table["max_gap"], freq)
    history = table["min_history"]
    inputs.refuse_short(series, horizon + history, TRAINING,
                         f"horizon + {history}, to backtest with {history} {units} in sample")
    series = inputs.backfill(series, lookback + horizon, season)
    padded = sum(1 for s in series if s.padded)
    # The frequency's longer seasons are recorded where the history covers two of them.
    longest = max(len(s.real) for s in series)
    seasons = [opts["season"]] + [p for p in table["seasons"][1:] if longest >= 2 * p]
    progress(f"{TRAINING}: {freq.name} series (frequency {source}), season {season}; "
             f"horizon {horizon}, lookback {lookback}, validation "
             f"origins {opts['validation_origins']} {units}")

    origins = opts["validation_origins"]
    recent = table.get("max_windows_per_series", 0)
    # Past the spec's limits on windows, a seeded sample of them (window_sample.py).
    sampler = Sampler(spec["limits"], opts["seed"])
    train_w = sampler.sliding("train", series, lookback, horizon,
                              cut=2 * horizon + origins - 1, most_recent=recent)
    valid_w = sampler.tail(series, lookback, horizon, cut=horizon, count=origins)
    test_w = fw.last(series, lookback, horizon, cut=0)
    if len(valid_w) == 0:
        longest = max(series, key=len)
        raise InputError(
            f"{TRAINING}: no series is long enough to validate and backtest: that needs "
            f"lookback + 2 x horizon = {lookback + 2 * horizon} {units} in at least one "
            f"series (the longest, {longest.series_id!r}, has {len(longest)}); "
            "use a smaller lookback"
        )
    if len(train_w) == 0:
        # Still a sound model: the network starts as the base method and keeps it.
        progress(f"{TRAINING}: no series has the lookback + 3 x horizon + validation_origins"
                 f" - 1 = {lookback + 3 * horizon + origins - 1} {units} a backtest training "
                 f"window needs, so the network is not trained: the model is the {opts['base']}"
                 " base; use a smaller lookback or fewer validation_origins to train it")
    filled = sum(s.filled for s in series)
    progress(f"{TRAINING}: {len(series)} series, {sum(len(s.real) for s in series)} {units} "
             f"({filled} interpolated), {'log' if log_space else 'linear'} space; backtest "
             f"windows: {len(train_w)} train, {len(valid_w)} valid, {len(test_w)} test")
    if sampler.sampled:
        progress(f"{TRAINING}: windows sampled past limits.max_training_windows and "
                 f"max_validation_windows: {sampler.sampled}")
    if padded:
        progress(f"{TRAINING}: {padded} series shorter than lookback + horizon = "
                 f"{lookback + horizon} {units} were back-filled with their first season")

    # The scaling constants come from inputs only; validation inputs stand in when
    # there is no training window.
    scale_opts = {"frequency": freq.name, "season": season}
    scaling = fw.fit_scaling(train_w if len(train_w) else valid_w, lookback, horizon,
                             log_space, opts["base"], **scale_opts)
    adjustment_maes = {}
    if table["seasonal_adjustment"] == "choose" and opts["base"] == "theta":
        adjustment_maes = choose_adjustment(valid_w, scaling)
        scaling.adjustment = min(adjustment_maes, key=adjustment_maes.get)
        progress(f"{TRAINING}: Theta seasonal adjustment {scaling.adjustment!r} (validation "
                 "MAE " + ", ".join(f"{k} {v:.4f}" for k, v in adjustment_maes.items())
                 + ")")
    scale_opts["adjustment"] = scaling.adjustment
    return Prepared(opts=opts, table=table, freq=freq, series=series, log_space=log_space,
                    seasons=seasons, train_w=train_w, valid_w=valid_w, test_w=test_w,
                    scaling=scaling, scale_opts=scale_opts, adjustment_maes=adjustment_maes,
                    padded=padded, filled=filled, sampler=sampler,
                    limits=spec["limits"])


@dataclass
class Backtest:
    """The backtest network, its intervals, and the held-out window's forecasts and
    scores: the version's (``forecast``, with the chosen base and gate) and the network's."""

    fitted: network.Fitted
    widths: list
    batch: int
    rate: float
    forecast: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    naive: np.ndarray
    metrics: dict  # the version's backtest
    network_metrics: dict  # the network alone
    baseline: dict  # seasonal naive
    start: dict  # the window base the network corrects (Theta or seasonal naive)
    choice: dict = field(default_factory=dict)  # what ``preprocessing.base_choice`` holds
    choice_metrics: dict = field(default_factory=dict)


def fit_and_backtest(prep: Prepared, progress: Progress) -> Backtest:
    """Choose the library base on validation windows (``choice``), train the network on
    the backtest's windows (as a correction of that base where the frequency's
    ``network_base`` is ``library``, see ``correction``), gate it on validation windows,
    and score the held-out window."""
    opts, series, scaling = prep.opts, prep.series, prep.scaling
    horizon, season = prep.horizon, prep.season
    selection = _select(prep, progress) if opts["candidates"] else None
    train_w, valid_w, test_w = prep.train_w, prep.valid_w, prep.test_w
    train_base = valid_base = test_base = held = None
    if selection is not None:
        held = _held_base(prep, selection)
        if prep.table.get("network_base") == correction.LIBRARY:
            train_w, valid_w, train_base, valid_base = _correct(prep, selection, progress)
            test_base = held[0]
    x_train, y_train, _ = _encoded(train_w, scaling, train_base)
    x_valid, y_valid, valid_context = _encoded(valid_w, scaling, valid_base)
    batch, rate = batch_and_rate(opts, len(train_w))
    fit_opts = {**opts, "batch_size": batch, "learning_rate": rate}
    fitted = network.fit(x_train, y_train, x_valid, y_valid, fit_opts, progress)
    widths = fit_intervals(y_valid - fitted.valid_delta, opts["coverage"])

    x_test, _, test_context = _encoded(test_w, scaling, test_base)
    delta = network.predict(fitted.model, x_test)
    forecast, lower, upper = _values(delta, test_context, scaling, widths)
    scales = np.array([metrics.seasonal_scale(series[i].real[:-horizon], season)
                       for i in test_w.series])
    naive = np.stack([bases.seasonal_naive(series[i].real[None, :-horizon], horizon,
                                           min(season, len(series[i].real) - horizon))[0]
                      for i in test_w.series])
    network_metrics = metrics.backtest(test_w.targets, forecast, scales, lower, upper)
    baseline = metrics.backtest(test_w.targets, naive, scales)
    start = metrics.backtest(
        test_w.targets, fw.decode(np.zeros_like(delta), test_context, scaling), scales)
    corrects = "the library base" if prep.plan else opts["base"]
    progress(f"{TRAINING}: network backtest MASE {network_metrics['mase']:.4f} (seasonal "
             f"naive {baseline['mase']:.4f}, {corrects} alone {start['mase']:.4f})")
    out = Backtest(fitted=fitted, widths=widths, batch=batch, rate=rate, forecast=forecast,
                   lower=lower, upper=upper, naive=naive, metrics=network_metrics,
                   network_metrics=network_metrics, baseline=baseline, start=start)
    if selection is not None:
        valid_values = fw.decode(fitted.valid_delta, valid_context, scaling)
        if prep.plan:
            scores = correction.gate_scores(
                valid_w, series, fw.decode(np.zeros_like(fitted.valid_delta), valid_context,
                                           scaling), valid_values, season)
        else:
            scores = _window_gate_scores(prep, selection, valid_values)
        _choose(prep, out, selection, held, scores, scales, progress)
    elif opts["candidates"]:
        least = choice.least_history(horizon, season, prep.table.get("candidate_origins", 1))
        out.choice = {"candidate": None, "network": "alone"}
        out.choice_metrics = {"candidate": None, "network": "alone",
                              "reason": f"no series of {least} periods or more"}
    progress(f"{TRAINING}: backtest MASE {out.metrics['mase']:.4f} (seasonal naive "
             f"{baseline['mase']:.4f}), {opts['coverage']:.0%} interval coverage "
             f"{out.metrics['coverage']:.3f}")
    return out


@dataclass
class Selection:
    """The library base chosen on validation windows (``choice``)."""

    evaluation: choice.Evaluation
    chosen: str  # the group's base, every series'
    validation: dict  # mean validation MASE per candidate
    started: float


def _select(prep: Prepared, progress: Progress) -> Selection | None:
    """The group's library base, from validation windows only (``choice``); None when no
    series is long enough to validate one."""
    opts, table = prep.opts, prep.table
    horizon, season = prep.horizon, prep.season
    origins = table.get("candidate_origins", 1)
    histories = [s.real for s in prep.series]
    least = choice.least_history(horizon, season, origins)
    indices = choice.sample([len(h) for h in histories], table.get("candidate_series", 0),
                            least)
    if not indices:
        progress(f"{TRAINING}: no series has the {least} {prep.freq.plural()} a library "
                 "base needs to be validated: the network alone forecasts")
        return None
    started = time.perf_counter()
    evaluation = choice.evaluate(histories, indices, horizon, season, origins,
                                 opts["coverage"], progress,
                                 exclude=tuple(table.get("exclude_candidates", ())))
    validation = evaluation.mean(evaluation.validation)
    chosen = choice.pick(validation, evaluation.names)
    return Selection(evaluation, chosen, validation, started)


def _held_base(prep: Prepared, selection: Selection) -> tuple[np.ndarray, ...]:
    """(forecast, lower, upper) of the held-out window by each series' library base,
    fitted on the history before it (the evaluated series reuse their fits)."""
    horizon, evaluation = prep.horizon, selection.evaluation
    held = dict(zip(evaluation.series, range(len(evaluation.series)), strict=True))
    rows = []
    for i in prep.test_w.series:
        i = int(i)
        if i in held:
            rows.append(evaluation.held_forecasts[selection.chosen][held[i]])
        else:
            rows.append(candidates.forecast(prep.series[i].real[:-horizon], horizon,
                                            prep.season, selection.chosen,
                                            prep.opts["coverage"]))
    return tuple(np.stack([r[k] for r in rows]) for k in range(3))


def _correct(prep: Prepared, selection: Selection, progress: Progress):
    """The backtest's training and validation windows of the series that train the
    correction, with each window's library base (``correction``)."""
    series, horizon = prep.series, prep.horizon
    plan = correction.Plan.make(selection.chosen, len(series), prep.limits)
    prep.plan = plan
    prep.scaling.base = fw.LIBRARY
    started = time.perf_counter()
    origins = prep.opts["validation_origins"]

    def fit_end(s):
        return correction.backtest_fit_end(s, horizon, origins)

    train_w, valid_w = plan.training(prep.train_w), plan.validation(prep.valid_w)
    train_base = correction.window_bases(series, train_w, plan, horizon, prep.season, fit_end)
    valid_base = correction.window_bases(series, valid_w, plan, horizon, prep.season, fit_end)
    progress(f"{TRAINING}: the network corrects the library base: {len(train_w)} training "
             f"and {len(valid_w)} validation windows of {len(plan.keep)} series, their "
             f"bases in {time.perf_counter() - started:.1f} s")
    return train_w, valid_w, train_base, valid_base


def _window_gate_scores(prep: Prepared, selection: Selection, valid_values: np.ndarray):
    """The base, the network (on its window base) and their mean, scored on the
    choice's validation windows where the network has a forecast too."""
    horizon, season, series = prep.horizon, prep.season, prep.series
    origins = prep.table.get("candidate_origins", 1)
    evaluation = selection.evaluation
    valid_w = prep.valid_w
    ends = valid_w.first + prep.lookback + horizon - 1  # each window's last target
    rows = {(int(i), int(e)): r for r, (i, e) in enumerate(zip(valid_w.series, ends,
                                                              strict=True))}
    scored = []
    for k, i in enumerate(evaluation.series):
        y = series[i].real
        n = len(y)
        for o, end in enumerate(choice.validation_ends(n, horizon, origins)):
            row = rows.get((i, series[i].last - (n - end)))
            if row is not None:
                scored.append(choice.gate_window(
                    y[end - horizon:end], evaluation.forecasts[selection.chosen][k][o],
                    valid_values[row], y[:end - horizon], season))
    return tuple(list(column) for column in zip(*scored, strict=True)) if scored else ([], [], [])


def _choose(prep: Prepared, out: Backtest, selection: Selection, held: tuple,
            scores: tuple, scales: np.ndarray, progress: Progress) -> None:
    """The network's gate, then the held-out window forecast as chosen (see
    ``choice``), and the record of both."""
    series, test_w = prep.series, prep.test_w
    evaluation, chosen = selection.evaluation, selection.chosen
    gate = choice.gate(*scores) if scores[0] else choice.Gate("off", {})
    base_f, base_lo, base_hi = held
    library = metrics.backtest(test_w.targets, base_f, scales, base_lo, base_hi)
    network_f = out.forecast
    if gate.mode == "blend":
        out.forecast = (base_f + out.forecast) / 2
        out.lower, out.upper = (base_lo + out.lower) / 2, (base_hi + out.upper) / 2
    elif gate.mode == "off":
        out.forecast, out.lower, out.upper = base_f, base_lo, base_hi
    out.metrics = metrics.backtest(test_w.targets, out.forecast, scales, out.lower, out.upper)
    seconds = time.perf_counter() - selection.started
    backtest = evaluation.mean(evaluation.backtest)
    validation = selection.validation
    progress(f"{TRAINING}: base {chosen} (validation MASE {validation[chosen]:.4f} over "
             f"{len(evaluation.series)} series; backtest {library['mase']:.4f}); network "
             f"{gate.mode} ({gate.windows} validation windows: " + ", ".join(
                 f"{k} {v:.4f}" for k, v in gate.validation.items()) + f"); {seconds:.1f} s")
    # Forecasting refits the base on each series' history. (``series``: the bases of
    # series that differed from the group's, which versions trained before 2026-12 hold.)
    out.choice = {"candidate": chosen, "network": gate.mode, "series": {}}
    row_of = {int(i): r for r, i in enumerate(test_w.series)}

    def added(i: int) -> float | None:
        """What the network added to this series' held-out MASE (base minus version)."""
        if i not in row_of:
            return None
        r = row_of[i]
        return round(float((np.mean(np.abs(test_w.targets[r] - base_f[r]))
                            - np.mean(np.abs(test_w.targets[r] - out.forecast[r])))
                           / scales[r]), 4)

    out.choice_metrics = {
        "candidate": chosen,
        "network": gate.mode,
        "network_corrects": "library_base" if prep.plan else f"window_{prep.opts['base']}",
        "correction_series": len(prep.plan.keep) if prep.plan else None,
        "gate_margin": choice.GATE_MARGIN,
        "gate_validation_mase": gate.validation,
        "gate_windows": gate.windows,
        "gate_wins": gate.wins,
        "evaluated_series": len(evaluation.series),
        "validation_origins": prep.table.get("candidate_origins", 1),
        "validation_mase": validation,
        "backtest_mase": backtest,
        "series_bases": {chosen: len(evaluation.series)},
        "base_backtest": {"model": chosen, **library},
        "network_backtest_mase": metrics.backtest(test_w.targets, network_f, scales)["mase"],
        "network_added_backtest_mase": library["mase"] - out.metrics["mase"],
        "seconds": seconds,
        "series": [
            {"series_id": series[i].series_id,
             "base": chosen,
             "won_validation": choice.pick({n: evaluation.validation[n][k]
                                            for n in evaluation.names}, evaluation.names),
             "network_added_backtest_mase": added(i),
             "validation_mase": {n: round(evaluation.validation[n][k], 4)
                                 for n in evaluation.names},
             "backtest_mase": {n: round(evaluation.backtest[n][k], 4)
                               for n in evaluation.names}}
            for k, i in enumerate(evaluation.series[:SERIES_RECORDS])
        ],
    }


def refit_and_package(frame: pd.DataFrame, spec: dict, prep: Prepared, bt: Backtest,
                      progress: Progress, started: float) -> TrainedModel:
    """Refit the network on the full series (``refit``), export and check its ONNX
    graph, and build the registry row."""
    opts, series, table = prep.opts, prep.series, prep.table
    horizon, lookback = prep.horizon, prep.lookback
    fitted = bt.fitted
    final, final_scaling = fitted, prep.scaling
    if opts["refit"]:
        full_w = (prep.sampler or Sampler({}, 0)).sliding(
            "refit", series, lookback, horizon, cut=0,
            most_recent=table.get("max_windows_per_series", 0))
        final_scaling = fw.fit_scaling(full_w, lookback, horizon, prep.log_space,
                                       prep.scaling.base, **prep.scale_opts)
        full_base = None
        if prep.plan:  # the library bases, by the backtest's fits (``correction``)
            full_w = prep.plan.training(full_w)
            full_base = correction.window_bases(series, full_w, prep.plan, horizon,
                                                prep.season, len)
        x_full, y_full, _ = _encoded(full_w, final_scaling, full_base)
        # The refit has every window (3.5x the backtest's on 500 x 120 months), so its
        # automatic batch follows its own count, as the backtest's does (about 50
        # steps an epoch): the same epochs then cost about half the steps.
        refit_batch, refit_rate = batch_and_rate(opts, len(full_w))
        final = network.fit(x_full, y_full, None, None,
                            {**opts, "batch_size": refit_batch, "learning_rate": refit_rate},
                            progress, fixed_epochs=fitted.best_epochs)

    preprocessing = {
        "scaling": final_scaling.to_json(),
        "interval_half_widths": bt.widths,
        "coverage": opts["coverage"],
        "max_gap": table["max_gap"],
        "min_history": table["min_history"],
    }
    if bt.choice:
        preprocessing["base_choice"] = bt.choice
    x_check, _, _ = _encoded(fw.last(parity_series(series), lookback, horizon, cut=0,
                                     with_targets=False), final_scaling)
    expected = network.predict(final.model, x_check)
    keras_blob = artifacts.pack(KIND, "model.keras", artifacts.keras_bytes(final.model),
                                preprocessing)
    onnx_model, parity = artifacts.onnx_bytes_checked(final.model, x_check, expected,
                                                      PARITY_TOLERANCE)
    onnx_blob = artifacts.pack(KIND, "model.onnx", onnx_model, preprocessing)

    model_metrics, test_w = bt.metrics, prep.test_w
    all_metrics = {
        "mase": model_metrics["mase"],
        "smape": model_metrics["smape"],
        "rmse": model_metrics["rmse"],
        "coverage": model_metrics["coverage"],
        "coverage_target": opts["coverage"],
        "coverage_by_step": model_metrics["coverage_by_step"],
        "baseline_mase": bt.baseline["mase"],
        "baseline": {"model": "seasonal_naive", **bt.baseline},
        "base": {"model": opts["base"], **bt.start},
        "network_backtest": bt.network_metrics,
        "choice": bt.choice_metrics,
        "step1_rmse": _step1_rmse(test_w.targets, bt.forecast),
        "naive_step1_rmse": _step1_rmse(
            test_w.targets, np.array([[series[int(i)].real[-horizon - 1]]
                                      for i in test_w.series])),
        "frequency": prep.freq.name,
        "season": opts["season"],
        "seasonal_adjustment": prep.scaling.adjustment,
        "seasonal_adjustment_valid_mae": prep.adjustment_maes,
        "horizon": horizon,
        "lookback": lookback,
        "n_series": len(series),
        "n_test_points": int(test_w.targets.size),
        "filled_points": int(prep.filled),
        "backfilled_series": int(prep.padded),
        "windows": {"train": len(prep.train_w), "valid": len(prep.valid_w),
                    "test": len(test_w)},
        "transform": "log" if prep.log_space else "none",
        "valid_mae": fitted.valid_mae,
        "valid_mae_seasonal_naive": fitted.start_mae,
        "batch_size": bt.batch,
        "learning_rate": bt.rate,
        "refit_batch_size": refit_batch if opts["refit"] else None,
        "refit_learning_rate": refit_rate if opts["refit"] else None,
        "best_epochs": fitted.best_epochs,
        "epochs_run": fitted.epochs_run,
        "refit": bool(opts["refit"]),
        "onnx_max_abs_diff": parity,
        "backtest_points": metrics.backtest_points(series, test_w.series, test_w.targets,
                                                   bt.forecast, bt.lower, bt.upper, bt.naive),
    }
    if prep.sampler and (sample := prep.sampler.record()):
        all_metrics["sample"] = sample  # the windows trained on were a sample
    return TrainedModel.build(
        keras_blob=keras_blob, onnx_blob=onnx_blob, spec=spec, options=opts,
        metrics=all_metrics,
        feature_schema={
            "series_id_column": "series_id",
            "period_column": "period",
            "value_column": "value",
            "frequency": prep.freq.name,
            "season": opts["season"],
            "seasons": prep.seasons,
            "lookback": lookback,
            "horizon": horizon,
            "channels": fw.channels(prep.freq),
            "series": len(series),
            "profile": drift.series_profile(
                frame, spec["limits"].get("drift_min_rows", drift.drift_columns.MIN_SERIES)),
        },
        trained_rows=sum(len(s.real) - s.filled for s in series), started=started,
        device=fitted.device,
    )


def _step1_rmse(actual: np.ndarray, forecast: np.ndarray) -> float:
    """RMSE of the first held-out step over series: the figure a random walk is hard to
    beat on (prices)."""
    return float(np.sqrt(np.mean((actual[:, 0] - forecast[:, 0]) ** 2)))


def train(frame: pd.DataFrame, spec: dict, options: str | dict | None,
          progress: Progress = lambda message: None) -> TrainedModel:
    """Train one version: the two bundles and the registry row."""
    started = time.perf_counter()
    prep = prepare(frame, spec, options, progress)
    backtest = fit_and_backtest(prep, progress)
    return refit_and_package(frame, spec, prep, backtest, progress, started)


def _values(delta: np.ndarray, context: fw.Context, scaling: fw.Scaling,
            widths: list[float]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    half = np.asarray(widths[: delta.shape[1]])[None, :]
    return (fw.decode(delta, context, scaling),
            fw.decode(delta, context, scaling, -half),
            fw.decode(delta, context, scaling, half))


def forecast(frame: pd.DataFrame, onnx_artifact: bytes, onnx_sha256: str,
             horizon: int | None = None) -> pd.DataFrame:
    """``horizon`` periods after each series' last period, from the ONNX bundle: one row
    per series and step with series_id, period (continuing the series' own calendar,
    see ``frequency.anchors``), step, forecast, lower, upper. Series of another
    frequency than the model's are an error naming both."""
    bundle = artifacts.unpack(onnx_artifact, onnx_sha256, "onnx_artifact")
    if bundle.kind != KIND or bundle.member != "model.onnx":
        raise ArtifactError(f"onnx_artifact holds a {bundle.kind} {bundle.member}, "
                            "not a forecaster ONNX model")
    pre = bundle.preprocessing
    scaling = fw.Scaling.from_json(pre["scaling"])
    steps = scaling.horizon if horizon is None else int(horizon)
    freq = scaling.freq
    if not 1 <= steps <= scaling.horizon:
        raise InputError(f"{FORECASTING}: horizon {steps} is outside what the model was trained "
                         f"for (1 to {scaling.horizon} {freq.plural()})")
    rows = inputs.read_frame(frame, FORECASTING)
    refuse_other_frequencies(rows, freq)
    limits = {**MONTHLY_DEFAULTS, **{k: pre[k] for k in ("max_gap", "min_history") if k in pre}}
    series, _ = inputs.regularise(rows, FORECASTING, "log" if scaling.log_space else "none",
                                   pre.get("max_gap_months", limits["max_gap"]), freq)
    history = limits["min_history"]
    inputs.refuse_short(series, history, FORECASTING,
                         f"{history} {freq.plural()}, the least history a forecast starts from")
    histories = [s.real for s in series]
    series = inputs.backfill(series, scaling.lookback, scaling.season)
    chosen = pre.get("base_choice") or {"candidate": None, "network": "alone"}
    corrects = scaling.base == fw.LIBRARY  # the network corrects the library base
    if chosen["network"] != "alone" or corrects:
        # The library base is fitted here, on each series' whole history as given, for
        # the model's whole horizon (a correction is learned over all of it).
        own = chosen.get("series", {})
        fits = [candidates.forecast(h, scaling.horizon, scaling.season,
                                    own.get(s.series_id, chosen["candidate"]),
                                    pre["coverage"]) for h, s in zip(histories, series,
                                                                     strict=True)]
        base_values, base_lower, base_upper = (np.stack([f[k] for f in fits])
                                               for k in range(3))
    if chosen["network"] != "off":
        windows = fw.last(series, scaling.lookback, scaling.horizon, cut=0,
                          with_targets=False)
        x, context = fw.encode(windows, scaling, base_values if corrects else None)
        delta = artifacts.onnx_predict(artifacts.onnx_session(bundle.model_bytes),
                                       x)[:, :steps]
        values, lower, upper = _values(delta, context, scaling, pre["interval_half_widths"])
    if chosen["network"] != "alone":
        base_values, base_lower, base_upper = (v[:, :steps] for v in
                                               (base_values, base_lower, base_upper))
        if chosen["network"] == "blend":
            values, lower, upper = ((base_values + values) / 2, (base_lower + lower) / 2,
                                    (base_upper + upper) / 2)
        else:
            values, lower, upper = base_values, base_lower, base_upper
    step = np.tile(np.arange(1, steps + 1), len(series))
    last_ordinal = np.repeat([s.last for s in series], steps)
    anchors = fq.anchors(rows, freq)
    anchor = np.repeat(np.array([anchors[s.series_id] for s in series], dtype=np.int64)
                       .reshape(-1, 2), steps, axis=0)
    periods = fq.period_stamps(last_ordinal + step, anchor, freq)
    return pd.DataFrame({
        "series_id": np.repeat([s.series_id for s in series], steps).astype(object),
        "period": periods.astype("datetime64[ns]"),
        "step": step.astype(np.int64),
        "forecast": values.reshape(-1),
        "lower": lower.reshape(-1),
        "upper": upper.reshape(-1),
    })


def refuse_other_frequencies(rows: pd.DataFrame, freq: fq.Frequency) -> None:
    """Forecasting series of another frequency than the model's is an error naming both."""
    for sid, name in fq.series_frequencies(rows).items():
        if name != freq.name:
            what = name if name in fq.FREQUENCIES else f"irregular (periods {name} apart)"
            raise InputError(
                f"{FORECASTING}: this model version was trained on {freq.name} series, but "
                f"series {sid!r} is {what}; forecast it with a model trained on its "
                f"frequency, or aggregate it to {freq.name} periods in the input query")
