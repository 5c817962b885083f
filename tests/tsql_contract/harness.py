"""Run the Python embedded in a T-SQL procedure with SQL Server's calling convention.

For ``procedures/mssql/<name>.sql`` the harness reads the procedure's
``sp_execute_external_script`` call (``tsql.read_calls``), then does what SQL Server
does around the ``@script``:

1. builds ``InputDataSet`` (or the ``@input_data_1_name``) from the input query's
   rows and SQL types, the way the chosen runtime profile does (``sqltypes``); the
   rows come from the PostgreSQL engine, with each PostgreSQL column type mapped to
   the SQL Server type sqlml's DDL gives the same column;
2. binds every ``@params`` entry as a Python variable of the type SQL Server gives
   it (VARBINARY -> bytes, NVARCHAR -> str, BIT -> bool, INT -> int, FLOAT -> float,
   NULL -> None), OUTPUT parameters included;
3. runs the script in a fresh namespace where ``OutputDataSet`` (or the
   ``@output_data_1_name``) starts as an empty DataFrame;
4. checks what comes back: the output data set against ``WITH RESULT SETS`` (names,
   count, order, types SQL Server can convert, no NULL in a NOT NULL column) and each
   OUTPUT parameter against its declared type.

Anything SQL Server would reject raises ``ContractViolation`` listing every problem.
A Python exception in the script propagates as it is (SQL Server would report it as
error 39004). Adding a contract test for a procedure is a few lines::

    @pytest.mark.tsql_contract
    def test_score_churn(db, profile, trained_churn_model):
        outcome = run_contract(
            "ops.run_score_churn", profile=profile, engine=db,
            input_sql="SELECT * FROM features.churn_features LIMIT 500",
            params={"onnx_artifact": trained_churn_model.onnx, "onnx_sha256": ...},
        )
        assert outcome.output["churn_probability"].between(0, 1).all()

(``profile`` is a fixture of tests/tsql_contract/conftest.py that runs the test
under both runtimes.)
"""

from __future__ import annotations

import contextlib
import io
import json
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa

from sqlml.paths import project_root

from .sqltypes import (
    POSTGRES_TO_MSSQL,
    PROFILES,
    ContractViolation,
    input_frame,
    output_param_problems,
    output_problems,
    param_value,
)
from .tsql import ExternalScriptCall, parse_type, read_calls

_MISSING = object()


@dataclass
class Outcome:
    """What one run of a procedure's @script produced, after the checks passed."""

    procedure: str
    profile: str
    input: pd.DataFrame | None
    output: pd.DataFrame | None
    output_params: dict[str, object] = field(default_factory=dict)
    messages: str = ""  # what the script printed: SQL Server's messages


def procedure_path(name: str) -> Path:
    return project_root() / "procedures" / "mssql" / f"{name}.sql"


def load(name: str, call: int | None = None) -> ExternalScriptCall:
    """The sp_execute_external_script call of procedure ``name`` (e.g. ``ml.score_churn``)."""
    path = procedure_path(name)
    calls = read_calls(path)
    if not calls:
        raise ValueError(f"{path.name} has no sp_execute_external_script call")
    if call is None:
        if len(calls) > 1:
            raise ValueError(f"{path.name} has {len(calls)} external script calls: pass call=N")
        call = 0
    return calls[call]


def postgres_input(engine: sa.Engine, sql: str, params: dict | None = None,
                   types: dict[str, str] | None = None):
    """Run ``sql`` on PostgreSQL; the rows and each column's SQL Server type."""
    overrides = {k: parse_type(v) for k, v in (types or {}).items()}
    with engine.connect() as connection:
        cursor = connection.connection.driver_connection.cursor()
        cursor.execute(sql, params)
        registry = cursor.connection.adapters.types
        columns = []
        for column in cursor.description:
            if column.name in overrides:
                columns.append((column.name, overrides[column.name]))
                continue
            info = registry.get(column.type_code)
            type_name = info.name if info else str(column.type_code)
            if type_name not in POSTGRES_TO_MSSQL:
                raise ValueError(
                    f"input column {column.name!r}: no SQL Server type for PostgreSQL "
                    f"{type_name}; pass types={{{column.name!r}: 'NVARCHAR(MAX)'}}"
                )
            columns.append((column.name, POSTGRES_TO_MSSQL[type_name]))
        rows = cursor.fetchall()
        connection.rollback()
    return columns, rows


def run(call: ExternalScriptCall, *, profile: str, columns=None, rows=None,
        params: dict | None = None) -> Outcome:
    """Run ``call``'s script with input ``rows`` of ``columns`` [(name, SqlType)]."""
    if profile not in PROFILES:
        raise ValueError(f"profile must be one of {PROFILES}")
    params = dict(params or {})
    problems: list[str] = []
    namespace: dict[str, object] = {"__name__": "__main__"}

    frame = None
    if call.has_input:
        if columns is None:
            raise ValueError(f"{call.procedure} reads @input_data_1: give input rows")
        try:
            frame = input_frame(columns, rows, profile)
        except ValueError as exc:
            raise ContractViolation(call.procedure, [str(exc)]) from exc
        namespace[call.input_name] = frame

    declared = {p.name: p for p in call.params}
    for name in params:
        if name not in declared:
            problems.append(f"the test passes {name!r}, which @params does not declare")
    for param in call.params:
        given = params.get(param.name, None if param.output else _MISSING)
        if given is _MISSING:
            problems.append(f"no value for @{param.name} ({param.type})")
            continue
        try:
            namespace[param.name] = param_value(param.name, param.type, given)
        except ValueError as exc:
            problems.append(str(exc))
    if problems:
        raise ContractViolation(call.procedure, problems)

    namespace[call.output_name] = pd.DataFrame()
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        exec(compile(call.script, f"<{call.procedure} @script>", "exec"), namespace)

    output = namespace.get(call.output_name)
    if call.result_sets is None:
        if not call.undefined_result_sets:
            problems.append("the call has no WITH RESULT SETS clause")
    elif call.result_sets == []:
        if not (isinstance(output, pd.DataFrame) and output.shape[1] == 0):
            problems.append(
                f"WITH RESULT SETS NONE, but {call.output_name} holds a result set"
            )
    elif len(call.result_sets) > 1:
        problems.append("WITH RESULT SETS declares more sets than a script can return (one)")
    else:
        problems += output_problems(output, call.result_sets[0], profile)

    output_params = {}
    for param in call.params:
        if param.output:
            value = namespace.get(param.name)
            output_params[param.name] = value
            problems += output_param_problems(param.name, param.type, value)
    if problems:
        raise ContractViolation(call.procedure, problems)
    return Outcome(call.procedure, profile, frame,
                   output if isinstance(output, pd.DataFrame) else None,
                   output_params, printed.getvalue())


def run_contract(name: str, *, profile: str, engine: sa.Engine | None = None,
                 input_sql: str | None = None, input_params: dict | None = None,
                 input_types: dict[str, str] | None = None, params: dict | None = None,
                 call: int | None = None) -> Outcome:
    """Load procedure ``name``, feed it ``input_sql`` run on PostgreSQL, check the result."""
    external = load(name, call)
    columns = rows = None
    if external.has_input:
        if engine is None or input_sql is None:
            raise ValueError(f"{name} reads @input_data_1: give engine= and input_sql=")
        columns, rows = postgres_input(engine, input_sql, input_params, input_types)
    return run(external, profile=profile, columns=columns, rows=rows, params=params)


def kind_spec(engine: sa.Engine, kind: str) -> str:
    """``kind``'s row of models.specs, as the JSON text ml.train_* hands ops.run_train."""
    with engine.connect() as connection:
        spec = connection.execute(sa.text("SELECT spec FROM models.specs WHERE kind = :kind"),
                                  {"kind": kind}).scalar_one()
    return json.dumps(spec)


def train_contract(kind: str, *, engine: sa.Engine, input_sql: str, options: str | None,
                   profile: str = "ml_services", champion: dict | None = None) -> Outcome:
    """One ops.run_train run for ``kind``, as its ml.train_* procedure calls it: the
    kind's spec from models.specs and ``options`` (JSON text; None means the defaults).
    ``champion``: the active version's model_id, version, onnx_artifact, onnx_sha256, as
    the procedure passes them with @activate = 1 (None: no active version)."""
    champion = champion or {}
    return run_contract("ops.run_train", profile=profile, engine=engine, input_sql=input_sql,
                        params={"kind": kind, "spec": kind_spec(engine, kind),
                                "options": options,
                                "champion_id": champion.get("model_id"),
                                "champion_version": champion.get("version"),
                                "champion_onnx": champion.get("onnx_artifact"),
                                "champion_sha256": champion.get("onnx_sha256")})


def trained_fixture(kind: str, data: str, input_sql: str, options: str):
    """A module's fixture ``trained``: the OUTPUT parameters of one ops.run_train run
    for ``kind`` (ML Services profile) on the rows of the module's fixture ``data``;
    its scoring contracts take the blobs from them, as the T-SQL procedures chain them."""

    @pytest.fixture(scope="module")
    def trained(request) -> dict:
        engine = request.getfixturevalue(data)
        return train_contract(kind, engine=engine, input_sql=input_sql,
                              options=options).output_params

    return trained


def assert_trained(outcome: Outcome, trained_rows: int, metrics: set[str]) -> dict:
    """What every ops.run_train run hands back: both blobs, a registration counting
    ``trained_rows`` with (at least) ``metrics``, and epochs in SQL Server's messages.
    Returns the registration."""
    out = outcome.output_params
    registration = json.loads(out["registration"])
    assert out["artifact"][:2] == b"PK" and out["onnx_artifact"][:2] == b"PK"
    assert registration["trained_rows"] == trained_rows
    assert metrics <= set(registration["metrics"])
    epochs = registration["spec"]["options"]["epochs"]
    assert f"epoch 1/{epochs}" in outcome.messages  # progress reaches SQL Server's messages
    return registration


def emptied_after(engine: sa.Engine, table: str):
    """For a module's data fixture (``yield from``): hand over ``engine``, then delete
    every row of ``table``, so that the next module starts from the deployed database."""
    yield engine
    with engine.begin() as connection:
        connection.exec_driver_sql(f"DELETE FROM {table}")
