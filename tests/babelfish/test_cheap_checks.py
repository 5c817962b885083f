"""Issue 22, finding 12 on T-SQL: a training call's name and options are checked before
sp_execute_external_script reads a row (here Babelfish, which lacks it: these errors
can only come from the checks before it)."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from babelfish.test_procedures import register, runs
from sqlml import routines

pytestmark = pytest.mark.babelfish


@pytest.mark.parametrize("routine, name, options, message", [
    ("train_forecaster", "churn", None, "model 'churn' is a churn model; choose another name"),
    ("train_churn_model", "c", "{not json", "options of churn training is not valid JSON"),
    ("train_forecaster", "f", "[1, 2]", "options of forecaster training must be a JSON object"),
    ("train_churn_model", "c", '{"epoch": 3}', "unknown option 'epoch' for churn training"),
])
def test_name_and_options_are_refused_before_the_input_is_read(bf, routine, name, options,
                                                                 message):
    register(bf, "churn", {"auc": 0.8})
    with pytest.raises(sa.exc.DBAPIError, match=message):
        routines.call(bf, routine, model_name=name, options=options,
                      input_query="SELECT 1 / 0 AS customer_id")
    run = runs(bf)[-1]
    assert run["status"] == "failed" and message in run["error"]
