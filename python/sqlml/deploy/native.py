"""The native payloads: ``ops.column_payloads`` and its way back, compiled at deploy.

The scoring reader (``adapters/postgres.read_columns``) reads a query's rows as one
payload per column. ``procedures/postgres/native/payloads.c`` builds those payloads
in one aggregate transition per row, where ``string_agg`` takes one per value: for
200,000 telco rows 0.10 s against 0.32 s (issue 11). Its two set-returning
functions turn the scores' payloads back into rows for the batch's INSERT without
printing and parsing each score. They are accelerators, never a requirement: where
they cannot be built (a remote server, no compiler, no server headers, a deploying
role that is not superuser), scoring reads with ``string_agg``, writes with
``string_to_table``, and reads and writes the very same values.

A C function is created by a superuser only, from a library file on the server's
host: that is the deploying owner's decision, made here, and nobody else's. The
library is compiled against the headers of the server's own major version into
the runtime folder (readable by the server's OS user), under a name that holds
the source's hash, so a changed source is a new file and a session that loaded
the old one keeps it.

The library's path is this host's, so no migration can name it; revision 0023
drops these objects on downgrade, so that the schemas can go.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
from pathlib import Path
from typing import NamedTuple

import sqlalchemy as sa

from sqlml import embedded_pg
from sqlml.errors import EngineError
from sqlml.paths import project_root

SOURCE = Path("procedures") / "postgres" / "native" / "payloads.c"
# Every object here, in the order a downgrade drops them (revision 0023 uses it).
DROP = [
    'DROP AGGREGATE IF EXISTS ops.column_payloads(VARIADIC "any")',
    'DROP FUNCTION IF EXISTS ops.column_payloads_step(internal, VARIADIC "any")',
    "DROP FUNCTION IF EXISTS ops.column_payloads_final(internal)",
    "DROP FUNCTION IF EXISTS ops.payload_texts(text)",
    "DROP FUNCTION IF EXISTS ops.payload_float8s(bytea)",
    "DROP FUNCTION IF EXISTS ops.cursor_payloads(text, bigint)",
]
# Who reads rows through the aggregate: the caller's half of a scoring call
# (ops.stage_input, SECURITY INVOKER) runs as the operator. The write's functions
# are the owner's alone (ops.python_step, SECURITY DEFINER, writes the batch).
READERS = "sqlml_operator"


def create_sql(library: str) -> list[str]:
    path = library.replace("'", "''")
    return [
        *DROP,
        "CREATE FUNCTION ops.column_payloads_step(internal, VARIADIC \"any\") RETURNS internal"
        f" AS '{path}', 'sqlml_column_payloads_step' LANGUAGE C",
        "CREATE FUNCTION ops.column_payloads_final(internal) RETURNS bytea"
        f" AS '{path}', 'sqlml_column_payloads_final' LANGUAGE C STRICT",
        'CREATE AGGREGATE ops.column_payloads(VARIADIC "any") (SFUNC = ops.column_payloads_step,'
        " STYPE = internal, FINALFUNC = ops.column_payloads_final)",
        'COMMENT ON AGGREGATE ops.column_payloads(VARIADIC "any") IS'
        " 'sqlml: a query''s rows as one payload per column, for the scoring reader"
        " (procedures/postgres/native/payloads.c)'",
        "CREATE FUNCTION ops.payload_texts(text) RETURNS SETOF text"
        f" AS '{path}', 'sqlml_payload_texts' LANGUAGE C STRICT IMMUTABLE",
        "CREATE FUNCTION ops.payload_float8s(bytea) RETURNS SETOF float8"
        f" AS '{path}', 'sqlml_payload_float8s' LANGUAGE C STRICT IMMUTABLE",
        "REVOKE ALL ON FUNCTION ops.payload_texts(text) FROM public",
        "REVOKE ALL ON FUNCTION ops.payload_float8s(bytea) FROM public",
        'REVOKE ALL ON FUNCTION ops.column_payloads_step(internal, VARIADIC "any") FROM public',
        "REVOKE ALL ON FUNCTION ops.column_payloads_final(internal) FROM public",
        'REVOKE ALL ON FUNCTION ops.column_payloads(VARIADIC "any") FROM public',
        f'GRANT EXECUTE ON FUNCTION ops.column_payloads(VARIADIC "any") TO {READERS}',
        # Scoring's batches: the next rows of the caller's cursor, read as the caller.
        "CREATE FUNCTION ops.cursor_payloads(text, bigint) RETURNS bytea"
        f" AS '{path}', 'sqlml_cursor_payloads' LANGUAGE C STRICT VOLATILE",
        "REVOKE ALL ON FUNCTION ops.cursor_payloads(text, bigint) FROM public",
        f"GRANT EXECUTE ON FUNCTION ops.cursor_payloads(text, bigint) TO {READERS}",
    ]


def install(engine: sa.Engine, local: bool, log=print) -> str | None:
    """Build the library for this server and create ``ops.column_payloads``; the
    library's path, or None (with the reason logged) where it cannot be done here."""
    with engine.connect() as connection:
        superuser, version = connection.execute(sa.text(
            "SELECT rolsuper, current_setting('server_version_num')::int"
            " FROM pg_catalog.pg_roles WHERE rolname = current_user")).one()
    major = version // 10000
    reason = None
    if not local:
        reason = "the server is on another host (see docs/dba.md, \"The native column reader\")"
    elif not superuser:
        reason = "only a superuser creates C functions"
    toolchain = _toolchain(major)
    if reason is None and toolchain is None:
        reason = (f"no PostgreSQL {major} server headers here "
                  f"(apt package postgresql-server-dev-{major})")
    elif reason is None and shutil.which(toolchain.cc[0]) is None:
        reason = f"no C compiler ({' '.join(toolchain.cc)})"
    if reason is not None:
        log(f"native reader: not installed: {reason}; scoring reads with string_agg")
        return None
    library = build(toolchain, major)
    with engine.begin() as connection:
        for statement in create_sql(str(library)):
            connection.exec_driver_sql(statement)
    for stale in library.parent.glob("*.so"):
        if stale != library:  # a session that loaded it keeps its mapping
            stale.unlink()
    log(f"native reader: ops.column_payloads and the write's payload functions from {library}")
    return str(library)


class Toolchain(NamedTuple):
    """What pg_config says a server extension is compiled with."""

    cc: list[str]
    cflags: list[str]  # --cflags and --cflags_sl
    include: Path  # --includedir-server


def _toolchain(major: int) -> Toolchain | None:
    """The build settings of the server's major version, when its server headers are
    here: one pg_config call, which prints one line per flag asked, in order."""
    for candidate in (Path(f"/usr/lib/postgresql/{major}/bin/pg_config"),
                      shutil.which("pg_config")):
        if not candidate or not Path(candidate).is_file():
            continue
        done = subprocess.run([str(candidate), "--version", "--includedir-server", "--cc",
                               "--cflags", "--cflags_sl"], capture_output=True, text=True)
        lines = done.stdout.splitlines()
        if done.returncode != 0 or len(lines) < 5:
            continue
        version, include, cc, cflags, cflags_sl = lines[:5]
        # "PostgreSQL 15.18 (Debian ...)": the major version is what must match
        if version.split()[1].split(".")[0] == str(major) \
                and (Path(include) / "postgres.h").is_file():
            return Toolchain(cc.split(), cflags.split() + cflags_sl.split(), Path(include))
    return None


def build(toolchain: Toolchain, major: int) -> Path:
    """Compile the source unless this very source is built already; the library's path."""
    source = project_root() / SOURCE
    digest = hashlib.sha256(source.read_bytes()).hexdigest()[:16]
    target = embedded_pg.runtime_root() / "native" / f"payloads-pg{major}-{digest}.so"
    if target.is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    target.parent.chmod(0o755)
    partial = target.with_suffix(".part")
    command = [*toolchain.cc, *toolchain.cflags, "-shared", f"-I{toolchain.include}",
               str(source), "-o", str(partial)]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        raise EngineError(f"native reader: compiling {SOURCE} failed:\n{done.stderr.strip()}")
    partial.chmod(0o755)
    partial.replace(target)  # whole or not at all: a server never loads half a file
    return target
