"""A private Babelfish for PostgreSQL cluster: a real T-SQL + TDS engine for the tests.

Babelfish (AWS's open-source T-SQL layer on a modified PostgreSQL) parses and runs
T-SQL and speaks TDS, so pyodbc + FreeTDS reach it like SQL Server. The prebuilt
install (``SQLML_BABELFISH_DIST``, default ``../shared/babelfish/*.tar.gz`` next to
the repository) is unpacked once into ``.sqlml/babelfish/<name>/``; each
:class:`Cluster` lives in a temporary data folder, listens on free loopback ports,
runs as an unprivileged OS user (``postgres`` when we are root: the server refuses
root) and is removed when stopped.

    python tests/babelfish/cluster.py     # start one, print its URL, stop on Enter

Its gaps (no CREATE OR ALTER, no sp_execute_external_script, ...) are listed in
``../shared/babelfish/README.md``; tests that meet one name it
(``sqlml.deploy.tsql_batches.BABELFISH_GAPS``).
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tarfile
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DIST_ENV = "SQLML_BABELFISH_DIST"
ADMIN, PASSWORD, DATABASE = "sqlml_admin", "Sqlml_pw1", "sqlml"
RUNTIME_LIBRARIES = ("libantlr4-runtime.so.4.9", "libossp-uuid.so.16")
LOCALE = "en_US.utf8"

class Unavailable(Exception):
    """No Babelfish can run here; the message is the one-line reason."""


def dist() -> Path:
    configured = os.environ.get(DIST_ENV)
    if configured:
        path = Path(configured)
        if not path.exists():
            raise Unavailable(f"{DIST_ENV}={configured} does not exist")
        return path
    found = sorted(glob.glob(str(ROOT.parent / "shared" / "babelfish" / "*.tar.gz")))
    if not found:
        raise Unavailable(f"no prebuilt Babelfish: set {DIST_ENV} or put one in "
                          f"{ROOT.parent / 'shared' / 'babelfish'}")
    return Path(found[-1])


def _missing_runtime() -> str | None:
    for library in RUNTIME_LIBRARIES:
        if not glob.glob(f"/usr/lib/*/{library}") and not glob.glob(f"/usr/lib/{library}"):
            return f"{library} is not installed (make setup installs Babelfish's packages)"
    locales = subprocess.run(["locale", "-a"], capture_output=True, text=True).stdout.lower()
    if LOCALE.lower() not in locales.split():
        return "the en_US.UTF-8 locale is missing (make setup generates it)"
    try:
        import pyodbc
    except ImportError as exc:
        return f"pyodbc cannot load: {exc}"
    if "FreeTDS" not in pyodbc.drivers():
        return "the FreeTDS ODBC driver is not registered (apt install tdsodbc)"
    return None


def install() -> Path:
    """The unpacked install (a folder or an unpacked tarball), unpacking it once."""
    source = dist()
    if source.is_dir():
        prefix = source
    else:
        prefix = _unpacked(source, ROOT / ".sqlml" / "babelfish")
        if not _server_user_can_run(prefix):
            # e.g. a checkout under /root, which user postgres cannot enter
            prefix = _unpacked(source, Path(tempfile.gettempdir()) / "sqlml-babelfish-dist")
    if not (prefix / "bin" / "postgres").exists():
        raise Unavailable(f"{prefix} holds no bin/postgres")
    if not _server_user_can_run(prefix):
        raise Unavailable(f"the server's OS user cannot run {prefix / 'bin' / 'postgres'}")
    problem = _missing_runtime()
    if problem:
        raise Unavailable(problem)
    return prefix


def _server_user_can_run(prefix: Path) -> bool:
    argv = _as_server_user(["test", "-x", str(prefix / "bin" / "postgres")])
    return subprocess.run(argv, capture_output=True).returncode == 0


def _unpacked(source: Path, cache: Path) -> Path:
    """``source`` (a .tar.gz) unpacked once under ``cache``."""
    prefix = cache / source.name.removesuffix(".tar.gz")
    if not (prefix / ".unpacked").exists():
        partial = prefix.with_name(prefix.name + ".partial")
        shutil.rmtree(partial, ignore_errors=True)
        partial.mkdir(parents=True)
        with tarfile.open(source) as archive:
            archive.extractall(partial, filter="tar")
        (partial / ".unpacked").touch()
        shutil.rmtree(prefix, ignore_errors=True)
        partial.rename(prefix)
    return prefix


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Cluster:
    prefix: Path
    data: Path
    pg_port: int
    tds_port: int

    @property
    def url(self) -> str:
        return (f"mssql+pyodbc://{ADMIN}:{PASSWORD}@127.0.0.1/{DATABASE}"
                f"?driver=FreeTDS&TDS_Version=7.4&Port={self.tds_port}")

    def odbc(self, database: str = DATABASE) -> str:
        return (f"DRIVER={{FreeTDS}};SERVER=127.0.0.1;PORT={self.tds_port};"
                f"DATABASE={database};UID={ADMIN};PWD={PASSWORD};TDS_Version=7.4")

    @property
    def log(self) -> Path:
        return self.data / "logfile"

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def stop(self) -> None:
        _run(self, "pg_ctl", "-D", str(self.data), "-m", "immediate", "stop", check=False)
        shutil.rmtree(self.data.parent, ignore_errors=True)


def _as_server_user(argv: list[str]) -> list[str]:
    if os.getuid() == 0:
        return ["runuser", "-u", "postgres", "--", *argv]
    return argv


def _run(cluster_or_prefix, program: str, *args: str, input: str | None = None,
         check: bool = True) -> subprocess.CompletedProcess:
    prefix = cluster_or_prefix.prefix if isinstance(cluster_or_prefix, Cluster) \
        else cluster_or_prefix
    proc = subprocess.run(_as_server_user([str(prefix / "bin" / program), *args]),
                          input=input, capture_output=True, text=True)
    if check and proc.returncode != 0:
        raise RuntimeError(f"{program} {' '.join(args)} failed: {proc.stderr or proc.stdout}")
    return proc


def start() -> Cluster:
    """Initialise and start a cluster, create database sqlml over TDS; about 5 s."""
    prefix = install()
    top = Path(tempfile.mkdtemp(prefix="sqlml-babelfish-"))
    data = top / "data"
    data.mkdir()
    if os.getuid() == 0:
        shutil.chown(top, "postgres", "postgres")
        shutil.chown(data, "postgres", "postgres")
    cluster = Cluster(prefix, data, free_port(), free_port())
    try:
        _run(cluster, "initdb", "-D", str(data), "-U", "postgres", "--auth-local=trust",
             "--auth-host=md5", "-E", "UTF8", "--locale=C.UTF-8")
        with open(data / "postgresql.conf", "a") as conf:
            conf.write(
                f"listen_addresses = '127.0.0.1'\nport = {cluster.pg_port}\n"
                f"unix_socket_directories = '{data}'\n"
                "shared_preload_libraries = 'babelfishpg_tds'\n"
                "babelfishpg_tds.listen_addresses = '127.0.0.1'\n"
                f"babelfishpg_tds.port = {cluster.tds_port}\n"
                "fsync = off\nmax_connections = 40\n"
            )
        _run(cluster, "pg_ctl", "-D", str(data), "-l", str(cluster.log), "-w", "start")
        _run(cluster, "psql", "-X", "-h", str(data), "-p", str(cluster.pg_port), "-U",
             "postgres", "-d", "postgres", "-v", "ON_ERROR_STOP=1", "-q", input=f"""
CREATE USER {ADMIN} WITH SUPERUSER CREATEDB CREATEROLE PASSWORD '{PASSWORD}' INHERIT;
CREATE DATABASE babelfish_db OWNER {ADMIN};
\\c babelfish_db
CREATE EXTENSION IF NOT EXISTS babelfishpg_tds CASCADE;
GRANT ALL ON SCHEMA sys TO {ADMIN};
ALTER SYSTEM SET babelfishpg_tsql.database_name = 'babelfish_db';
ALTER SYSTEM SET babelfishpg_tsql.migration_mode = 'multi-db';
SELECT pg_reload_conf();
CALL sys.initialize_babelfish('{ADMIN}');
""")
        _create_database(cluster)
    except BaseException:
        log = cluster.log_tail()
        cluster.stop()
        if log:
            raise RuntimeError(f"Babelfish did not start; server log:\n{log}") from None
        raise
    return cluster


def _create_database(cluster: Cluster) -> None:
    import pyodbc

    deadline = time.monotonic() + 30
    while True:
        try:
            connection = pyodbc.connect(cluster.odbc("master"), autocommit=True, timeout=5)
            break
        except pyodbc.Error:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)
    with connection:
        connection.execute(f"CREATE DATABASE {DATABASE}")


if __name__ == "__main__":
    running = start()
    print(running.url, flush=True)
    try:
        input("Babelfish is running; Enter stops it\n")
    finally:
        running.stop()
