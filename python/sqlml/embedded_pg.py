"""The embedded PostgreSQL engine: a private cluster under ``.sqlml/pg``.

It is what ``make demo`` and the tests run against: Debian's PostgreSQL 15 with
PL/Python (``plpython3u``) and pg_cron, listening only on a Unix socket in the
state directory, trust authentication (only this user and root can reach the
socket directory). PostgreSQL refuses to run as root, so when invoked as root
the server runs as the ``postgres`` OS user that Debian's package creates.

Durability settings are relaxed (``fsync=off``): this is a development and test
engine whose data can always be regenerated, never a production server.
"""

from __future__ import annotations

import getpass
import hashlib
import os
import pwd
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from sqlml.errors import EngineError
from sqlml.paths import state_dir

DATABASE = "sqlml"
SUPERUSER = "sqlml"
PORT = 5432  # only names the socket file; the server opens no TCP port
# The kernel limits a socket path to 107 bytes; past this we move the socket.
MAX_SOCKET_DIR = 90


@dataclass(frozen=True)
class LocalServer:
    home: Path  # data/, log, socket; readable by the server's OS user
    bindir: Path
    os_user: str | None  # run the server as this user (None: as ourselves)

    @property
    def data(self) -> Path:
        return self.home / "data"

    @property
    def socket_dir(self) -> Path:
        if len(str(self.home)) <= MAX_SOCKET_DIR:
            return self.home
        digest = hashlib.sha256(str(self.home).encode()).hexdigest()[:12]
        return Path("/tmp") / f"sqlml-{digest}"

    @property
    def log(self) -> Path:
        return self.home / "server.log"

    def url(self, database: str = DATABASE) -> str:
        return f"postgresql+psycopg://{SUPERUSER}@/{database}?host={self.socket_dir}&port={PORT}"


def find_bindir() -> Path:
    """The newest installed PostgreSQL server binaries (override: SQLML_PG_BINDIR)."""
    env = os.environ.get("SQLML_PG_BINDIR")
    if env:
        return Path(env)
    found = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/initdb"),
        key=lambda p: int(p.parent.parent.name) if p.parent.parent.name.isdigit() else 0,
    )
    if found:
        return found[-1].parent
    on_path = shutil.which("initdb")
    if on_path:
        return Path(on_path).resolve().parent
    raise EngineError(
        "PostgreSQL server binaries not found: run 'make setup' (installs postgresql-15 and "
        "postgresql-plpython3-15) or set SQLML_PG_BINDIR"
    )


def server() -> LocalServer:
    os_user = "postgres" if os.geteuid() == 0 else None
    home = state_dir() / "pg"
    if os_user and not _reachable_by(os_user, home.parent):
        # A checkout under a private directory (say /root) is not traversable by
        # the server's OS user; keep the cluster in a world-traversable place
        # named after the checkout instead.
        digest = hashlib.sha256(str(home).encode()).hexdigest()[:12]
        home = Path("/var/tmp") / f"sqlml-{digest}" / "pg"
    return LocalServer(home=home, bindir=find_bindir(), os_user=os_user)


def runtime_root() -> Path:
    """Where in-database runtimes for this server live: beside its data, readable by it."""
    return server().home.parent / "runtime"


def _reachable_by(user: str, path: Path) -> bool:
    """Whether ``user`` can traverse every existing ancestor of ``path``."""
    entry = pwd.getpwnam(user)
    for directory in [path, *path.parents]:
        if not directory.exists():
            continue
        st = directory.stat()
        if st.st_uid == entry.pw_uid:
            ok = st.st_mode & 0o100
        elif st.st_gid == entry.pw_gid:
            ok = st.st_mode & 0o010
        else:
            ok = st.st_mode & 0o001
        if not ok:
            return False
    return True


def _run(srv: LocalServer, *argv: str, check: bool = True) -> subprocess.CompletedProcess:
    cmd = [str(srv.bindir / argv[0]), *argv[1:]]
    if srv.os_user:
        cmd = ["runuser", "-u", srv.os_user, "--", *cmd]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if check and proc.returncode != 0:
        raise EngineError(
            f"{argv[0]} failed ({proc.returncode}): {proc.stderr.strip() or proc.stdout.strip()}"
            f"\nserver log: {srv.log}"
        )
    return proc


def _prepare_dirs(srv: LocalServer) -> None:
    for directory in {srv.home, srv.socket_dir}:
        directory.mkdir(parents=True, exist_ok=True)
        if srv.os_user:
            entry = pwd.getpwnam(srv.os_user)
            os.chown(directory, entry.pw_uid, entry.pw_gid)
        directory.chmod(0o755)


def _config(srv: LocalServer, with_cron: bool) -> str:
    lines = [
        "# Written by sqlml (python/sqlml/embedded_pg.py): the embedded engine's settings.",
        "listen_addresses = ''",
        f"unix_socket_directories = '{srv.socket_dir}'",
        f"port = {PORT}",
        "max_connections = 40",
        "shared_buffers = '256MB'",
        "fsync = off",
        "synchronous_commit = off",
        "full_page_writes = off",
        "log_min_messages = warning",
        "timezone = 'UTC'",
    ]
    if with_cron:
        # pg_cron connects to run each job; this server has no TCP, so use its socket.
        lines += ["shared_preload_libraries = 'pg_cron'", f"cron.database_name = '{DATABASE}'",
                  f"cron.host = '{srv.socket_dir}'"]
    return "\n".join(lines) + "\n"


def _has_pg_cron(srv: LocalServer) -> bool:
    libdir = srv.bindir.parent / "lib"
    return (libdir / "pg_cron.so").exists()


def is_running(srv: LocalServer | None = None) -> bool:
    srv = srv or server()
    if not (srv.data / "PG_VERSION").exists():
        return False
    return _run(srv, "pg_ctl", "status", "-D", str(srv.data), check=False).returncode == 0


def start() -> str:
    """Initialise (once) and start the server; idempotent. Returns the URL."""
    srv = server()
    if not (srv.data / "PG_VERSION").exists():
        _prepare_dirs(srv)
        _run(
            srv, "initdb", "-D", str(srv.data), "-U", SUPERUSER, "--auth=trust",
            "--encoding=UTF8", "--locale=C.UTF-8",
        )
        conf = srv.data / "postgresql.conf"
        with conf.open("a") as fh:
            fh.write("\ninclude_if_exists = 'sqlml.conf'\n")
    _prepare_dirs(srv)  # the socket directory may live in /tmp, which is cleaned
    (srv.data / "sqlml.conf").write_text(_config(srv, _has_pg_cron(srv)))
    if srv.os_user:
        entry = pwd.getpwnam(srv.os_user)
        os.chown(srv.data / "sqlml.conf", entry.pw_uid, entry.pw_gid)
    if not is_running(srv):
        _run(srv, "pg_ctl", "start", "-D", str(srv.data), "-l", str(srv.log), "-w", "-t", "60")
    _ensure_database(srv, DATABASE)
    return srv.url()


def _ensure_database(srv: LocalServer, name: str) -> None:
    for _ in range(50):
        probe = _run(srv, "psql", *_psql_args(srv), "-d", "postgres", "-tAc",
                     f"SELECT 1 FROM pg_database WHERE datname = '{name}'", check=False)
        if probe.returncode == 0:
            break
        time.sleep(0.2)  # accepting connections a moment after pg_ctl returns
    else:
        raise EngineError(f"embedded PostgreSQL does not accept connections: {probe.stderr}")
    if probe.stdout.strip() != "1":
        _run(srv, "createdb", *_psql_args(srv), name)


def _psql_args(srv: LocalServer) -> list[str]:
    return ["-h", str(srv.socket_dir), "-p", str(PORT), "-U", SUPERUSER]


def stop() -> bool:
    """Stop the server if it runs; returns whether it was running."""
    srv = server()
    if not is_running(srv):
        return False
    _run(srv, "pg_ctl", "stop", "-D", str(srv.data), "-m", "fast", "-w", "-t", "60")
    return True


def url() -> str:
    return server().url()


def status() -> str:
    srv = server()
    state = "running" if is_running(srv) else "stopped"
    return f"{state}  {srv.url()}  (data: {srv.data}, OS user: {srv.os_user or getpass.getuser()})"
