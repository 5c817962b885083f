"""Run Python in SQL Server's compute context with revoscalepy, where the server ships it.

revoscalepy is Microsoft's client and server library of Machine Learning Services
(SQL Server 2017-2022). It is not on PyPI, so sqlml never requires it: this module
imports it when called and says plainly when it is missing. Platform: revoscalepy
documents remote compute contexts (``RxInSqlServer`` from a client) for Windows
clients only; on Linux, call the procedures. ``RxInSqlServer`` is a
compute context that sends a Python function to run inside SQL Server, and
``rx_exec`` runs it there and brings back its return value; the data stays on the
server, read there by ``RxSqlServerData``.

Microsoft's rule for remote compute contexts applies: the client's Python and
revoscalepy versions must match the server's, and the server's Python must import
what the function imports. With today's pins that rules out training sqlml's
models this way on ML Services' own Python (3.10 with numpy 1.x on SQL Server 2022,
3.7 on 2019): sqlml's runtime needs Python 3.11+. ``EXEC ml.train_churn_model``
(the language extension) is the supported path; this helper is for servers whose
ML Services Python can run sqlml, and for running other functions in-database.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from sqlalchemy.engine import URL, make_url

from sqlml.errors import EngineError


class RevoScaleUnavailableError(EngineError):
    """revoscalepy is not importable in this Python."""


def revoscalepy():
    try:
        import revoscalepy as module
    except ImportError as exc:
        raise RevoScaleUnavailableError(
            "revoscalepy is not installed in this Python: it ships with SQL Server Machine "
            "Learning Services (not on PyPI). Run this from the Python of an ML Services "
            "client of the same version as the server, or train with EXEC "
            "ml.train_churn_model instead"
        ) from exc
    return module


def _odbc_value(value: str) -> str:
    # ODBC connection-string quoting: braces around values with ; { } or edge spaces.
    if any(c in value for c in ";{}") or value != value.strip():
        return "{" + value.replace("}", "}}") + "}"
    return value


def odbc_connection_string(url: str | URL) -> str:
    """The ODBC connection string revoscalepy wants, from a mssql+pyodbc URL."""
    from sqlml.connect import mssql_url

    parsed = make_url(url)
    raw = {k.lower(): v for k, v in parsed.query.items()}.get("odbc_connect")
    if raw:
        return raw
    parsed = mssql_url(parsed)
    options = dict(parsed.query)
    driver = options.pop(next(k for k in options if k.lower() == "driver"))
    parts = [f"Driver={{{driver}}}" if not driver.startswith("/") else f"Driver={driver}"]
    parts.append(f"Server={parsed.host or 'localhost'},{parsed.port or 1433}")
    if parsed.database:
        parts.append(f"Database={_odbc_value(parsed.database)}")
    if parsed.username:
        parts.append(f"Uid={_odbc_value(parsed.username)}")
        parts.append(f"Pwd={_odbc_value(parsed.password or '')}")
    else:
        parts.append("Trusted_Connection=Yes")
    parts += [f"{key}={_odbc_value(str(value))}" for key, value in options.items()]
    return ";".join(parts)


def compute_context(url: str | URL, num_tasks: int = 1, timeout_seconds: int | None = None,
                    console_output: bool = True, packages_to_load: list[str] | None = None):
    """An ``RxInSqlServer`` compute context for the database of ``url`` (revoscalepy
    supports remote compute contexts from Windows clients only)."""
    return revoscalepy().RxInSqlServer(
        connection_string=odbc_connection_string(url),
        num_tasks=num_tasks,
        auto_cleanup=True,
        console_output=console_output,
        execution_timeout_seconds=timeout_seconds,
        wait=True,
        packages_to_load=packages_to_load,
    )


def run_in_sql_server(function: Callable, url: str | URL, args: dict | None = None,
                      **context_options) -> list:
    """``function(**args)`` run inside SQL Server; one result per task (rx_exec's list)."""
    context = compute_context(url, **context_options)
    return revoscalepy().rx_exec(function, args=args, compute_context=context)


def train_churn_in_sql_server(url: str | URL, input_query: str, spec: dict,
                              options: str | dict | None = None) -> dict[str, Any]:
    """Train a churn model in SQL Server's compute context on ``input_query``'s rows.

    Returns the artifacts ``ml.train_churn_model`` would register (``artifact``,
    ``onnx_artifact``: bytes; ``registration``: JSON text); it registers nothing.
    """
    (result,) = run_in_sql_server(
        _train_churn_remote, url,
        args={"connection_string": odbc_connection_string(url), "query": input_query,
              "spec": json.dumps(spec), "options": options},
    )
    return result


def _train_churn_remote(connection_string: str, query: str, spec: str,
                        options: str | dict | None) -> dict[str, Any]:
    """Runs inside SQL Server's Python: read the rows there, train, return the artifacts."""
    import revoscalepy as rx

    from sqlml import entrypoints

    frame = rx.rx_import(rx.RxSqlServerData(sql_query=query, connection_string=connection_string))
    trained = entrypoints.train_model("churn", frame, json.loads(spec), options, progress=print)
    return {"artifact": trained.artifact, "onnx_artifact": trained.onnx_artifact,
            "registration": trained.registration_json()}
