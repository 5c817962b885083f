"""``sqlml report``: one self-contained HTML page of what the database holds.

``data`` reads (registry, predictions, runs, drift), ``figures`` draws
(matplotlib, base64 PNG), ``page`` lays out. The report needs no model blob and
no training data: the curves and backtest points it draws were stored with each
version when it was trained.
"""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa

from sqlml.report import data as report_data
from sqlml.report import figures, page, performance


def draw(data: report_data.ReportData, progress=lambda step: None) -> dict:
    progress("figures")
    return {
        "churn": [(figures.roc(s.model), figures.calibration(s.model),
                   figures.score_distribution(s.model, s.scores)) for s in data.churn],
        "forecasters": [(figures.forecasts(s.model, s.forecasts, s.actuals),
                         figures.backtest(s.model)) for s in data.forecasters],
        "mase": [figures.mase_by_version(data.registry)],
        "auc": [figures.auc_by_version(data.registry)],
        "runs": [figures.runs(data.runs)],
        "drift": [figures.drift_latest(data.drift), figures.drift_history(data.drift_history)],
        "performance": [performance.figure(data.performance)
                        if data.performance is not None else None],
    }


def write_report(engine: sa.Engine, out: str | Path, progress=lambda step: None) -> Path:
    """Read, draw and write the report; returns its absolute path."""
    data = report_data.load(engine, progress)
    progress("realised performance")
    with engine.connect() as connection:
        data.performance = performance.load(connection, data.omitted)
    html = page.render(data, draw(data, progress))
    path = Path(out).expanduser().resolve()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(html, encoding="utf-8")
    return path


def figure_count(html: str) -> int:
    return html.count('<img alt="')
