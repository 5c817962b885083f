"""The report's figures, drawn with matplotlib and embedded as base64 PNG.

Each function takes what ``data`` read and returns a ``Figure``: the image as a
``data:`` URI, a title, and the one sentence under it that says what a reader
should take from it. No function draws from a model or from training data.
"""

from __future__ import annotations

import base64
import io
from dataclasses import dataclass

import matplotlib

matplotlib.use("Agg")  # no display: files only
# Labels carry names from the database: a '$' in a model name is text, not mathtext
# (which would fail to parse, or draw something else than the name).
matplotlib.rcParams["text.parse_math"] = False

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

DPI = 110
MODEL_COLOURS = {"model": "#1f5fa8", "logistic_regression": "#d9822b"}
STATUS_COLOURS = {"succeeded": "#3a8d3a", "failed": "#c0392b", "running": "#7f8c8d"}
PSI_THRESHOLD = 0.2


@dataclass
class Figure:
    title: str
    caption: str
    uri: str


def _encode(fig) -> str:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=DPI, bbox_inches="tight")
    plt.close(fig)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _label(name: str) -> str:
    return {"model": "network (this version)",
            "logistic_regression": "logistic regression (baseline)"}.get(name, name)


def roc(model: dict) -> Figure | None:
    curves = model["metrics"].get("curves")
    if not curves:
        return None
    fig, ax = plt.subplots(figsize=(5.2, 4.6))
    for name, curve in curves["models"].items():
        ax.plot(curve["roc"]["fpr"], curve["roc"]["tpr"], color=MODEL_COLOURS.get(name),
                label=f"{_label(name)}: AUC {curve['auc']:.3f}")
    ax.plot([0, 1], [0, 1], ls="--", color="#999", label="chance: AUC 0.5")
    ax.set(xlabel="false positive rate (retained customers flagged)",
           ylabel="true positive rate (churners caught)", xlim=(0, 1), ylim=(0, 1.01))
    ax.legend(loc="lower right", fontsize=8)
    ax.grid(alpha=0.3)
    auc = model["metrics"].get("auc", float("nan"))
    base = model["metrics"].get("baseline_auc", float("nan"))
    verdict = (f"(the network adds {auc - base:.3f})" if auc >= base
               else "(the baseline ranks better)")
    return Figure(
        f"ROC curve of {model['model_name']} v{model['version']} (validation rows: "
        f"{curves['n']}, {curves['positives']} churners)",
        f"The higher the curve, the more churners are caught for the same number of false "
        f"alarms: AUC {auc:.3f} for the network against {base:.3f} for logistic regression "
        f"{verdict}.",
        _encode(fig))


def calibration(model: dict) -> Figure | None:
    curves = model["metrics"].get("curves")
    if not curves:
        return None
    fig, ax = plt.subplots(figsize=(5.2, 4.6))
    ax.plot([0, 1], [0, 1], ls="--", color="#999", label="perfectly calibrated")
    for name, curve in curves["models"].items():
        points = pd.DataFrame(curve["calibration"])
        ax.plot(points["predicted"], points["observed"], marker="o",
                color=MODEL_COLOURS.get(name), label=_label(name))
    ax.set(xlabel="mean predicted churn probability (bin)", ylabel="observed churn rate",
           xlim=(0, 1), ylim=(0, 1))
    ax.legend(loc="upper left", fontsize=8)
    ax.grid(alpha=0.3)
    return Figure(
        f"Calibration of {model['model_name']} v{model['version']}",
        "Points on the diagonal mean a score of 0.3 really is a 30% churn risk; points "
        "below it mean the model overstates risk, above it that it understates it.",
        _encode(fig))


def score_distribution(model: dict, scores: pd.Series) -> Figure | None:
    if scores.empty:
        return None
    threshold = model["metrics"].get("threshold")
    fig, ax = plt.subplots(figsize=(7.5, 3.6))
    ax.hist(scores, bins=40, range=(0, 1), color="#1f5fa8", alpha=0.85)
    if threshold is not None:
        ax.axvline(threshold, color="#c0392b", ls="--",
                   label=f"best-F1 cut on validation: {threshold:.2f}")
        ax.legend(fontsize=8)
    ax.set(xlabel="churn probability", ylabel="customers")
    ax.grid(alpha=0.3)
    above = int((scores >= threshold).sum()) if threshold is not None else None
    return Figure(
        f"Latest churn scores ({len(scores)} customers)",
        "Most customers should sit at low risk; the tail on the right is who to contact"
        + (f": {above} customers ({above / len(scores):.1%}) are at or above the cut." if
           above is not None else "."),
        _encode(fig))


def forecasts(model: dict, forecast: pd.DataFrame, actuals: pd.DataFrame) -> Figure | None:
    if forecast.empty:
        return None
    series = list(pd.unique(forecast["series_id"]))
    cols = 2 if len(series) > 1 else 1
    rows = int(np.ceil(len(series) / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(11, 2.7 * rows), squeeze=False)
    for ax, sid in zip(axes.flat, series, strict=False):
        f = forecast[forecast["series_id"] == sid]
        a = actuals[actuals["series_id"] == sid]
        periods = pd.to_datetime(f["period"])
        if len(a):
            # as much history as three horizons (two years at least): enough to see the
            # season the forecast should continue, at any frequency
            a = a.tail(max(3 * len(f), 24))
            ax.plot(pd.to_datetime(a["period"]), a["value"].astype(float), color="#333",
                    lw=1.2, label="actual")
        ax.plot(periods, f["forecast"], color="#1f5fa8", lw=1.6, label="forecast")
        ax.fill_between(periods, f["lower"].astype(float), f["upper"].astype(float),
                        color="#1f5fa8", alpha=0.2, label="interval")
        ax.set_title(str(sid), fontsize=9)
        ax.tick_params(labelsize=7)
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[len(series):]:
        ax.axis("off")
    axes.flat[0].legend(fontsize=7, loc="upper left")
    fig.tight_layout()
    coverage = model["metrics"].get("coverage_target")
    return Figure(
        f"Forecasts of {model['model_name']} v{model['version']} after the actuals "
        f"({len(series)} series)",
        "The forecast should continue each series' level and seasonal pattern; the shaded "
        f"band is where the value should fall {coverage:.0%} of the time." if coverage else
        "The forecast should continue each series' level and seasonal pattern; the shaded "
        "band is its prediction interval.",
        _encode(fig))


def backtest(model: dict) -> Figure | None:
    points = model["metrics"].get("backtest_points")
    if not points:
        return None
    cols = 3 if len(points) > 2 else len(points)
    rows = int(np.ceil(len(points) / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(11, 2.6 * rows), squeeze=False)
    for ax, p in zip(axes.flat, points, strict=False):
        x = np.arange(1, len(p["actual"]) + 1)
        ax.fill_between(x, p["lower"], p["upper"], color="#1f5fa8", alpha=0.2)
        ax.plot(x, p["actual"], color="#333", marker=".", label="actual (held out)")
        ax.plot(x, p["forecast"], color="#1f5fa8", label="network")
        ax.plot(x, p["seasonal_naive"], color="#d9822b", ls="--", label="seasonal naive")
        ax.set_title(f"{p['series_id']}: last {len(x)} periods", fontsize=8)
        ax.tick_params(labelsize=7)
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[len(points):]:
        ax.axis("off")
    axes.flat[0].legend(fontsize=7)
    fig.tight_layout()
    m = model["metrics"]
    return Figure(
        "Backtest: each series' last periods held out, forecast without seeing them "
        "(x: steps ahead)",
        f"Where the blue line tracks the black one more closely than the dashed one, the "
        f"network beats seasonal naive: MASE {m.get('mase', float('nan')):.3f} against "
        f"{m.get('baseline_mase', float('nan')):.3f} over all {m.get('n_series', '?')} series.",
        _encode(fig))


def mase_by_version(registry: pd.DataFrame) -> Figure | None:
    rows = registry[registry["kind"] == "forecaster"]
    if rows.empty:
        return None
    labels = [f"{r.model_name} v{r.version}" + (" *" if r.status == "active" else "")
              for r in rows.itertuples()]
    mase = [r["mase"] for r in rows["metrics"]]
    naive = [r.get("baseline_mase", np.nan) for r in rows["metrics"]]
    x = np.arange(len(labels))
    fig, ax = plt.subplots(figsize=(max(5, 1.1 * len(labels) + 2), 3.6))
    ax.bar(x - 0.2, mase, 0.4, color="#1f5fa8", label="network MASE")
    ax.bar(x + 0.2, naive, 0.4, color="#d9822b", label="seasonal naive MASE")
    ax.axhline(1.0, color="#999", ls=":", lw=1)
    ax.set_xticks(x, labels, fontsize=8)
    ax.set_ylabel("backtest MASE (lower is better)")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3, axis="y")
    return Figure(
        "Forecaster versions: backtest MASE beside seasonal naive (* = active)",
        "MASE is the forecast error in units of seasonal naive's in-sample error: a blue bar "
        "lower than its orange neighbour means the version beats the baseline on the "
        "held-out months.",
        _encode(fig))


def auc_by_version(registry: pd.DataFrame) -> Figure | None:
    rows = registry[registry["kind"] == "churn"]
    if rows.empty:
        return None
    labels = [f"v{r.version}" for r in rows.itertuples()]
    fig, ax = plt.subplots(figsize=(max(5, 0.9 * len(labels) + 2), 3.6))
    x = np.arange(len(labels))
    auc = [m.get("auc", np.nan) for m in rows["metrics"]]
    base = [m.get("baseline_auc", np.nan) for m in rows["metrics"]]
    ax.plot(x, auc, marker="o", color="#1f5fa8", label="network AUC")
    ax.plot(x, base, marker="s", ls="--", color="#d9822b", label="logistic regression AUC")
    for xi, r in zip(x, rows.itertuples(), strict=True):
        if r.status == "active":
            ax.scatter([xi], [r.metrics.get("auc", np.nan)], s=260, facecolors="none",
                       edgecolors="#3a8d3a", lw=2, label="active", zorder=5)
    ax.set_xticks(x, [f"{r.model_name} {lab}" for r, lab in zip(rows.itertuples(), labels,
                                                                 strict=True)], fontsize=8)
    ax.set_ylabel("validation AUC (higher is better)")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    return Figure(
        "Churn versions: validation AUC beside the logistic-regression baseline",
        "Each version is compared with a baseline trained on the same split; the circled "
        "version is the one scoring uses now, and the registry table below says why.",
        _encode(fig))


def runs(recent: pd.DataFrame) -> Figure | None:
    if recent.empty:
        return None
    ordered = recent.sort_values("run_id")
    fig, ax = plt.subplots(figsize=(9, max(2.5, 0.22 * len(ordered) + 1)))
    y = np.arange(len(ordered))
    colours = [STATUS_COLOURS.get(s, "#7f8c8d") for s in ordered["status"]]
    ax.barh(y, ordered["seconds"].fillna(0), color=colours)
    ax.set_yticks(y, [f"#{r.run_id} {r.run_type} {r.model_name or ''}"
                      for r in ordered.itertuples()], fontsize=7)
    ax.set_xlabel("seconds")
    for status, colour in STATUS_COLOURS.items():
        ax.barh([], [], color=colour, label=status)
    ax.legend(fontsize=8, loc="lower right")
    ax.grid(alpha=0.3, axis="x")
    failed = int((recent["status"] == "failed").sum())
    return Figure(
        f"The last {len(recent)} runs: duration and outcome",
        f"Red bars are failed runs ({failed} here; their errors are in the table below), "
        "and a bar much longer than its neighbours of the same type is a run worth a look.",
        _encode(fig))


def drift_latest(latest: pd.DataFrame) -> Figure | None:
    rows = latest[latest["psi"].notna()] if not latest.empty else latest
    if rows.empty:
        return None
    rows = rows.sort_values(["model_name", "psi"])
    labels = [f"{r.model_name} v{r.model_version}: {r.feature}" for r in rows.itertuples()]
    fig, ax = plt.subplots(figsize=(8.5, max(2.5, 0.28 * len(rows) + 1)))
    colours = ["#c0392b" if f else "#3a8d3a" for f in rows["flagged"]]
    ax.barh(np.arange(len(rows)), rows["psi"].astype(float), color=colours)
    ax.axvline(PSI_THRESHOLD, color="#c0392b", ls="--", label=f"threshold PSI {PSI_THRESHOLD}")
    ax.axvline(0.1, color="#d9822b", ls=":", label="moderate shift 0.1")
    ax.set_yticks(np.arange(len(rows)), labels, fontsize=7)
    ax.set_xlabel("population stability index (latest run against training)")
    ax.legend(fontsize=8, loc="lower right")
    ax.grid(alpha=0.3, axis="x")
    flagged = int(rows["flagged"].sum())
    return Figure(
        "Drift: each input's latest population stability index",
        f"Green bars left of the dashed line mean today's input looks like the training data; "
        f"{flagged} feature(s) are red, past PSI {PSI_THRESHOLD}: their models are reading "
        "data unlike what they learned from and are candidates for retraining.",
        _encode(fig))


def drift_history(history: pd.DataFrame) -> Figure | None:
    rows = history[history["psi"].notna()] if not history.empty else history
    if rows.empty or rows["run_id"].nunique() < 2:
        return None
    fig, ax = plt.subplots(figsize=(9, 3.6))
    for (name, feature), group in rows.groupby(["model_name", "feature"]):
        ax.plot(group["run_id"], group["psi"].astype(float), marker=".", lw=1,
                label=f"{name}: {feature}")
    ax.axhline(PSI_THRESHOLD, color="#c0392b", ls="--")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set(xlabel="run id", ylabel="PSI")
    if rows.groupby(["model_name", "feature"]).ngroups <= 12:
        ax.legend(fontsize=7, ncol=2)
    ax.grid(alpha=0.3)
    return Figure(
        "Drift over runs",
        "A line that climbs towards the dashed threshold over successive runs is a slow "
        "change in the data; a jump is a sudden one (a new source, a broken feed).",
        _encode(fig))
