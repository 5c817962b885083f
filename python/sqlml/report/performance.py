"""The report's realised-performance section (issue 26): how each version did on the
outcomes that arrived (ml.evaluate, models.evaluations), over time, beside the
validation figure it was trained with and the drift of its scoring runs over the same
time; and the activation decisions with their figures (the registry's reasons and the
retraining checks' outcomes in ops.runs).

Reads plain SELECTs on either engine, as ``data`` does; draws as ``figures`` does.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from sqlml.report import figures
from sqlml.report.data import _frame, _has_relation, parse_json

PALETTE = ["#1f5fa8", "#d9822b", "#3a8d3a", "#8e44ad", "#c0392b", "#16a085", "#7f8c8d"]


@dataclass
class Performance:
    evaluations: pd.DataFrame = field(default_factory=pd.DataFrame)
    drift: pd.DataFrame = field(default_factory=pd.DataFrame)  # per scoring run: max PSI
    decisions: pd.DataFrame = field(default_factory=pd.DataFrame)  # the registry's reasons
    checks: pd.DataFrame = field(default_factory=pd.DataFrame)  # retraining checks


def load(connection, omitted: list[str] | None = None) -> Performance:
    """What this login may read of realised performance, drift and decisions; each part
    it may not read is named in ``omitted`` (a role gets the report its rights allow)."""
    from sqlml.report.data import can_read

    if not _has_relation(connection, "models", "evaluations"):
        return Performance()
    omitted = [] if omitted is None else omitted
    registry = can_read(connection, "models.registry")
    runs = can_read(connection, "ops.runs")
    if not (registry and can_read(connection, "models.evaluations")
            and can_read(connection, "models.specs")):
        omitted.append("Realised performance: this login cannot read models.evaluations "
                       "(models.performance shows the latest per version).")
        return Performance()
    evaluations = _frame(connection, """
        SELECT e.run_id, e.model_id, e.model_name, e.version, e.rows, e.metrics,
               e.evaluated_at, r.kind, r.metrics AS validation_metrics, s.spec
        FROM models.evaluations AS e
        INNER JOIN models.registry AS r ON e.model_id = r.model_id
        INNER JOIN models.specs AS s ON r.kind = s.kind
        ORDER BY e.run_id""")
    if not evaluations.empty:
        metric = evaluations["spec"].map(lambda s: parse_json(s)["activation_metric"]["name"])
        realised = evaluations["metrics"].map(parse_json)
        validation = evaluations["validation_metrics"].map(parse_json)
        evaluations = evaluations.assign(
            metric=metric,
            realised=[m.get(k) for m, k in zip(realised, metric, strict=True)],
            validation=[m.get(k) for m, k in zip(validation, metric, strict=True)],
        ).drop(columns=["spec", "validation_metrics", "metrics"])
    drift = pd.DataFrame()
    if runs and can_read(connection, "ops.run_drift"):
        drift = _frame(connection, """
        SELECT u.run_id, u.started_at, r.model_name, r.version, MAX(d.psi) AS max_psi
        FROM ops.run_drift AS d
        INNER JOIN ops.runs AS u ON d.run_id = u.run_id
        INNER JOIN models.registry AS r ON d.model_id = r.model_id
        GROUP BY u.run_id, u.started_at, r.model_name, r.version
        ORDER BY u.run_id""")
    decisions = _frame(connection, """
        SELECT model_name, version, status, status_reason, created_at
        FROM models.registry
        WHERE status_reason IS NOT NULL
        ORDER BY model_name, version""")
    checks = pd.DataFrame()
    if not runs:
        omitted.append("Retraining checks: this login cannot read the run log (ops.runs).")
    else:
        checks = _frame(connection, """
        SELECT run_id, model_name, status, started_at, outcome, error
        FROM ops.runs WHERE run_type = 'retrain_check'
        ORDER BY run_id DESC""", limit=50)
    if not checks.empty:
        outcome = checks["outcome"].map(lambda v: parse_json(v) or {})
        checks = checks.assign(
            decision=outcome.map(lambda o: o.get("decision")),
            triggers=outcome.map(lambda o: ", ".join(o.get("triggers") or []) or "none"),
            figures=outcome.map(_check_figures),
        ).drop(columns=["outcome"])
    return Performance(evaluations, drift, decisions, checks)


def _check_figures(outcome: dict) -> str:
    parts = []
    if outcome.get("realised") is not None:
        parts.append(f"{outcome.get('metric')} realised {outcome['realised']:.4f} against "
                     f"validation {outcome.get('validation', float('nan')):.4f} "
                     f"(max drop {outcome.get('max_drop')})")
    if outcome.get("flagged_runs") is not None:
        parts.append(f"drift flagged in {outcome['flagged_runs']} of the last "
                     f"{outcome.get('drift_runs')} runs")
    if outcome.get("age_days") is not None:
        parts.append(f"active {outcome['age_days']} days (max {outcome.get('max_age_days')})")
    if outcome.get("trained_version") is not None:
        parts.append(f"trained version {outcome['trained_version']}: "
                     f"{outcome.get('status_reason') or outcome.get('status')}")
    return "; ".join(parts)


def figure(perf: Performance) -> figures.Figure | None:
    """Realised metric over time per version, its validation figure as a dashed line of
    the same colour, and below, the largest PSI of each of its scoring runs."""
    if perf.evaluations.empty:
        return None
    plt = figures.plt
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(9, 5.6), sharex=True,
                                      gridspec_kw={"height_ratios": [3, 2]})
    keys = list(dict.fromkeys(zip(perf.evaluations["model_name"],
                                  perf.evaluations["version"], strict=True)))
    colours = {key: PALETTE[i % len(PALETTE)] for i, key in enumerate(keys)}
    for (name, version), group in perf.evaluations.groupby(["model_name", "version"]):
        colour = colours[(name, version)]
        when = pd.to_datetime(group["evaluated_at"], utc=True)
        metric = group["metric"].iloc[0]
        top.plot(when, group["realised"].astype(float), marker="o", color=colour,
                 label=f"{name} v{version}: realised {metric}")
        validation = group["validation"].iloc[0]
        if validation is not None and not pd.isna(validation):
            top.axhline(float(validation), color=colour, ls="--", lw=1,
                        label=f"{name} v{version}: validation {float(validation):.3f}")
        drift = perf.drift[(perf.drift["model_name"] == name)
                           & (perf.drift["version"] == version)] if not perf.drift.empty \
            else perf.drift
        if not drift.empty:
            bottom.plot(pd.to_datetime(drift["started_at"], utc=True),
                        drift["max_psi"].astype(float), marker=".", color=colour,
                        label=f"{name} v{version}")
    bottom.axhline(figures.PSI_THRESHOLD, color="#c0392b", ls=":", lw=1)
    top.set_ylabel("metric on outcomes")
    bottom.set_ylabel("largest PSI of a run")
    top.legend(fontsize=7, ncol=2)
    top.grid(alpha=0.3)
    bottom.grid(alpha=0.3)
    fig.autofmt_xdate()
    below = _below_validation(perf.evaluations)
    return figures.Figure(
        "Realised performance over time, beside validation, with the drift of the same runs",
        "Each point is an ml.evaluate of a version on outcomes that arrived; the dashed line "
        "of its colour is what validation promised. A version whose points fall away from "
        "its line while its drift climbs past the dotted threshold below is the one to "
        f"retrain ({below}).",
        figures._encode(fig))


def _below_validation(evaluations: pd.DataFrame) -> str:
    latest = evaluations.sort_values("run_id").groupby(["model_name", "version"]).tail(1)
    higher = latest["metric"].map({"auc": True}).fillna(False).to_numpy(dtype=bool)
    realised = latest["realised"].astype(float).to_numpy()
    validation = latest["validation"].astype(float).to_numpy()
    worse = np.where(higher, realised < validation, realised > validation)
    return f"{int(worse.sum())} of {len(latest)} version(s) now worse than at validation"


def section(perf: Performance, fig: figures.Figure | None, table, figure_html) -> str:
    """The section's HTML, laid out with the page's own ``table`` and ``figure``."""
    parts = ["<h2>Realised performance and activation decisions</h2>",
             "<p>When the outcomes arrive, ml.evaluate measures a version on them; the "
             "retraining check decides on these figures, and a new version is activated only "
             "when it beats the active one on the same rows (docs/registry.md).</p>"]
    if fig is None:
        parts.append('<p class="empty">No evaluation yet: run ml.evaluate with labelled '
                     "rows (churn) or actuals (forecaster).</p>")
    else:
        parts.append(figure_html(fig))
    parts.append("<h3>Activation decisions</h3>")
    parts.append(table(perf.decisions, {"model_name": "model", "version": "version",
                                        "status": "status",
                                        "status_reason": "decision and its figures"},
                       numeric=("version",)))
    parts.append("<h3>Retraining checks</h3>")
    parts.append(table(perf.checks, {"run_id": "run", "model_name": "model",
                                     "started_at": "when", "status": "status",
                                     "decision": "decision", "triggers": "triggers",
                                     "figures": "figures", "error": "error"},
                       numeric=("run_id",)))
    return "\n".join(parts)
