"""Issue 22, finding 10 on T-SQL: ml.score_churn_preview is a score_churn run marked
preview, refused like ml.score_churn before any work, and writes nothing (its
scoring is sp_execute_external_script, which Babelfish lacks: gap 4)."""

from __future__ import annotations

import json

import pytest
import sqlalchemy as sa

from babelfish.test_procedures import register, runs
from sqlml import routines
from sqlml.deploy.tsql_batches import BABELFISH_GAPS

pytestmark = pytest.mark.babelfish


def test_a_preview_of_a_missing_model_is_a_failed_preview_run(bf):
    with pytest.raises(sa.exc.DBAPIError, match="model 'nobody' not found"):
        routines.call(bf, "score_churn_preview", model_name="nobody")
    [run] = runs(bf)
    assert (run["run_type"], run["status"]) == ("score_churn", "failed")
    with bf.connect() as connection:
        params = connection.execute(sa.text("SELECT params FROM ops.runs")).scalar_one()
    assert json.loads(params)["preview"] is True


def test_a_preview_checks_explain_like_scoring(bf):
    register(bf, "churn", {"auc": 0.8})
    with pytest.raises(sa.exc.DBAPIError, match=r"explain must be 0 to 20"):
        routines.call(bf, "score_churn_preview", model_name="churn", explain=21)


@pytest.mark.xfail(strict=True, reason=BABELFISH_GAPS[4])
def test_a_preview_runs_the_embedded_python(bf):
    register(bf, "churn", {"auc": 0.8})
    routines.call(bf, "score_churn_preview", model_name="churn",
                  input_query="SELECT 1 AS customer_id")
