"""Statistical base forecasts of whole series, from statsforecast: the candidates that
validation chooses among (see ``choice``).

Each candidate fits one series' history and forecasts ``horizon`` periods with an
interval at the model's coverage:

==================  =========================================================
``naive``           statsforecast's Naive: the last value repeated (the random walk)
``seasonal_naive``  statsforecast's SeasonalNaive: the last season repeated
``ets``             statsforecast's AutoETS (error, trend, season by AICc)
``arima``           statsforecast's AutoARIMA (orders by the Hyndman-Khandakar search)
``theta``           statsforecast's AutoTheta (standard, optimised, dynamic variants)
``ets_arima``       the mean of ``ets`` and ``arima`` (forecasts and bounds)
==================  =========================================================

(ETS and ARIMA through statsforecast's MSTL where the season is long, see
``LONG_SEASON``), and each model candidate also on the log scale (``arima_log``, ...),
where every value of the series is positive: the fit is then multiplicative in effect, which is what
trending series with seasonality that grows with the level want.

statsforecast 2.0 compiles its ETS and Theta with numba (an LLVM of its own, in
the database backend beside TensorFlow's), caching the machine code to disk
(``cache=True``). A runtime directory that the server's OS user cannot write has no
room for that cache, so ``NUMBA_CACHE_DIR`` is set, before numba is imported, to a
folder of the current user under the system's temporary directory, created with mode
0700 and used only when that user owns it (numba's cache holds pickles: another
user's folder would be code that user chose). Measured on 2 loaded CPU cores: the
first import with an empty cache compiles in about 20 s; later sessions load the cache.
"""

from __future__ import annotations

import os
import stat
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

# AutoCES is left out: statsforecast 2.0.3 does not cache its numba code, so every
# session paid a compile of 40-46 s (measured on 2 loaded CPU cores) before its first fit.
MODELS = ("ets", "arima", "theta")
COMBINATIONS = {"ets_arima": ("ets", "arima")}
SIMPLE = ("naive", "seasonal_naive")
# Seasons longer than this (weekly 52, hourly 24) are taken out by MSTL before ETS and
# ARIMA fit the rest without a season: measured on 494 weeks of gasoline, AutoETS with
# a season of 52 took 18.6 s and AutoARIMA over 280 s; through MSTL 0.45 s and 5.1 s.
LONG_SEASON = 12
NAMES = SIMPLE + MODELS + tuple(COMBINATIONS)


def names(positive: bool) -> list[str]:
    """Every candidate; the log-scale ones only for positive series."""
    logged = [f"{n}_log" for n in (*MODELS, *COMBINATIONS)] if positive else []
    return [*NAMES, *logged]


def split(name: str) -> tuple[str, bool]:
    """``arima_log`` -> (``arima``, True)."""
    if name.endswith("_log"):
        return name[:-4], True
    return name, False


def numba_cache_dir() -> Path | None:
    """A cache folder that only this OS user can write, or None (numba then keeps its
    machine code in memory only)."""
    path = Path(tempfile.gettempdir()) / f"sqlml-numba-{os.getuid()}"
    try:
        path.mkdir(mode=0o700, exist_ok=True)
        info = path.lstat()
    except OSError:
        return None
    if (not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid()
            or info.st_mode & 0o077):
        return None
    return path


def _library():
    """statsforecast's model classes, imported once numba knows where to cache."""
    if "NUMBA_CACHE_DIR" not in os.environ:
        cache = numba_cache_dir()
        if cache is not None:
            os.environ["NUMBA_CACHE_DIR"] = str(cache)
    from statsforecast.models import AutoARIMA, AutoETS, AutoTheta, Naive, SeasonalNaive

    return {"ets": AutoETS, "arima": AutoARIMA, "theta": AutoTheta,
            "naive": lambda season_length: Naive(), "seasonal_naive": SeasonalNaive}


def _build(name: str, length: int, season: int):
    """The statsforecast model of the candidate method ``name`` for a series of ``length``."""
    library = _library()
    if name == "seasonal_naive":
        return library[name](season_length=min(season, length))
    # The models need two seasons and a little more to fit one.
    season = season if season > 1 and length >= 2 * season + 2 else 1
    if season > LONG_SEASON and name in ("ets", "arima"):
        from statsforecast.models import MSTL

        trend = (library["ets"](season_length=1, model="ZZN") if name == "ets"
                 else library["arima"](season_length=1, seasonal=False))
        return MSTL(season_length=season, trend_forecaster=trend)
    return library[name](season_length=season)


def _model(name: str, y: np.ndarray, horizon: int, season: int, level: int):
    model = _build(name, len(y), season)
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        out = model.forecast(y=y, h=horizon, level=[level])
    return out["mean"], out[f"lo-{level}"], out[f"hi-{level}"]


@dataclass
class Fitted:
    """A candidate's models fitted on one series' history, to apply at later origins."""

    name: str
    log: bool  # fitted on the log of the values
    models: list  # one per part of the candidate (two for ets_arima); None: did not fit


def fit(values: np.ndarray, season: int, name: str, fit_end: int) -> Fitted:
    """The candidate ``name``'s models fitted on ``values[:fit_end]`` only."""
    values = np.array(values, dtype=np.float64)
    method, log = split(name)
    log = log and bool((values > 0).all())
    y = np.log(values) if log else values
    models = []
    for part in COMBINATIONS.get(method, (method,)):
        model = _build(part, fit_end, season)
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")
            try:
                model.fit(y[:fit_end].copy())
            except Exception:  # noqa: BLE001 - a model that cannot fit: the random walk
                model = None
        models.append(model)
    return Fitted(name=name, log=log, models=models)


def origin_forecasts(fitted: Fitted, values: np.ndarray, ends: np.ndarray,
                     horizon: int) -> np.ndarray:
    """(len(ends), horizon): the forecast of ``values[end:end + horizon]`` from
    ``values[:end]`` for each origin ``end``, by the ``fitted`` models applied to each
    origin's history with statsforecast's ``forward`` (the fitted parameters, the states
    filtered through the history): a refit per origin would cost 0.05-0.4 s each, a
    forward 0.03-8 ms (ETS 0.03, ARIMA 0.5, MSTL 8, measured). An origin where a model
    fails gives the last value, as ``forecast_all`` does."""
    values = np.array(values, dtype=np.float64)
    ends = np.asarray(ends, dtype=np.int64)
    y = np.log(values) if fitted.log else values
    parts = []
    for model in fitted.models:
        out = np.repeat(y[ends - 1][:, None], horizon, axis=1)  # the random walk
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")
            for k, end in enumerate(ends):
                if model is None:
                    break
                try:
                    mean = np.asarray(model.forward(y=y[:end].copy(), h=horizon)["mean"],
                                      dtype=np.float64)
                except Exception:  # noqa: BLE001 - this origin: the random walk
                    continue
                if np.all(np.isfinite(mean)):
                    out[k] = mean
        parts.append(np.exp(out) if fitted.log else out)
    return np.mean(parts, axis=0)


def forecast(history: np.ndarray, horizon: int, season: int, name: str,
             coverage: float = 0.8) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(forecast, lower, upper) of one series' ``history`` by the candidate ``name``."""
    return forecast_all(history, horizon, season, [name], coverage)[name]


def forecast_all(history: np.ndarray, horizon: int, season: int, wanted: list[str],
                 coverage: float = 0.8) -> dict[str, tuple[np.ndarray, ...]]:
    """{candidate: (forecast, lower, upper)} of one series' ``history``, each library
    model fitted once per scale (a combination reuses its parts' fits). A model that
    fails to fit (a flat or very short series) gives the last value, so a candidate
    always has a forecast; the log scale needs positive values (else the original
    scale is used)."""
    history = np.array(history, dtype=np.float64)  # a writable copy: numba refuses views
    positive = bool((history > 0).all())
    level = int(round(100 * coverage))
    fits: dict[tuple[str, bool], tuple[np.ndarray, ...]] = {}

    def fit(method: str, log: bool):
        key = (method, log)
        if key not in fits:
            y = np.log(history) if log else history
            try:
                out = _model(method, y, horizon, season, level)
                out = tuple(np.asarray(v, dtype=np.float64) for v in out)
                if not all(np.all(np.isfinite(v)) for v in out):
                    raise ValueError("not finite")
            except Exception:  # noqa: BLE001 - any failed fit: the random walk
                out = _flat(np.repeat(y[-1], horizon))
            fits[key] = tuple(np.exp(v) for v in out) if log else out
        return fits[key]

    result = {}
    for name in wanted:
        method, log = split(name)
        log = log and positive
        parts = [fit(part, log) for part in COMBINATIONS.get(method, (method,))]
        result[name] = tuple(np.mean([p[k] for p in parts], axis=0) for k in range(3))
    return result


def _flat(values: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    values = np.asarray(values, dtype=np.float64)
    return values, values.copy(), values.copy()
