"""sqlml.adapters.revoscale, both ways: revoscalepy absent (here) and present.

revoscalepy ships only with SQL Server Machine Learning Services and cannot be
installed here, so "present" is a minimal stand-in module put in sys.modules. It
checks the shape of the calls sqlml makes (RxInSqlServer's arguments, rx_exec's);
whether a real server runs them is for tests/test_mssql_live.py.
"""

from __future__ import annotations

import sys
import types

import pandas as pd
import pytest

from sqlml.adapters import revoscale
from sqlml.kinds import TrainedModel

pytestmark = pytest.mark.unit

URL = "mssql+pyodbc://ml:p%3Bw%7D@db.example:14330/sqlml?driver=ODBC+Driver+18+for+SQL+Server"


def test_without_revoscalepy_the_error_says_where_it_comes_from(monkeypatch):
    monkeypatch.setitem(sys.modules, "revoscalepy", None)  # import now raises ImportError
    with pytest.raises(revoscale.RevoScaleUnavailableError, match="Machine Learning Services"):
        revoscale.run_in_sql_server(print, URL)


def test_odbc_connection_string_quotes_what_odbc_needs_quoted():
    text = revoscale.odbc_connection_string(URL)
    assert text.startswith("Driver={ODBC Driver 18 for SQL Server};Server=db.example,14330;")
    assert "Database=sqlml;Uid=ml;Pwd={p;w}}}" in text and text.endswith("APP=sqlml")
    trusted = revoscale.odbc_connection_string("mssql+pyodbc://db/sqlml?driver=FreeTDS")
    assert "Trusted_Connection=Yes" in trusted and "TDS_Version=7.4" in trusted


@pytest.fixture
def fake_revoscalepy(monkeypatch):
    """A stand-in with the two entry points sqlml calls, recording the calls."""
    calls = {}
    module = types.ModuleType("revoscalepy")

    class RxInSqlServer:
        def __init__(self, **kwargs):
            calls["context"] = kwargs

    def rx_exec(function, args=None, compute_context=None, **kwargs):
        calls["exec"] = {"function": function, "args": args, "context": compute_context,
                         "kwargs": kwargs}
        return ["result of one task"]

    module.RxInSqlServer = RxInSqlServer
    module.rx_exec = rx_exec
    monkeypatch.setitem(sys.modules, "revoscalepy", module)
    return calls


def test_run_in_sql_server_builds_the_compute_context_and_calls_rx_exec(fake_revoscalepy):
    result = revoscale.run_in_sql_server(len, URL, args={"obj": [1, 2]}, num_tasks=4,
                                         timeout_seconds=600)
    assert result == ["result of one task"]
    context = fake_revoscalepy["context"]
    assert context["connection_string"] == revoscale.odbc_connection_string(URL)
    assert (context["num_tasks"], context["execution_timeout_seconds"]) == (4, 600)
    assert context["wait"] is True and context["auto_cleanup"] is True
    call = fake_revoscalepy["exec"]
    assert call["function"] is len and call["args"] == {"obj": [1, 2]}
    assert isinstance(call["context"], sys.modules["revoscalepy"].RxInSqlServer)


def test_training_sends_a_module_level_function_with_its_data_query(fake_revoscalepy):
    # rx_exec pickles the function by reference: it must be importable on the server.
    revoscale.train_churn_in_sql_server(URL, "SELECT * FROM features.churn_features",
                                        spec={"kind": "churn"}, options='{"epochs": 2}')
    call = fake_revoscalepy["exec"]
    assert call["function"] is revoscale._train_churn_remote
    assert call["function"].__module__ == "sqlml.adapters.revoscale"
    assert call["args"]["query"] == "SELECT * FROM features.churn_features"
    assert call["args"]["spec"] == '{"kind": "churn"}'
    assert call["args"]["options"] == '{"epochs": 2}'


def test_the_remote_function_reads_its_rows_through_revoscalepy(monkeypatch, fake_revoscalepy):
    seen = {}
    module = sys.modules["revoscalepy"]

    class RxSqlServerData:
        def __init__(self, **kwargs):
            seen["source"] = kwargs

    module.RxSqlServerData = RxSqlServerData
    module.rx_import = lambda source: pd.DataFrame({"customer_id": [1]})

    def train(kind, frame, spec, options, progress):
        seen["train"] = (kind, list(frame.columns), spec, options)
        return TrainedModel(b"a", b"o", {})

    monkeypatch.setattr("sqlml.entrypoints.train_model", train)
    out = revoscale._train_churn_remote("Driver=x", "SELECT 1", '{"kind": "churn"}', None)
    assert seen["source"] == {"sql_query": "SELECT 1", "connection_string": "Driver=x"}
    assert seen["train"] == ("churn", ["customer_id"], {"kind": "churn"}, None)
    assert out == {"artifact": b"a", "onnx_artifact": b"o", "registration": "{}"}
