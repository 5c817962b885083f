"""The report as one HTML page: figures inline, styles inline, nothing fetched.

A Content-Security-Policy forbids every network load (images are ``data:`` URIs),
so the page opens the same offline, from a mail attachment or a file share. The
small inline script only counts the figures that decoded and writes the count
on ``<body data-rendered>``, which the headless-browser test reads.

Every value read from the database (model names, errors, features, customer ids,
reasons) is written through ``esc``: an operator chooses model names and an input
query chooses ids, and whoever opens the report must not run what they wrote. As a
second wall the policy lets run only the one script whose sha256 it names, so an
inline handler (``onerror=...``) or an injected ``<script>`` is refused even if a
value ever slipped past ``esc``.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import html

import pandas as pd

from sqlml.report import performance
from sqlml.report.data import ReportData
from sqlml.report.figures import PSI_THRESHOLD, Figure

STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 0 auto;
       max-width: 1180px; padding: 1.5em; color: #222; line-height: 1.45; }
h1 { margin-bottom: 0.2em; } h2 { border-bottom: 2px solid #1f5fa8; padding-bottom: 0.2em;
       margin-top: 2em; }
.meta { color: #666; } .cards { display: flex; gap: 1em; flex-wrap: wrap; margin: 1em 0; }
.card { border: 1px solid #ddd; border-radius: 6px; padding: 0.6em 1em; min-width: 12em; }
.card b { display: block; font-size: 1.5em; } .bad { color: #c0392b; } .good { color: #3a8d3a; }
figure { margin: 1.2em 0; } figure img { max-width: 100%; border: 1px solid #eee; }
figcaption { font-size: 0.95em; color: #333; max-width: 60em; }
figcaption b { display: block; }
.pair { display: flex; gap: 1.5em; flex-wrap: wrap; } .pair figure { flex: 1 1 420px; }
table { border-collapse: collapse; font-size: 0.85em; margin: 0.8em 0; }
th, td { border-bottom: 1px solid #ddd; padding: 0.25em 0.6em; text-align: left;
         vertical-align: top; } th { background: #f4f6f9; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
.empty { color: #666; font-style: italic; } dt { font-weight: bold; }
"""
RENDER_CHECK = """
window.addEventListener('load', function () {
  var images = Array.prototype.slice.call(document.images);
  var ok = images.filter(function (i) { return i.complete && i.naturalWidth > 0; });
  document.body.setAttribute('data-rendered', ok.length + '/' + images.length);
});
"""

# The only script the page may run: pinned by its hash, so no 'unsafe-inline'.
SCRIPT_HASH = base64.b64encode(hashlib.sha256(RENDER_CHECK.encode()).digest()).decode()
CSP = ("default-src 'none'; img-src data:; style-src 'unsafe-inline'; "
       f"script-src 'sha256-{SCRIPT_HASH}'; base-uri 'none'; form-action 'none'")


def esc(value) -> str:
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return ""
    if isinstance(value, dt.datetime | pd.Timestamp):
        return html.escape(value.strftime("%Y-%m-%d %H:%M"))
    return html.escape(str(value))


def figure(fig: Figure | None) -> str:
    if fig is None:
        return ""
    return (f'<figure><img alt="{esc(fig.title)}" src="{esc(fig.uri)}">'
            f"<figcaption><b>{esc(fig.title)}</b>{esc(fig.caption)}</figcaption></figure>")


def table(frame: pd.DataFrame, columns: dict[str, str], numeric: tuple[str, ...] = (),
          formats: dict | None = None) -> str:
    if frame.empty:
        return '<p class="empty">Nothing recorded yet.</p>'
    formats = formats or {}
    head = "".join(f"<th>{esc(label)}</th>" for label in columns.values())
    body = []
    for row in frame.to_dict("records"):
        cells = []
        for name in columns:
            value = row.get(name)
            if name in formats and value is not None and not pd.isna(value):
                value = formats[name](value)
            cls = ' class="num"' if name in numeric else ""
            cells.append(f"<td{cls}>{esc(value)}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><tr>{head}</tr>{''.join(body)}</table>"


def _count(value) -> str:
    return f"{int(value):,}"


def _fmt(value, digits=3) -> str:
    try:
        return f"{float(value):.{digits}f}"
    except (TypeError, ValueError):
        return "n/a"


def card(label: str, value: str, note: str = "", cls: str = "") -> str:
    return (f'<div class="card">{esc(label)}<b class="{cls}">{esc(value)}</b>'
            f"{esc(note)}</div>")


def summary(data: ReportData) -> str:
    cards = []
    for section in data.churn:
        m = section.model["metrics"]
        better = m.get("auc", 0) >= m.get("baseline_auc", 1)
        cards.append(card(f"churn {section.model['model_name']} v{section.model['version']}",
                          f"AUC {_fmt(m.get('auc'))}",
                          f"baseline {_fmt(m.get('baseline_auc'))}",
                          "good" if better else "bad"))
    for section in data.forecasters:
        m = section.model["metrics"]
        better = m.get("mase", 9) <= m.get("baseline_mase", 0)
        cards.append(card(f"forecaster {section.model['model_name']} "
                          f"v{section.model['version']}",
                          f"MASE {_fmt(m.get('mase'))}",
                          f"seasonal naive {_fmt(m.get('baseline_mase'))}",
                          "good" if better else "bad"))
    flagged = int(data.drift["flagged"].sum()) if not data.drift.empty else 0
    measured = len(data.drift)
    cards.append(card("drift", f"{flagged} flagged", f"of {measured} features measured",
                      "bad" if flagged else "good"))
    failed = int((data.runs["status"] == "failed").sum()) if not data.runs.empty else 0
    cards.append(card("recent runs", f"{len(data.runs)}", f"{failed} failed",
                      "bad" if failed else "good"))
    return f'<div class="cards">{"".join(cards)}</div>'


def _key_metric(row) -> str:
    m = row["metrics"] or {}
    if row["kind"] == "churn":
        return f"AUC {_fmt(m.get('auc'))} (baseline {_fmt(m.get('baseline_auc'))})"
    return f"MASE {_fmt(m.get('mase'))} (seasonal naive {_fmt(m.get('baseline_mase'))})"


def registry_table(registry: pd.DataFrame) -> str:
    if registry.empty:
        return table(registry, {})
    frame = registry.copy()
    frame["key_metric"] = frame.apply(_key_metric, axis=1)
    return table(frame, {"model_name": "model", "version": "version", "kind": "kind",
                         "status": "status", "key_metric": "validation metric",
                         "status_reason": "why this status", "trained_rows": "rows",
                         "training_seconds": "train s", "device": "device",
                         "created_at": "created"},
                 numeric=("version", "trained_rows", "training_seconds"),
                 formats={"training_seconds": lambda v: f"{v:.1f}"})


def drift_table(latest: pd.DataFrame) -> str:
    if latest.empty:
        return table(latest, {})
    frame = latest.sort_values(["flagged", "psi"], ascending=[False, False]).copy()
    frame["note"] = frame["detail"].map(_drift_note)
    return table(frame, {"model_name": "model", "model_version": "version",
                         "feature": "feature", "psi": "PSI", "flagged": "flagged",
                         "note": "what changed", "run_id": "run", "measured_at": "measured"},
                 numeric=("model_version", "psi", "run_id"),
                 formats={"psi": lambda v: f"{v:.3f}"})


def _drift_note(detail) -> str:
    if not isinstance(detail, dict):
        return ""
    if "error" in detail:
        return detail["error"]
    notes = []
    before, after = detail.get("mean_expected"), detail.get("mean_actual")
    if before is not None and after is not None and \
            abs(after - before) > 0.01 * max(abs(before), 1e-9):
        notes.append(f"mean {detail['mean_expected']:.4g} in training, "
                     f"{detail['mean_actual']:.4g} now")
    if detail.get("unseen"):
        notes.append("new categories: " + ", ".join(detail["unseen"][:5]))
    if abs((detail.get("null_actual") or 0) - (detail.get("null_expected") or 0)) > 0.01:
        notes.append(f"NULLs {detail['null_expected']:.1%} in training, "
                     f"{detail['null_actual']:.1%} now")
    if detail.get("series_moved_3_scales"):
        notes.append(f"{detail['series_moved_3_scales']} series moved over 3 scales")
    return "; ".join(notes)


def render(data: ReportData, figs: dict[str, list[Figure | None]]) -> str:
    now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    parts = [f"<h1>sqlml report</h1><p class=meta>{esc(data.database)}, written {now}. "
             "Built only from what the database holds: the registry's stored metrics and "
             "curves, the prediction views, the run log and the drift view.</p>",
             summary(data)]
    if data.omitted:
        parts.append('<p class="meta"><b>Built with this login\'s rights.</b> Left out:</p><ul>'
                     + "".join(f'<li class="meta">{esc(note)}</li>' for note in data.omitted)
                     + "</ul>")

    parts.append("<h2>Churn model</h2>")
    if not data.churn:
        parts.append('<p class="empty">No active churn model: train one with '
                     "ml.train_churn_model (or <code>sqlml train churn NAME</code>).</p>")
    for section, (roc, calibration, distribution) in zip(data.churn, figs["churn"],
                                                         strict=True):
        parts.append(f"<div class=pair>{figure(roc)}{figure(calibration)}</div>")
        parts.append(figure(distribution))
        if distribution is None:
            parts.append('<p class="empty">No scores yet: run ml.score_churn.</p>')
        parts.append(f"<h3>Customers most at risk ({esc(section.model['model_name'])})</h3>")
        has_reasons = section.at_risk["reasons"].notna().any() if len(section.at_risk) else False
        columns = {"customer_id": "customer", "churn_probability": "churn probability",
                   "model_version": "version"}
        if has_reasons:
            columns["reasons"] = "reasons (strongest first)"
        parts.append(table(section.at_risk, columns,
                           numeric=("churn_probability", "model_version"),
                           formats={"churn_probability": lambda v: f"{v:.3f}"}))
        if not has_reasons:
            parts.append('<p class="meta">Reasons appear here when scoring keeps them '
                         "(ml.score_churn with explain &gt; 0, predictions.churn_reasons).</p>")

    parts.append("<h2>Forecasts</h2>")
    if not data.forecasters:
        parts.append('<p class="empty">No active forecaster: train one with '
                     "ml.train_forecaster.</p>")
    for forecast_fig, backtest_fig in figs["forecasters"]:
        parts.append(figure(forecast_fig) or '<p class="empty">No forecasts yet: run '
                     "ml.forecast.</p>")
        parts.append(figure(backtest_fig))
    parts.append(figure(figs["mase"][0]))

    parts.append("<h2>Registry history</h2>")
    parts.append(figure(figs["auc"][0]))
    parts.append("<p>One version per model name is active. A new version becomes active "
                 "when trained with activate, it beats its own baseline, and it beats the "
                 "active one by the margin on the same rows (churn: AUC on its validation "
                 "split; forecaster: MASE on its backtest), or when someone runs "
                 "ml.activate_model; the reason is recorded on the version.</p>")
    parts.append(registry_table(data.registry))
    if data.performance is not None:
        parts.append(performance.section(data.performance, figs.get("performance", [None])[0],
                                         table, figure))

    parts.append("<h2>Drift</h2>")
    parts.append(f"<p>Every scoring and forecasting run compares its input with its model "
                 f"version's training profile, feature by feature, with the population "
                 f"stability index (PSI). Below 0.1: stable; 0.1 to {PSI_THRESHOLD}: a "
                 f"moderate shift; above {PSI_THRESHOLD}: flagged, a shift worth acting on. "
                 "Drift never fails a run.</p>")
    for fig in figs["drift"]:
        parts.append(figure(fig))
    if data.drift.empty:
        parts.append('<p class="empty">No drift measured yet: it is recorded by every '
                     "scoring and forecasting run.</p>")
    else:
        parts.append(drift_table(data.drift))

    parts.append("<h2>Recent runs</h2>")
    parts.append(figure(figs["runs"][0]))
    parts.append(table(data.runs, {"run_id": "run", "run_type": "type",
                                   "model_name": "model", "status": "status",
                                   "seconds": "seconds", "rows_in": "rows in",
                                   "rows_out": "rows out", "started_at": "started",
                                   "error": "error"},
                       numeric=("run_id", "seconds", "rows_in", "rows_out"),
                       formats={"seconds": lambda v: f"{v:.1f}", "rows_in": _count,
                                "rows_out": _count}))

    parts.append("<h2>Reading the numbers</h2><dl>"
                 "<dt>AUC</dt><dd>The chance that a random churner scores higher than a random "
                 "retained customer: 0.5 is guessing, 1.0 is perfect.</dd>"
                 "<dt>MASE</dt><dd>Mean absolute scaled error: the forecast error divided by "
                 "seasonal naive's in-sample error; below 1 beats repeating last year.</dd>"
                 "<dt>Drift (PSI)</dt><dd>Population stability index of a feature between "
                 "training and a run: how far the share of rows in each bin moved.</dd></dl>")
    body = "\n".join(p for p in parts if p)
    return (f"<!DOCTYPE html><html lang=en><head><meta charset=utf-8>"
            f'<meta http-equiv="Content-Security-Policy" content="{CSP}">'
            f"<title>sqlml report</title><style>{STYLE}</style>"
            f"<script>{RENDER_CHECK}</script></head><body>{body}</body></html>")
