"""One session of SQL Server's Python language extension, driven as SQL Server's host does.

Run as a script in a process of its own (``python extension_process.py REQUEST RESPONSE``),
because the extension runs scripts in this interpreter's ``__main__`` and keeps static
Python objects until ``Cleanup``. REQUEST is a pickle written by tests/langext/host.py;
RESPONSE gets one back with each API call's return code, the result set as the
extension hands it over (ODBC C type, size, nullability and values per column) and
each OUTPUT parameter. The API and its call order are upstream's
``extension-host/include/sqlexternallanguage.h``; the buffers are what SQL Server binds
for each type (tests/langext/odbc.py).

The extension writes the script's stdout and its own errors on fds 1 and 2 after the
script: the parent reads those as SQL Server's messages.
"""

from __future__ import annotations

import ctypes
import os
import pickle
import sys
import uuid

# tests/, so that the request's bindings unpickle as the parent's langext.odbc.Binding
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# numpy and pandas must be importable before Init: the extension imports them first.
import numpy  # noqa: E402,F401
import pandas  # noqa: E402,F401

from langext import odbc  # noqa: E402

SQL_SUCCESS = 0
SQL_PARAM_INPUT = 1
SQL_PARAM_INPUT_OUTPUT = 2


class SQLGUID(ctypes.Structure):
    _fields_ = [("Data1", ctypes.c_uint32), ("Data2", ctypes.c_uint16),
                ("Data3", ctypes.c_uint16), ("Data4", ctypes.c_uint8 * 8)]


def _declare(lib) -> None:
    u16, s16, ulen, s32 = ctypes.c_uint16, ctypes.c_int16, ctypes.c_uint64, ctypes.c_int32
    p = ctypes.c_void_p
    lib.Init.argtypes = [p, ulen, p, ulen, p, ulen, p, ulen]
    lib.InitSession.argtypes = [SQLGUID, u16, u16, ctypes.c_char_p, ulen, u16, u16,
                                ctypes.c_char_p, u16, ctypes.c_char_p, u16]
    lib.InitColumn.argtypes = [SQLGUID, u16, u16, ctypes.c_char_p, s16, s16, ulen, s16, s16,
                               s16, s16]
    lib.InitParam.argtypes = [SQLGUID, u16, u16, ctypes.c_char_p, s16, s16, ulen, s16, p, s32,
                              s16]
    lib.Execute.argtypes = [SQLGUID, u16, ulen, ctypes.POINTER(p),
                            ctypes.POINTER(ctypes.POINTER(s32)), ctypes.POINTER(u16)]
    lib.GetResultColumn.argtypes = [SQLGUID, u16, u16, ctypes.POINTER(s16),
                                    ctypes.POINTER(ulen), ctypes.POINTER(s16),
                                    ctypes.POINTER(s16)]
    lib.GetResults.argtypes = [SQLGUID, u16, ctypes.POINTER(ulen),
                               ctypes.POINTER(ctypes.POINTER(p)),
                               ctypes.POINTER(ctypes.POINTER(ctypes.POINTER(s32)))]
    lib.GetOutputParam.argtypes = [SQLGUID, u16, u16, ctypes.POINTER(p), ctypes.POINTER(s32)]
    lib.CleanupSession.argtypes = [SQLGUID, u16]
    lib.Cleanup.argtypes = []
    for name in ("Init", "InitSession", "InitColumn", "InitParam", "Execute", "GetResultColumn",
                 "GetResults", "GetOutputParam", "CleanupSession", "Cleanup"):
        getattr(lib, name).restype = ctypes.c_int16


class _Streams:
    """The extension leaves sys.stdout/sys.stderr on its own buffer after a call."""

    def __enter__(self):
        self.saved = sys.stdout, sys.stderr

    def __exit__(self, *exc):
        sys.stdout, sys.stderr = self.saved
        return False


def run(request: dict) -> dict:
    lib = ctypes.PyDLL(request["library"])  # the GIL stays held across calls
    _declare(lib)
    calls: dict[str, int] = {}
    response: dict = {"calls": calls, "columns": [], "rows": 0, "data": [], "params": {}}

    with _Streams():
        calls["Init"] = lib.Init(None, 0, None, 0, None, 0, None, 0)
    if calls["Init"] != SQL_SUCCESS:
        return response
    response["cleanup"] = lib.Cleanup

    guid = uuid.uuid4()
    session = SQLGUID(*guid.fields[:3], (ctypes.c_uint8 * 8)(*guid.bytes[8:]))
    script = request["script"].encode("utf-8")
    columns = request["columns"]  # [(name, odbc.Binding)]
    params = request["params"]  # [(name, odbc.Binding, value, is_output)]
    input_name = request["input_name"].encode()
    output_name = request["output_name"].encode()
    with _Streams():
        calls["InitSession"] = lib.InitSession(
            session, 0, 1, script, len(script), len(columns), len(params),
            input_name, len(input_name), output_name, len(output_name))
    if calls["InitSession"] != SQL_SUCCESS:
        return response

    for number, (name, binding) in enumerate(columns):
        encoded = name.encode("utf-8")
        with _Streams():
            rc = lib.InitColumn(session, 0, number, encoded, len(encoded), binding.c_type,
                                binding.size, binding.digits, 1 if binding.nullable else 0,
                                -1, -1)
        calls[f"InitColumn {name}"] = rc
        if rc != SQL_SUCCESS:
            return response

    keep = []  # buffers must outlive the calls that read them
    for number, (name, binding, value, is_output) in enumerate(params):
        encoded = ("@" + name).encode("utf-8")
        buffer, indicator = odbc.param_buffer(binding, value)
        keep.append(buffer)
        with _Streams():
            rc = lib.InitParam(session, 0, number, encoded, len(encoded), binding.c_type,
                               binding.size, binding.digits,
                               ctypes.cast(buffer, ctypes.c_void_p) if buffer is not None
                               else None, indicator,
                               SQL_PARAM_INPUT_OUTPUT if is_output else SQL_PARAM_INPUT)
        calls[f"InitParam @{name}"] = rc
        if rc != SQL_SUCCESS:
            return response

    rows = request["rows"]
    data = (ctypes.c_void_p * max(len(columns), 1))()
    lengths = (ctypes.POINTER(ctypes.c_int32) * max(len(columns), 1))()
    for number, (_name, binding) in enumerate(columns):
        buffer, indicators = odbc.column_buffer(binding, [row[number] for row in rows])
        keep += [buffer, indicators]
        data[number] = ctypes.cast(buffer, ctypes.c_void_p)
        lengths[number] = ctypes.cast(indicators, ctypes.POINTER(ctypes.c_int32))
    output_columns = ctypes.c_uint16(0)
    with _Streams():
        calls["Execute"] = lib.Execute(session, 0, len(rows), data, lengths,
                                       ctypes.byref(output_columns))
    if calls["Execute"] == SQL_SUCCESS:
        _results(lib, session, output_columns.value, calls, response)
        for number, (name, binding, _value, is_output) in enumerate(params):
            if not is_output:
                continue
            value, indicator = ctypes.c_void_p(), ctypes.c_int32()
            with _Streams():
                rc = lib.GetOutputParam(session, 0, number, ctypes.byref(value),
                                        ctypes.byref(indicator))
            calls[f"GetOutputParam @{name}"] = rc
            if rc == SQL_SUCCESS:
                response["params"][name] = odbc.read_param(binding, value.value, indicator.value)
    with _Streams():
        calls["CleanupSession"] = lib.CleanupSession(session, 0)
    return response


def _results(lib, session, count: int, calls: dict, response: dict) -> None:
    described = []
    for number in range(count):
        c_type, size = ctypes.c_int16(), ctypes.c_uint64()
        digits, nullable = ctypes.c_int16(), ctypes.c_int16()
        with _Streams():
            rc = lib.GetResultColumn(session, 0, number, ctypes.byref(c_type), ctypes.byref(size),
                                     ctypes.byref(digits), ctypes.byref(nullable))
        calls[f"GetResultColumn {number}"] = rc
        if rc != SQL_SUCCESS:
            return
        described.append((c_type.value, size.value, digits.value, nullable.value))
    response["columns"] = described
    rows = ctypes.c_uint64()
    data = ctypes.POINTER(ctypes.c_void_p)()
    indicators = ctypes.POINTER(ctypes.POINTER(ctypes.c_int32))()
    with _Streams():
        calls["GetResults"] = lib.GetResults(session, 0, ctypes.byref(rows), ctypes.byref(data),
                                             ctypes.byref(indicators))
    if calls["GetResults"] != SQL_SUCCESS:
        return
    response["rows"] = rows.value
    response["data"] = [
        odbc.read_column(c_type, data[number], indicators[number], rows.value)
        for number, (c_type, _size, _digits, _nullable) in enumerate(described)
    ]


def main() -> None:
    request_path, response_path = sys.argv[1:3]
    with open(request_path, "rb") as handle:
        request = pickle.load(handle)  # written by our own parent process
    sys.path[:0] = request.get("sys_path", [])
    response = run(request)
    cleanup = response.pop("cleanup", None)
    with open(response_path, "wb") as handle:
        pickle.dump(response, handle)
    if cleanup is not None:
        with _Streams():
            cleanup()
    sys.stdout.flush()
    sys.stderr.flush()
    # The extension's static Python objects outlive Cleanup; at interpreter
    # finalisation they abort the process (SIGABRT) whether or not Cleanup ran, with
    # this pyenv build as with Debian's. The session is over and its response written,
    # so leave without finalising (SQL Server's satellite is a process of its own too).
    os._exit(0)


if __name__ == "__main__":
    main()
