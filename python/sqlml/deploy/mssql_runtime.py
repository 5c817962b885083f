"""The in-database Python of a SQL Server: sqlml and its dependencies, installed by deploy.

Which Python: sqlml's runtime pins need Python 3.11 or later (numpy 2.4, pandas 3,
onnxruntime 1.32). Machine Learning Services' own Python is 3.7 (SQL Server 2019)
or 3.10 with revoscalepy and numpy 1.x (SQL Server 2022), so sqlml runs on SQL
Server 2019 CU3+ / 2022 through the open-source Python *language extension* built
for a Python 3.11+ the DBA installs (docker/mssql builds one for 3.12), registered
in the database as external language ``sqlml_python``; ``Python`` is a name SQL
Server reserves for ML Services and cannot be given to an extension.

``install`` (called by ``sqlml deploy`` for mssql+pyodbc URLs) does, idempotently:

1. external scripts: runs sql/mssql/10_external_scripts.sql, which enables them or
   fails saying who must;
2. the language: ``sqlml_python`` must exist in the database; where
   ``SQLML_MSSQL_LANGUAGE_ZIP`` names the extension's zip *on the server* (the
   compose image has /opt/sqlml/python-lang-extension.zip) deploy registers it,
   otherwise the error gives the CREATE EXTERNAL LANGUAGE statement;
3. a probe: a few lines of Python run in the server report its Python version,
   platform and installed distributions;
4. dependencies: every pin of requirements-runtime.txt that the server's Python
   does not already have, with what pip resolves for it, is downloaded as wheels
   for the *server's* Python and platform and installed with CREATE EXTERNAL
   LIBRARY (the way sqlmlutils does). numpy and pandas are the exception: the
   language extension imports them before any library is on sys.path, so they
   must be the pinned versions in the server's own Python;
5. sqlml itself, as external library ``sqlml`` (a wheel built from this package),
   replaced only when its bytes changed;
6. a second probe checks that the server imports this sqlml and the pinned versions.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.exc import DBAPIError

from sqlml.deploy import objects, wheels
from sqlml.errors import EngineError
from sqlml.paths import project_root

LANGUAGE = "sqlml_python"
LANGUAGE_ZIP_ENV = "SQLML_MSSQL_LANGUAGE_ZIP"
# PYTHONHOME of the language's Python, on the server: given to the language itself
# (ENVIRONMENT_VARIABLES), so that Launchpad's process environment, which may hold
# secrets, need not carry it.
PYTHONHOME_ENV = "SQLML_MSSQL_PYTHONHOME"
EXTENSION_FILES = {"Linux": "libPythonExtension.so.1.2", "Windows": "pythonextension.dll"}
MIN_PYTHON = (3, 11)
# Imported by the language extension itself when it starts, before any external
# library is on sys.path: only the server's own Python can provide them.
BASE_PACKAGES = ("numpy", "pandas")


class ExternalScriptsDisabledError(EngineError):
    """The instance does not run sp_execute_external_script."""


class NoPythonRuntimeError(EngineError):
    """The database has no usable Python for sqlml (no language, or an unfit Python)."""


PROBE = """
import json, platform, sys, sysconfig
from importlib import metadata
import numpy, pandas
found = {}
for dist in metadata.distributions():
    name = dist.metadata["Name"]
    if name:
        found.setdefault(name, dist.version)  # the first on sys.path is the one imported
info = {
    "python": platform.python_version(), "platform": sysconfig.get_platform(),
    "libc": list(platform.libc_ver()), "distributions": found,
    "imported": {"numpy": numpy.__version__, "pandas": pandas.__version__},
}
try:
    import sqlml
    info["sqlml"] = sqlml.__version__
    info["sqlml_file"] = sqlml.__file__
except Exception as exc:
    info["sqlml_error"] = repr(exc)
OutputDataSet = pandas.DataFrame({"info": pandas.Series([json.dumps(info)], dtype=object)})
"""

PROBE_CALL = (
    "EXEC sp_execute_external_script @language = ?, @script = ? "
    "WITH RESULT SETS ((info NVARCHAR(MAX)))"
)


@dataclass
class Probe:
    """What the server's Python reported about itself."""

    python: str
    platform: str
    libc: list[str]
    distributions: dict[str, str]  # canonical name -> version
    imported: dict[str, str]
    sqlml: str | None = None
    sqlml_file: str | None = None
    sqlml_error: str | None = None

    @classmethod
    def from_json(cls, text: str) -> Probe:
        data = json.loads(text)
        data["distributions"] = {
            wheels.canonical(k): v for k, v in data["distributions"].items()
        }
        return cls(**data)


def check_python(probe: Probe, server: str) -> None:
    version = tuple(int(part) for part in probe.python.split(".")[:2])
    if version < MIN_PYTHON:
        raise NoPythonRuntimeError(
            f"{server}: language {LANGUAGE} runs Python {probe.python}, but sqlml's runtime "
            f"needs {MIN_PYTHON[0]}.{MIN_PYTHON[1]}+ (numpy 2.4, pandas 3): register a "
            "Python language extension built for Python 3.11 or later (README, 'SQL Server')"
        )


def missing_pins(probe: Probe, wanted: dict[str, str]) -> dict[str, str]:
    """Pins the server's Python does not have at exactly the pinned version."""
    return {name: version for name, version in wanted.items()
            if probe.distributions.get(name) != version}


def base_mismatches(probe: Probe, wanted: dict[str, str]) -> dict[str, tuple[str, str]]:
    """BASE_PACKAGES whose imported version is not the pinned one: (have, want)."""
    return {name: (probe.imported.get(name), wanted[name]) for name in BASE_PACKAGES
            if name in wanted and probe.imported.get(name) != wanted[name]}


def to_upload(probe: Probe, downloaded: list[wheels.Wheel]) -> list[wheels.Wheel]:
    """The downloaded wheels the server's Python lacks at that version, BASE_PACKAGES aside."""
    return [wheel for wheel in downloaded
            if wheel.name not in BASE_PACKAGES
            and probe.distributions.get(wheel.name) != wheel.version]


def explain(error: DBAPIError, server: str) -> EngineError:
    """A SQL Server error from running external Python, as what to do about it."""
    text = str(error.orig)
    if "39023" in text or "is disabled on this instance" in text:
        return ExternalScriptsDisabledError(
            f"{server}: external scripts are disabled: a sysadmin runs EXEC sp_configure "
            "'external scripts enabled', 1; RECONFIGURE WITH OVERRIDE;"
        )
    if "39011" in text or "LaunchPad" in text or "Launchpad" in text:
        return NoPythonRuntimeError(
            f"{server}: SQL Server cannot reach its Launchpad service, which starts external "
            "Python: start 'SQL Server Launchpad' (Windows) or mssql-launchpadd (Linux)"
        )
    if "39021" in text or "Unable to launch runtime" in text:
        return NoPythonRuntimeError(
            f"{server}: language {LANGUAGE} is registered but its Python does not start "
            "(PYTHONHOME for Launchpad, libpython on the loader path, numpy and pandas "
            f"installed in that Python): {text}"
        )
    return EngineError(f"{server}: running Python in the server failed: {text}")


class Server:
    """The few things install() asks of a SQL Server, over one autocommit connection."""

    def __init__(self, connection: sa.Connection, name: str):
        self.connection, self.name = connection, name

    def run_setup_script(self, path: Path) -> None:
        self.connection.exec_driver_sql(path.read_text(encoding="utf-8"),
                                        execution_options={"no_parameters": True})

    def host_platform(self) -> str:
        return self.connection.exec_driver_sql(
            "SELECT host_platform FROM sys.dm_os_host_info"
        ).scalar_one()

    def language_exists(self) -> bool:
        return self.connection.exec_driver_sql(
            "SELECT COUNT(*) FROM sys.external_languages WHERE language = ?", (LANGUAGE,)
        ).scalar_one() > 0

    def create_language(self, zip_path: str, file_name: str) -> None:
        self.connection.exec_driver_sql(
            create_language_sql(zip_path, file_name, os.environ.get(PYTHONHOME_ENV)),
            execution_options={"no_parameters": True})

    def probe(self) -> Probe:
        try:
            text = self.connection.exec_driver_sql(PROBE_CALL, (LANGUAGE, PROBE)).scalar_one()
        except DBAPIError as exc:
            raise explain(exc, self.name) from exc
        return Probe.from_json(text)

    def library_content(self, name: str) -> bytes | None:
        row = self.connection.exec_driver_sql(
            "SELECT f.content FROM sys.external_libraries AS l "
            "INNER JOIN sys.external_library_files AS f "
            "ON l.external_library_id = f.external_library_id "
            "WHERE l.name = ? AND l.principal_id = DATABASE_PRINCIPAL_ID(N'dbo')", (name,)
        ).first()
        return bytes(row[0]) if row else None

    def put_library(self, name: str, content: bytes, replace: bool) -> None:
        self.connection.exec_driver_sql(library_sql(name, replace), (content,))

    def setup_errors(self) -> list[str]:
        try:
            rows = self.connection.exec_driver_sql(
                "SELECT l.name, e.error_message FROM sys.external_library_setup_errors AS e "
                "INNER JOIN sys.external_libraries AS l "
                "ON e.external_library_id = l.external_library_id"
            ).all()
        except DBAPIError:
            return []
        return [f"{name}: {message}" for name, message in rows]


def _quote_literal(text: str) -> str:
    return "N'" + text.replace("'", "''") + "'"


def _quote_name(name: str) -> str:
    return "[" + name.replace("]", "]]") + "]"


def create_language_sql(zip_path: str, file_name: str, python_home: str | None = None) -> str:
    environment = ""
    if python_home:
        environment = (", ENVIRONMENT_VARIABLES = "
                       + _quote_literal(json.dumps({"PYTHONHOME": python_home})))
    return (
        f"CREATE EXTERNAL LANGUAGE {_quote_name(LANGUAGE)} "
        f"FROM (CONTENT = {_quote_literal(zip_path)}, FILE_NAME = {_quote_literal(file_name)}"
        f"{environment})"
    )


def library_sql(name: str, replace: bool) -> str:
    """CREATE (or ALTER) EXTERNAL LIBRARY taking its bytes from the one parameter.

    Owned by dbo: dbo's libraries are the database's public ones, on every
    caller's sys.path.
    """
    verb = (f"ALTER EXTERNAL LIBRARY {_quote_name(name)} SET" if replace else
            f"CREATE EXTERNAL LIBRARY {_quote_name(name)} AUTHORIZATION [dbo] FROM")
    return (
        "DECLARE @content VARBINARY(MAX) = ?; "
        f"{verb} (CONTENT = @content) WITH (LANGUAGE = {_quote_literal(LANGUAGE)});"
    )


def ensure_language(server: Server, log, zip_path: str | None) -> None:
    if server.language_exists():
        log(f"runtime: external language {LANGUAGE} is registered")
        return
    if not zip_path:
        raise NoPythonRuntimeError(
            f"{server.name}: this database has no external language {LANGUAGE}, which runs "
            "sqlml's Python. Register the Python language extension built for the server's "
            "Python 3.11+ once per database: CREATE EXTERNAL LANGUAGE [sqlml_python] FROM "
            "(CONTENT = N'/path/on/server/python-lang-extension.zip', FILE_NAME = "
            f"'{EXTENSION_FILES['Linux']}'); or set {LANGUAGE_ZIP_ENV} to that zip's path on "
            "the server and deploy again (README, 'SQL Server')"
        )
    platform = server.host_platform()
    file_name = EXTENSION_FILES.get(platform, EXTENSION_FILES["Linux"])
    log(f"runtime: registering external language {LANGUAGE} from {zip_path} ({file_name})")
    server.create_language(zip_path, file_name)


def install_libraries(server: Server, probe: Probe, log, download=wheels.download) -> None:
    """Steps 4 and 5 of the module docstring."""
    wanted = wheels.pins()
    base = base_mismatches(probe, wanted)
    if base:
        listed = ", ".join(f"{n} {have} (pinned {want})" for n, (have, want) in base.items())
        raise NoPythonRuntimeError(
            f"{server.name}: the server's Python has {listed}; the language extension imports "
            "numpy and pandas from that Python itself, before any library, so install them "
            "there: python -m pip install " + " ".join(f"{n}=={w}" for n, (_, w) in base.items())
        )
    if missing_pins(probe, wanted):
        tags = wheels.platform_tags(probe.platform, probe.libc)
        with tempfile.TemporaryDirectory(prefix="sqlml-wheels-") as folder:
            for wheel in to_upload(probe, download(probe.python, tags, Path(folder), log)):
                content = wheels.library_content(wheel.path.name, wheel.path.read_bytes())
                log(f"runtime: library {wheel.name} {wheel.version} "
                    f"({len(content) / 1e6:.1f} MB)")
                server.put_library(wheel.name, content,
                                   replace=server.library_content(wheel.name) is not None)
    name, wheel = wheels.sqlml_wheel()
    content = wheels.library_content(name, wheel)
    current = server.library_content("sqlml")
    if current == content:
        log("runtime: library sqlml is current")
    else:
        log(f"runtime: library sqlml {'replaced' if current else 'created'} ({name})")
        server.put_library("sqlml", content, replace=current is not None)


def verify(server: Server, probe: Probe) -> None:
    """Step 6: this sqlml and every pin import in the server."""
    import sqlml

    problems = []
    if probe.sqlml != sqlml.__version__:
        problems.append(f"sqlml {probe.sqlml or 'not importable'}"
                        + (f" ({probe.sqlml_error})" if probe.sqlml_error else ""))
    for name, version in wheels.pins().items():
        have = probe.imported.get(name) or probe.distributions.get(name)
        if have != version:
            problems.append(f"{name} {have or 'missing'} (pinned {version})")
    if problems:
        errors = server.setup_errors()
        raise NoPythonRuntimeError(
            f"{server.name}: after deploy the server's Python has " + "; ".join(problems)
            + (". Library setup errors: " + "; ".join(errors) if errors else "")
        )


def install(engine: sa.Engine, runtime_path: str | None, log=print) -> Probe:
    """Give the database of ``engine`` the Python runtime sqlml's procedures run."""
    name = engine.url.render_as_string(hide_password=True)
    if runtime_path:
        raise EngineError(
            "--runtime-path is for PostgreSQL: on SQL Server, deploy installs sqlml and its "
            "packages as external libraries of the database"
        )
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        server = Server(connection, name)
        try:
            server.run_setup_script(_setup_script("10_external_scripts.sql"))
        except DBAPIError as exc:  # the script's own message says who must do what
            raise ExternalScriptsDisabledError(f"{name}: {exc.orig}") from exc
        ensure_language(server, log, os.environ.get(LANGUAGE_ZIP_ENV))
        probe = server.probe()
        check_python(probe, name)
        log(f"runtime: Python {probe.python} ({probe.platform}) in language {LANGUAGE}")
        install_libraries(server, probe, log)
        probe = server.probe()
        verify(server, probe)
        log(f"runtime: sqlml {probe.sqlml} imports in the server from {probe.sqlml_file}")
        return probe


def _setup_script(name: str) -> Path:
    (path,) = [p for p in objects.setup_scripts(project_root(), "mssql") if p.name == name]
    return path
