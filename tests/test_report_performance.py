"""The report's realised-performance section (issue 26), from frames as
report.performance reads them: no database."""

import pandas as pd
import pytest

from sqlml.report import data as report_data
from sqlml.report import figure_count, performance
from sqlml.report.page import render

pytestmark = pytest.mark.unit


def perf() -> performance.Performance:
    when = pd.to_datetime(["2026-10-01", "2026-11-01", "2026-12-01"], utc=True)
    evaluations = pd.DataFrame({
        "run_id": [10, 20, 30], "model_id": [1, 1, 2], "model_name": ["churn"] * 3,
        "version": [1, 1, 2], "rows": [500, 520, 510], "evaluated_at": when,
        "kind": ["churn"] * 3, "metric": ["auc"] * 3, "realised": [0.84, 0.79, 0.88],
        "validation": [0.85, 0.85, 0.87]})
    drift = pd.DataFrame({"run_id": [9, 19, 29], "started_at": when,
                          "model_name": ["churn"] * 3, "version": [1, 1, 2],
                          "max_psi": [0.05, 0.31, 0.04]})
    decisions = pd.DataFrame({
        "model_name": ["churn", "churn"], "version": [1, 2], "status": ["retired", "active"],
        "status_reason": ["retired: replaced by version 2 (auc 0.8800 against 0.8500 ...)",
                          "activated: auc 0.8800 beats active version 1's 0.8500 on the "
                          "same 300 rows (the challenger's validation split), margin 0"],
        "created_at": when[:2]})
    checks = pd.DataFrame({"run_id": [21], "model_name": ["churn"], "status": ["succeeded"],
                           "started_at": when[1:2], "error": [None], "decision": ["retrain"],
                           "triggers": ["realised, drift"],
                           "figures": ["auc realised 0.7900 against validation 0.8500"]})
    return performance.Performance(evaluations, drift, decisions, checks)


def test_the_figure_draws_each_version_beside_its_validation_and_drift():
    fig = performance.figure(perf())
    assert fig is not None and fig.uri.startswith("data:image/png;base64,")
    assert "1 of 2 version(s) now worse than at validation" in fig.caption
    assert performance.figure(performance.Performance()) is None


def test_the_page_lists_activation_decisions_with_their_figures():
    data = report_data.ReportData(
        database="postgresql database x", registry=pd.DataFrame(
            columns=["model_id", "model_name", "version", "kind", "status", "metrics"]),
        runs=pd.DataFrame(columns=[*report_data.RUN_COLUMNS, "seconds"]),
        drift=pd.DataFrame(), drift_history=pd.DataFrame(), performance=perf())
    html = render(data, {"churn": [], "forecasters": [], "mase": [None], "auc": [None],
                         "runs": [None], "drift": [None, None],
                         "performance": [performance.figure(data.performance)]})
    assert "Realised performance over time" in html and figure_count(html) == 1
    assert "beats active version 1&#x27;s 0.8500 on the same 300 rows" in html
    assert "realised, drift" in html and "auc realised 0.7900 against validation" in html
