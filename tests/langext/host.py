"""A test host for SQL Server's Python language extension: SQL Server's part, played here.

``LanguageExtension.run(call, ...)`` runs one procedure's ``sp_execute_external_script``
(read by tests/tsql_contract/tsql.py) through the prebuilt ``libPythonExtension.so``
(``../shared/langext/``), in a process of its own (extension_process.py), and hands back
what SQL Server would get: each API call's return code, the result set as the
extension describes it (ODBC C type, size, nullability) with its values, the OUTPUT
parameters, and the messages (stdout) and errors (stderr) it wrote.
``problems(call, result)`` then holds that result to what the procedure declares:
``WITH RESULT SETS`` (count, order, a C type SQL Server converts to the declared type,
lengths, no NULL in a NOT NULL column) and each OUTPUT parameter's type.
"""

from __future__ import annotations

import glob
import os
import pickle
import subprocess
import sys
import tarfile
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from sqlml.paths import project_root

from . import odbc

PROCESS = Path(__file__).with_name("extension_process.py")
LIBRARY = "libPythonExtension.so.1.2"


class Unavailable(RuntimeError):
    """No prebuilt extension, or one this machine cannot load."""


def find_dist() -> Path:
    """The prebuilt tarball: SQLML_LANGEXT_DIST, else ../shared/langext/*.tar.gz."""
    configured = os.environ.get("SQLML_LANGEXT_DIST")
    pattern = configured or str(project_root().parent / "shared" / "langext" / "*.tar.gz")
    matches = sorted(glob.glob(pattern))
    if not matches:
        raise Unavailable(f"no prebuilt Python language extension at {pattern} "
                          "(set SQLML_LANGEXT_DIST)")
    return Path(matches[-1])


def unpack(dist: Path, into: Path) -> Path:
    with tarfile.open(dist) as archive:
        member = next((m for m in archive.getmembers() if m.name.endswith(LIBRARY)), None)
        if member is None:
            raise Unavailable(f"{dist} holds no {LIBRARY}")
        archive.extract(member, into, filter="data")
    return into / member.name


@dataclass
class Result:
    """What one session of the extension gave SQL Server."""

    calls: dict[str, int]
    columns: list[tuple[int, int, int, int]]  # (C type, size, digits, nullable) per column
    data: list[list]  # values per column, None for NULL
    rows: int
    params: dict[str, object] = field(default_factory=dict)
    messages: str = ""
    errors: str = ""

    @property
    def failed_call(self) -> str | None:
        """The first API call that returned an error, if any."""
        return next((name for name, rc in self.calls.items() if rc != 0), None)

    @property
    def c_types(self) -> list[str]:
        return [odbc.C_TYPE_NAMES.get(c, str(c)) for c, *_ in self.columns]

    def column(self, index: int) -> list:
        return self.data[index]

    def records(self) -> list[tuple]:
        return list(zip(*self.data, strict=True)) if self.data else []


class LanguageExtension:
    """The prebuilt library, driven one session per process."""

    def __init__(self, library: Path, timeout: float = 900):
        self.library = library
        self.timeout = timeout

    def run_script(self, script: str, *, columns=(), rows=(), params=(),
                   input_name: str = "InputDataSet",
                   output_name: str = "OutputDataSet") -> Result:
        """``columns``: [(name, T-SQL type[, nullable])]; ``params``: [(name, T-SQL type,
        value, is_output)]. Raises odbc.NotSent for a type SQL Server never sends."""
        bound = [(c[0], odbc.binding(c[1], c[2] if len(c) > 2 else True)) for c in columns]
        bound_params = [(name, odbc.binding(sql_type), value, output)
                        for name, sql_type, value, output in params]
        request = {"library": str(self.library), "script": script, "columns": bound,
                   "rows": [tuple(row) for row in rows], "params": bound_params,
                   "input_name": input_name, "output_name": output_name}
        with tempfile.TemporaryDirectory(prefix="langext-") as work:
            request_path, response_path = Path(work, "request"), Path(work, "response")
            request_path.write_bytes(pickle.dumps(request))
            done = subprocess.run([sys.executable, str(PROCESS), str(request_path),
                                   str(response_path)], capture_output=True,
                                  timeout=self.timeout, cwd=work)
            if not response_path.exists():
                raise RuntimeError(f"the extension's process ended with {done.returncode} "
                                   f"and no response: {done.stderr.decode(errors='replace')}")
            response = pickle.loads(response_path.read_bytes())
            if done.returncode != 0:  # e.g. 134: Cleanup not called before exit
                response["calls"]["process exit"] = done.returncode
        return Result(response["calls"], response["columns"], response["data"],
                      response["rows"], response["params"],
                      done.stdout.decode("utf-8", errors="replace"),
                      done.stderr.decode("utf-8", errors="replace"))

    def run(self, call, *, columns=(), rows=(), params: dict | None = None) -> Result:
        """Run a procedure's sp_execute_external_script ``call`` (tsql.ExternalScriptCall)
        with ``params`` by name (OUTPUT ones may be left out: they start as NULL)."""
        params = dict(params or {})
        unknown = set(params) - {p.name for p in call.params}
        if unknown:
            raise ValueError(f"{call.procedure}: @params declares no {sorted(unknown)}")
        bound = [(p.name, str(p.type), params.get(p.name), p.output) for p in call.params]
        return self.run_script(call.script, columns=columns if call.has_input else (),
                               rows=rows if call.has_input else (), params=bound,
                               input_name=call.input_name, output_name=call.output_name)


# What SQL Server converts into a declared result column, per family of T-SQL type.
_INTEGER = {odbc.SQL_C_BIT, odbc.SQL_C_UTINYINT, odbc.SQL_C_SSHORT, odbc.SQL_C_SLONG,
            odbc.SQL_C_SBIGINT}
_NUMBER = _INTEGER | {odbc.SQL_C_FLOAT, odbc.SQL_C_DOUBLE}
_TEXT = {odbc.SQL_C_CHAR, odbc.SQL_C_WCHAR}
_ACCEPTS = {
    "BIT": _INTEGER, "TINYINT": _NUMBER, "SMALLINT": _NUMBER, "INT": _NUMBER, "BIGINT": _NUMBER,
    "FLOAT": _NUMBER, "REAL": _NUMBER,
    "CHAR": _TEXT, "VARCHAR": _TEXT, "NCHAR": _TEXT, "NVARCHAR": _TEXT,
    "BINARY": {odbc.SQL_C_BINARY}, "VARBINARY": {odbc.SQL_C_BINARY},
    "DATE": {odbc.SQL_C_TYPE_DATE, odbc.SQL_C_TYPE_TIMESTAMP},
    "DATETIME": {odbc.SQL_C_TYPE_DATE, odbc.SQL_C_TYPE_TIMESTAMP},
    "DATETIME2": {odbc.SQL_C_TYPE_DATE, odbc.SQL_C_TYPE_TIMESTAMP},
}


def _value_problem(column, value) -> str | None:
    name = column.type.name
    if name in ("TINYINT", "SMALLINT", "INT", "BIGINT") and isinstance(value, float):
        if not value.is_integer():
            return f"{value!r} is not a whole number ({column.type})"
    if name in ("CHAR", "VARCHAR", "NCHAR", "NVARCHAR", "BINARY", "VARBINARY"):
        limit = column.type.length
        if limit is not None and len(value) > limit:
            return f"{value[:20]!r}... is longer than {column.type} (Msg 8152)"
    return None


def problems(call, result: Result) -> list[str]:
    """Everything SQL Server would refuse in ``result`` for ``call``'s declarations."""
    found: list[str] = []
    if result.failed_call:
        return [f"{result.failed_call} returned {result.calls[result.failed_call]}: "
                f"{result.errors.strip()[-400:]}"]
    if call.result_sets == [] and result.columns:
        found.append(f"WITH RESULT SETS NONE, but the script returned {len(result.columns)} "
                     "columns")
    elif call.result_sets:
        declared = call.result_sets[0]
        if len(declared) != len(result.columns):
            found.append(f"WITH RESULT SETS declares {len(declared)} columns; the script "
                         f"returned {len(result.columns)} ({', '.join(result.c_types)})")
        for index, (column, (c_type, _size, _digits, _nullable)) in enumerate(
                zip(declared, result.columns, strict=False)):
            accepts = _ACCEPTS.get(column.type.name, set())
            if c_type not in accepts:
                found.append(f"column {index + 1} {column.name} {column.type}: the script "
                             f"returned {odbc.C_TYPE_NAMES.get(c_type, c_type)}")
                continue
            values = result.data[index]
            if not column.nullable and any(v is None for v in values):
                found.append(f"column {index + 1} {column.name} is NOT NULL; the script "
                             f"returned {sum(v is None for v in values)} NULLs")
            for value in values:
                problem = value is not None and _value_problem(column, value)
                if problem:
                    found.append(f"column {index + 1} {column.name}: {problem}")
                    break
    for param in call.params:
        if not param.output or param.name not in result.params:
            continue
        value = result.params[param.name]
        if value is not None:
            column = type("P", (), {"type": param.type, "name": param.name})
            problem = _value_problem(column, value)
            if problem:
                found.append(f"@{param.name}: {problem}")
    return found
