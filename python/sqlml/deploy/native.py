"""The native payloads: the ``sqlml_native`` extension, built and created at deploy.

The scoring reader (``adapters/pg_reader.read_columns``) reads a query's rows as one
payload per column. ``procedures/postgres/native/payloads.c`` builds those payloads
in one aggregate transition per row, where ``string_agg`` takes one per value: for
200,000 telco rows 0.10 s against 0.32 s (issue 11). Its two set-returning
functions turn the scores' payloads back into rows for the batch's INSERT without
printing and parsing each score, and ``ops.cursor_payloads`` reads the next rows of
a scoring call's cursor as those payloads (issue 27's batches). They are
accelerators, never a requirement: where they cannot be created (no extension on a
remote server, no compiler, no server headers, a deploying role that is not
superuser), scoring reads with ``string_agg`` (and ``FETCH``), writes with
``string_to_table``, and reads and writes the very same values.

They ship the way PostgreSQL ships native code (issue 23): the extension
``sqlml_native`` in ``procedures/postgres/native/`` (a control file, a versioned
script, a PGXS ``Makefile``), which a DBA installs on the database host with ``make
&& make install`` and creates with ``CREATE EXTENSION sqlml_native`` (docs/dba.md).
:func:`install`, in order:

1. the server already offers the extension (a DBA installed it, on any host) and this
   server's files are not ours to build: ``CREATE EXTENSION`` (or ``ALTER EXTENSION
   ... UPDATE``);
2. a local server whose extension folders this process may write: ``make && make
   install`` (PGXS, with the server's ``pg_config``; ``with_llvm=no``: JIT bitcode
   needs clang and sqlml's database runs with JIT off), then ``CREATE EXTENSION``.
   Installing is skipped when the installed files are byte for byte this build's;
3. a local server whose folders are not writable: as before the extension existed,
   the library compiled into the runtime folder under a name that holds the
   source's hash (a changed source is a new file, and a session that loaded the old
   one keeps it), and its functions created one by one;
4. else nothing, and one line that says why.

A C function is created by a superuser only, from a library file on the server's
host: that is the deploying owner's (or the DBA's) decision, and nobody else's.
Revision 0023 drops these objects, the extension first, on downgrade, so that the
schemas can go.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from pathlib import Path
from typing import NamedTuple

import sqlalchemy as sa

from sqlml import embedded_pg
from sqlml.errors import EngineError
from sqlml.paths import project_root

FOLDER = Path("procedures") / "postgres" / "native"
SOURCE = FOLDER / "payloads.c"
EXTENSION = "sqlml_native"
# What PGXS reads and installs: the library's source, the control file, the scripts.
EXTENSION_FILES = ("Makefile", "payloads.c", f"{EXTENSION}.control", f"{EXTENSION}--1.0.sql")
# Every object here, in the order a downgrade drops them (revision 0023 uses it): the
# extension, whose members these are where it was created, then the functions one by
# one, where an earlier deploy (or step 3) created them without it.
DROP = [
    f"DROP EXTENSION IF EXISTS {EXTENSION}",
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
GRANTS = [f'GRANT EXECUTE ON FUNCTION ops.column_payloads(VARIADIC "any") TO {READERS}',
          # scoring's batches: the next rows of the caller's cursor, read as the caller
          f"GRANT EXECUTE ON FUNCTION ops.cursor_payloads(text, bigint) TO {READERS}"]


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
        "CREATE FUNCTION ops.cursor_payloads(text, bigint) RETURNS bytea"
        f" AS '{path}', 'sqlml_cursor_payloads' LANGUAGE C STRICT VOLATILE",
        "REVOKE ALL ON FUNCTION ops.cursor_payloads(text, bigint) FROM public",
        *GRANTS,
    ]


def install(engine: sa.Engine, local: bool, log=print) -> str | None:
    """Create ``sqlml_native`` (or, failing that, its functions one by one) for this
    server: what its functions load (the extension's module path, or the library's
    path), or None (with the reason logged) where it cannot be done here."""
    with engine.connect() as connection:
        superuser, version = connection.execute(sa.text(
            "SELECT rolsuper, current_setting('server_version_num')::int"
            " FROM pg_catalog.pg_roles WHERE rolname = current_user")).one()
    major = version // 10000
    toolchain = _toolchain(major) if local else None
    reason = None
    if not superuser:
        reason = "only a superuser creates C functions"
    elif local and toolchain is None:
        reason = (f"no PostgreSQL {major} server headers here "
                  f"(apt package postgresql-server-dev-{major})")
    elif local and shutil.which(toolchain.cc[0]) is None:
        reason = f"no C compiler ({' '.join(toolchain.cc)})"
    if local and reason is None and _writable(toolchain):
        installed = install_extension_files(toolchain, major)
        create_extension(engine)
        log(f"native reader: extension {EXTENSION} (PGXS, {installed})")
        return installed
    if superuser and available(engine):
        create_extension(engine)  # a DBA installed it: the standard way wins
        log(f"native reader: extension {EXTENSION}, as installed on the server")
        return f"$libdir/{EXTENSION}"
    if not local:
        reason = ("the server is on another host and offers no extension "
                  f'{EXTENSION} (see docs/dba.md, "The native column reader")')
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
    log(f"native reader: ops.column_payloads and the write's payload functions from {library}"
        f" (the extension folders of PostgreSQL {major} are not writable here)")
    return str(library)


def available(engine: sa.Engine) -> bool:
    """Whether the server offers the extension (its control file is installed)."""
    with engine.connect() as connection:
        return connection.execute(sa.text(
            "SELECT count(*) FROM pg_catalog.pg_available_extensions WHERE name = :name"),
            {"name": EXTENSION}).scalar_one() > 0


def create_extension(engine: sa.Engine) -> None:
    """``CREATE EXTENSION`` in schema ops, or ``ALTER EXTENSION ... UPDATE`` where it is;
    functions an earlier deploy created one by one are dropped first (they would
    collide with the extension's members); then the operator's grant."""
    with engine.begin() as connection:
        created = connection.execute(sa.text(
            "SELECT count(*) FROM pg_catalog.pg_extension WHERE extname = :name"),
            {"name": EXTENSION}).scalar_one()
        if created:
            connection.exec_driver_sql(f"ALTER EXTENSION {EXTENSION} UPDATE")
        else:
            for statement in DROP[1:]:
                connection.exec_driver_sql(statement)
            connection.exec_driver_sql(f"CREATE EXTENSION {EXTENSION} SCHEMA ops")
        for statement in GRANTS:
            connection.exec_driver_sql(statement)


class Toolchain(NamedTuple):
    """What pg_config says a server extension is compiled with."""

    cc: list[str]
    cflags: list[str]  # --cflags and --cflags_sl
    include: Path  # --includedir-server
    pg_config: Path  # for PGXS
    sharedir: Path  # --sharedir: extension/ holds control files and scripts
    pkglibdir: Path  # --pkglibdir: $libdir, where the library goes


def _toolchain(major: int) -> Toolchain | None:
    """The build settings of the server's major version, when its server headers are
    here: one pg_config call, which prints one line per flag asked, in order."""
    for candidate in (Path(f"/usr/lib/postgresql/{major}/bin/pg_config"),
                      shutil.which("pg_config")):
        if not candidate or not Path(candidate).is_file():
            continue
        done = subprocess.run([str(candidate), "--version", "--includedir-server", "--cc",
                               "--cflags", "--cflags_sl", "--sharedir", "--pkglibdir"],
                              capture_output=True, text=True)
        lines = done.stdout.splitlines()
        if done.returncode != 0 or len(lines) < 7:
            continue
        version, include, cc, cflags, cflags_sl, sharedir, pkglibdir = lines[:7]
        # "PostgreSQL 15.18 (Debian ...)": the major version is what must match
        if version.split()[1].split(".")[0] == str(major) \
                and (Path(include) / "postgres.h").is_file():
            return Toolchain(cc.split(), cflags.split() + cflags_sl.split(), Path(include),
                             Path(candidate), Path(sharedir), Path(pkglibdir))
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


def _writable(toolchain: Toolchain) -> bool:
    """Whether ``make install`` may write the server's extension folders here."""
    return all(os.access(folder, os.W_OK)
               for folder in (toolchain.sharedir / "extension", toolchain.pkglibdir))


def install_extension_files(toolchain: Toolchain, major: int) -> str:
    """``make && make install`` of the extension (PGXS), in a build folder of the
    runtime named for its files' hash; installing is skipped when the installed
    files are this build's, byte for byte (another checkout may have installed its
    own). The installed library's path."""
    folder = project_root() / FOLDER
    digest = hashlib.sha256(b"".join((folder / name).read_bytes()
                                     for name in EXTENSION_FILES)).hexdigest()[:16]
    build_dir = embedded_pg.runtime_root() / "native" / f"{EXTENSION}-pg{major}-{digest}"
    library = build_dir / f"{EXTENSION}.so"
    make = ["make", "-C", str(build_dir), f"PG_CONFIG={toolchain.pg_config}", "with_llvm=no"]
    if not library.is_file():
        shutil.rmtree(build_dir, ignore_errors=True)
        build_dir.mkdir(parents=True)
        for name in EXTENSION_FILES:
            shutil.copy(folder / name, build_dir / name)
        _make(make, "make")
    extension_dir = toolchain.sharedir / "extension"
    installed = {library: toolchain.pkglibdir / library.name}
    installed.update({build_dir / name: extension_dir / name for name in EXTENSION_FILES
                      if name.endswith((".control", ".sql"))})
    if any(not target.is_file() or target.read_bytes() != built.read_bytes()
           for built, target in installed.items()):
        # install(1) replaces each file (a new inode): a backend that loaded the old
        # library keeps its mapping.
        _make([*make, "install"], "make install")
    return str(toolchain.pkglibdir / library.name)


def _make(command: list[str], what: str) -> None:
    if shutil.which("make") is None:
        raise EngineError(f"native reader: {what} needs make (apt package make)")
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        raise EngineError(f"native reader: {what} of {FOLDER} failed:\n"
                          f"{(done.stderr or done.stdout).strip()}")
