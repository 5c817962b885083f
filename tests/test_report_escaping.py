"""Issue 22, finding 2: what the database holds is text in the report, never markup.

An operator names models and an input query chooses customer ids; whoever opens the
report must not run what they wrote. Every value of a page built from hostile
values must come out escaped, and the page's policy must refuse an inline handler
even if one slipped through (checked in a real browser where chromium is installed).
"""

import re
import subprocess

import pandas as pd
import pytest

from sqlml.report import data as report_data
from sqlml.report import draw
from sqlml.report.page import CSP, RENDER_CHECK, SCRIPT_HASH, render

HOSTILE = "<img src=x onerror=\"document.body.setAttribute('data-pwned','1')\">"
MARK = "<img src=x"


def hostile_data() -> report_data.ReportData:
    """A database in which every free-text value is the hostile string."""
    churn_metrics = {"auc": 0.8, "baseline_auc": 0.7, "threshold": 0.5}
    registry = pd.DataFrame([
        {"model_id": 1, "model_name": HOSTILE, "version": 1, "kind": "churn",
         "status": "active", "status_reason": HOSTILE, "metrics": churn_metrics,
         "trained_rows": 10, "training_seconds": 1.0, "device": HOSTILE,
         "created_at": pd.Timestamp("2026-01-01"), "activated_at": None}])
    runs = pd.DataFrame([{"run_id": 7, "run_type": "score_churn", "model_name": HOSTILE,
                          "status": "failed", "rows_in": 1, "rows_out": 0,
                          "started_at": pd.Timestamp("2026-01-01", tz="UTC"),
                          "finished_at": pd.Timestamp("2026-01-01", tz="UTC"),
                          "error": HOSTILE, "seconds": 0.5}])
    drift = pd.DataFrame([{"model_name": HOSTILE, "model_version": 1, "kind": "churn",
                           "model_id": 1, "run_id": 7, "run_type": "score_churn",
                           "measured_at": pd.Timestamp("2026-01-01"), "feature": HOSTILE,
                           "psi": 0.5, "flagged": True,
                           "detail": {"unseen": [HOSTILE], "error": None} | {}}])
    drift.at[0, "detail"] = {"unseen": [HOSTILE]}
    at_risk = pd.DataFrame([{"customer_id": HOSTILE, "churn_probability": 0.9,
                             "model_version": 1, "run_id": 7,
                             "scored_at": pd.Timestamp("2026-01-01"), "reasons": HOSTILE}])
    section = report_data.ChurnSection(model=registry.iloc[0].to_dict(),
                                       scores=pd.Series([0.9]), at_risk=at_risk)
    return report_data.ReportData(database=HOSTILE, registry=registry, runs=runs,
                                  drift=drift, drift_history=pd.DataFrame(),
                                  churn=[section])


@pytest.mark.unit
def test_every_value_from_the_database_is_escaped():
    data = hostile_data()
    html = render(data, draw(data))
    assert MARK not in html, html[max(0, html.find(MARK) - 200):html.find(MARK) + 100]
    # the escaped name is there, as text: it was written, not dropped
    assert "&lt;img src=x onerror=" in html
    assert html.count("&lt;img src=x") >= 8


@pytest.mark.unit
def test_the_policy_runs_only_the_page_own_script():
    script_src = re.search(r"script-src ([^;]+)", CSP).group(1)
    assert "unsafe-inline" not in script_src and "unsafe-hashes" not in script_src
    assert script_src.strip() == f"'sha256-{SCRIPT_HASH}'"
    assert "default-src 'none'" in CSP


@pytest.mark.unit
def test_a_browser_refuses_an_inline_handler_that_slipped_through(tmp_path):
    from test_report import CHROMIUM_FLAGS, chromium

    browser = chromium()
    if browser is None:
        pytest.skip("chromium is not installed (make setup installs it)")
    data = hostile_data()
    html = render(data, draw(data))
    # Simulate an escaping slip: the raw handler and a raw script right in the body.
    html = html.replace("<body>", "<body>" + HOSTILE
                        + "<script>document.body.setAttribute('data-pwned','2')</script>", 1)
    assert RENDER_CHECK in html
    page = tmp_path / "hostile.html"
    page.write_text(html, encoding="utf-8")
    dom = subprocess.run(
        [browser, *CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / 'profile'}",
         "--virtual-time-budget=5000", "--dump-dom", page.as_uri()],
        capture_output=True, text=True, timeout=120, check=True).stdout
    body = re.search(r"<body[^>]*>", dom).group(0)
    assert "data-rendered=" in body, "the page's own script must still run"
    assert "data-pwned" not in body, "an inline handler or script ran"
