"""The SQL Server runtime install, held without a SQL Server.

What runs for real here: the sqlml wheel is built and installed with pip the way
the Python language extension installs an external library, and the probe script
runs under the contract harness. The orchestration (which libraries get uploaded,
when numpy/pandas must come from the DBA) is checked against a stand-in server:
that checks the decisions only, not that SQL Server accepts the statements, which
only tests/test_mssql_live.py can.
"""

from __future__ import annotations

import io
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import sqlfluff
from sqlalchemy.exc import DBAPIError

import sqlml
from sqlml.deploy import mssql_runtime, wheels
from sqlml.deploy.mssql_runtime import Probe
from sqlml.errors import SqlmlError
from tsql_contract import harness
from tsql_contract.tsql import read_calls_text

pytestmark = pytest.mark.unit


def install_like_the_extension(content: bytes, tmp_path: Path) -> Path:
    """PythonLibrarySession::InstallLibrary: unzip, take the .whl inside, pip --no-deps -t."""
    extracted, target = tmp_path / "extracted", tmp_path / "library"
    (tmp_path / "content.zip").write_bytes(content)
    with zipfile.ZipFile(tmp_path / "content.zip") as archive:
        archive.extractall(extracted)
    (wheel,) = [p for p in extracted.iterdir() if p.suffix in (".whl", ".zip", ".gz")]
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-index",
         "--ignore-installed", "--no-cache-dir", "-t", str(target), str(wheel)],
        check=True,
    )
    return target


def test_sqlml_library_installs_and_imports_the_way_the_extension_does(tmp_path):
    name, wheel = wheels.sqlml_wheel()
    target = install_like_the_extension(wheels.library_content(name, wheel), tmp_path)
    out = subprocess.run(
        [sys.executable, "-I", "-c",
         f"import sys; sys.path.insert(0, {str(target)!r}); import sqlml, sqlml.adapters.mssql;"
         " print(sqlml.__version__, sqlml.__file__)"],
        capture_output=True, text=True, check=True,
    ).stdout.split()
    assert out[0] == sqlml.__version__ and out[1].startswith(str(target))
    assert (target / "sqlml" / "requirements-runtime.txt").is_file()
    with zipfile.ZipFile(io.BytesIO(wheel)) as archive:
        assert not [n for n in archive.namelist() if n.endswith(".pyc")]


def test_sqlml_library_is_byte_identical_for_identical_files():
    # install_libraries skips ALTER EXTERNAL LIBRARY when the bytes match.
    first, second = wheels.sqlml_wheel(), wheels.sqlml_wheel()
    assert first == second
    assert wheels.library_content(*first) == wheels.library_content(*second)


def test_pins_are_the_runtime_requirements():
    pinned = wheels.pins()
    assert pinned["numpy"] and pinned["pandas"] and pinned["scikit-learn"]
    assert all(version[0].isdigit() for version in pinned.values())


def test_an_unpinned_requirement_is_refused(tmp_path):
    (tmp_path / "r.txt").write_text("numpy==2.4.6\npandas>=3\n")
    with pytest.raises(SqlmlError, match="not pinned"):
        wheels.pins(tmp_path / "r.txt")


@pytest.mark.parametrize(
    ("file_name", "name", "version"),
    [
        ("scikit_learn-1.9.1-cp312-cp312-manylinux_2_17_x86_64.manylinux2014_x86_64.whl",
         "scikit-learn", "1.9.1"),
        ("six-1.17.0-py2.py3-none-any.whl", "six", "1.17.0"),
        ("tf_keras-2.1.0-1-py3-none-any.whl", "tf-keras", "2.1.0"),
    ],
)
def test_wheel_names(file_name, name, version):
    wheel = wheels.parse_wheel(Path(file_name))
    assert (wheel.name, wheel.version) == (name, version)


def test_platform_tags_follow_the_server_glibc():
    tags = wheels.platform_tags("linux-x86_64", ["glibc", "2.35"])
    assert tags[0] == "manylinux_2_35_x86_64" and "manylinux_2_17_x86_64" in tags
    assert "manylinux2014_x86_64" in tags and "manylinux_2_36_x86_64" not in tags
    assert wheels.platform_tags("win-amd64", ["", ""]) == ["win_amd64"]
    with pytest.raises(SqlmlError, match="glibc"):
        wheels.platform_tags("linux-x86_64", ["musl", "1.2"])


def test_download_asks_pip_for_the_servers_python_not_ours(tmp_path):
    command = wheels.download_command("3.12.11", ["manylinux_2_35_x86_64"], tmp_path)
    joined = " ".join(command)
    assert "--python-version 3.12" in joined and "--abi cp312" in joined
    assert "--only-binary=:all:" in command and "--platform manylinux_2_35_x86_64" in joined
    assert command[-1].endswith("requirements-runtime.txt")


def probe(**overrides) -> Probe:
    pinned = wheels.pins()
    data = {
        "python": "3.12.11", "platform": "linux-x86_64", "libc": ["glibc", "2.35"],
        "distributions": dict(pinned),
        "imported": {"numpy": pinned["numpy"], "pandas": pinned["pandas"]},
        "sqlml": sqlml.__version__, "sqlml_file": "/var/opt/mssql/lib/sqlml/__init__.py",
    }
    data.update(overrides)
    return Probe(**data)


def test_the_probe_script_runs_and_returns_what_sql_server_takes():
    (call,) = read_calls_text(
        "EXEC sp_execute_external_script @language = N'sqlml_python', @script = N'"
        + mssql_runtime.PROBE.replace("'", "''")
        + "' WITH RESULT SETS ((info NVARCHAR(MAX)));",
        "probe.sql",
    )
    for profile in ("ml_services", "language_extension"):
        outcome = harness.run(call, profile=profile)
        found = Probe.from_json(outcome.output["info"][0])
        assert found.python.startswith("3.") and found.sqlml == sqlml.__version__
        assert found.distributions["numpy"] == found.imported["numpy"]
        assert "scikit-learn" in found.distributions  # names are canonical


def test_the_probe_call_parses_as_tsql():
    sql = mssql_runtime.PROBE_CALL.replace("?", "N'x'", 2)
    sqlfluff.parse(sql, dialect="tsql")


def test_an_old_python_is_refused_with_what_to_do():
    with pytest.raises(mssql_runtime.NoPythonRuntimeError, match="3.11"):
        mssql_runtime.check_python(probe(python="3.10.12"), "srv")
    mssql_runtime.check_python(probe(), "srv")


def test_numpy_and_pandas_must_come_from_the_servers_own_python():
    stale = probe(imported={"numpy": "1.26.4", "pandas": wheels.pins()["pandas"]})
    assert mssql_runtime.base_mismatches(stale, wheels.pins()) == {
        "numpy": ("1.26.4", wheels.pins()["numpy"])
    }


def test_only_wheels_the_server_lacks_are_uploaded(tmp_path):
    have = dict(wheels.pins(), onnx="1.0.0")
    downloaded = [
        wheels.Wheel(tmp_path / "a.whl", "onnx", wheels.pins()["onnx"]),
        wheels.Wheel(tmp_path / "b.whl", "numpy", "9.9.9"),  # base: never uploaded
        wheels.Wheel(tmp_path / "c.whl", "keras", wheels.pins()["keras"]),
    ]
    upload = mssql_runtime.to_upload(probe(distributions=have), downloaded)
    assert [w.name for w in upload] == ["onnx"]
    assert mssql_runtime.missing_pins(probe(distributions=have), wheels.pins()) == {
        "onnx": wheels.pins()["onnx"]
    }


class StandIn:
    """Records what install_libraries asks of a server; no SQL is run."""

    def __init__(self):
        self.name = "stand-in"
        self.libraries: dict[str, bytes] = {}
        self.calls: list[tuple[str, bool]] = []

    def library_content(self, name):
        return self.libraries.get(name)

    def put_library(self, name, content, replace):
        self.calls.append((name, replace))
        self.libraries[name] = content


def test_install_libraries_uploads_missing_pins_then_sqlml_once(tmp_path):
    server = StandIn()
    missing = probe(distributions={k: v for k, v in wheels.pins().items() if k != "onnx"})

    def download(python, tags, folder, log):
        assert python == "3.12.11" and tags[0] == "manylinux_2_35_x86_64"
        path = folder / f"onnx-{wheels.pins()['onnx']}-cp312-cp312-manylinux_2_17_x86_64.whl"
        path.write_bytes(b"not a real wheel")
        return [wheels.parse_wheel(path)]

    mssql_runtime.install_libraries(server, missing, lambda m: None, download=download)
    assert server.calls == [("onnx", False), ("sqlml", False)]
    mssql_runtime.install_libraries(server, probe(), lambda m: None, download=download)
    assert server.calls[2:] == []  # nothing missing, sqlml unchanged: nothing re-sent


def test_install_libraries_stops_before_downloading_for_a_stale_numpy():
    def download(*args):
        raise AssertionError("must not download")

    stale = probe(imported={"numpy": "1.26.4", "pandas": wheels.pins()["pandas"]})
    with pytest.raises(mssql_runtime.NoPythonRuntimeError, match="numpy==") as caught:
        mssql_runtime.install_libraries(StandIn(), stale, lambda m: None, download=download)
    assert "pip install" in str(caught.value)


def test_verify_names_each_mismatch():
    server = StandIn()
    server.setup_errors = lambda: ["onnx: pip failed"]
    bad = probe(sqlml=None, sqlml_error="ModuleNotFoundError('sqlml')",
                distributions=dict(wheels.pins(), onnx="1.0.0"))
    with pytest.raises(mssql_runtime.NoPythonRuntimeError) as caught:
        mssql_runtime.verify(server, bad)
    text = str(caught.value)
    assert "sqlml not importable" in text and "onnx 1.0.0" in text and "pip failed" in text


class _OdbcError(Exception):
    pass


@pytest.mark.parametrize(
    ("message", "kind", "hint"),
    [
        ("[42000] 'sp_execute_external_script' is disabled on this instance of SQL Server. "
         "Use sp_configure 'external scripts enabled' to enable it. (39023)",
         mssql_runtime.ExternalScriptsDisabledError, "sp_configure"),
        ("[HY000] SQL Server was unable to communicate with the LaunchPad service (39011)",
         mssql_runtime.NoPythonRuntimeError, "mssql-launchpadd"),
        ("[HY000] Unable to launch runtime for 'sqlml_python' script (39021)",
         mssql_runtime.NoPythonRuntimeError, "PYTHONHOME"),
    ],
)
def test_sql_server_errors_say_what_to_do(message, kind, hint):
    error = mssql_runtime.explain(DBAPIError("EXEC ...", None, _OdbcError(message)), "srv")
    assert isinstance(error, kind) and hint in str(error)


def test_statements_quote_what_they_embed():
    sql = mssql_runtime.create_language_sql("/opt/it's/ext.zip", "libPythonExtension.so.1.2")
    assert "CREATE EXTERNAL LANGUAGE [sqlml_python]" in sql and "N'/opt/it''s/ext.zip'" in sql
    create = mssql_runtime.library_sql("scikit-learn", replace=False)
    assert create.startswith("DECLARE @content VARBINARY(MAX) = ?;")
    assert "CREATE EXTERNAL LIBRARY [scikit-learn] AUTHORIZATION [dbo] FROM" in create
    assert "WITH (LANGUAGE = N'sqlml_python')" in create
    assert "ALTER EXTERNAL LIBRARY [odd]]name] SET" in mssql_runtime.library_sql("odd]name", True)


def test_the_language_is_registered_only_with_a_known_extension_zip():
    class Catalog(StandIn):
        def language_exists(self):
            return False

    with pytest.raises(mssql_runtime.NoPythonRuntimeError, match="CREATE EXTERNAL LANGUAGE"):
        mssql_runtime.ensure_language(Catalog(), lambda m: None, None)
