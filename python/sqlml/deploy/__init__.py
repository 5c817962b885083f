"""``sqlml deploy``: bring a database to the current version of sqlml, on either engine.

Steps, each idempotent, in this order:

1. **Migrations** (``alembic upgrade head``): schemas, tables, and the procedures
   and views that the revisions ship (see ``sqlml.deploy.objects``).
2. **Runtime**: the in-database Python (``sqlml.deploy.pg_runtime``) for the server's own
   interpreter, and the setting that tells procedures where it is.
3. **Setup scripts**: ``sql/<engine>/NN_*.sql`` (roles, grants, jobs), every time.
4. **Verify**: ``ml.runtime_info`` imports sqlml inside the database.

Rolling back is ``alembic downgrade <revision>`` (tables, procedures and views
move together), then deploying the matching release of the package.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from sqlalchemy.engine import make_url

from sqlml import embedded_pg
from sqlml.connect import create_engine, engine_name, redact
from sqlml.deploy import native, objects, pg_runtime, tsql_batches
from sqlml.errors import EngineError
from sqlml.paths import project_root

RUNTIME_SETTING = "sqlml.runtime_path"


def alembic_config(root: Path | None = None) -> Config:
    root = root or project_root()
    cfg = Config(str(root / "alembic.ini"))
    cfg.set_main_option("script_location", str(root / "migrations"))
    return cfg


def migrate(engine: sa.Engine, revision: str = "head", downgrade: bool = False) -> None:
    cfg = alembic_config()
    with engine.connect() as connection:
        cfg.attributes["connection"] = connection
        if downgrade:
            command.downgrade(cfg, revision)
        else:
            command.upgrade(cfg, revision)
        connection.commit()


def load_specs(engine: sa.Engine, log=print) -> None:
    """models/*.json into models.specs, where the training procedures read them."""
    specs = sa.table("specs", sa.column("kind"), sa.column("spec"), sa.column("spec_sha256"),
                     schema="models")
    with engine.begin() as connection:
        current = dict(connection.execute(sa.select(specs.c.kind, specs.c.spec_sha256)).all())
        for path in sorted((project_root() / "models").glob("*.json")):
            text = path.read_text(encoding="utf-8")
            kind = json.loads(text)["kind"]
            digest = hashlib.sha256(text.encode()).hexdigest()
            if current.get(kind) == digest:
                continue
            values = {"spec": text, "spec_sha256": digest}
            if kind in current:
                connection.execute(specs.update().where(specs.c.kind == kind).values(**values))
            else:
                connection.execute(specs.insert().values(kind=kind, **values))
            log(f"specs: {kind} from {path.relative_to(project_root())}")


def run_setup_scripts(engine: sa.Engine, engine_kind: str, log=print,
                      skip: dict[str, str] | None = None) -> None:
    """sql/<engine>/NN_*.sql; ``skip`` names scripts not to run, with why (logged)."""
    for path in objects.setup_scripts(project_root(), engine_kind):
        log(f"setup: {path.relative_to(project_root())}")
        if skip and path.name in skip:
            log(f"setup: skipped {path.name}: {skip[path.name]}")
            continue
        with engine.begin() as connection:
            text = path.read_text(encoding="utf-8")
            if engine_kind != "mssql":
                connection.exec_driver_sql(text, execution_options={"no_parameters": True})
                continue
            tsql_batches.run_script(connection, text, log)


def _is_local(url: str) -> bool:
    """Whether the server shares this machine's filesystem (socket or loopback)."""
    parsed = make_url(url)
    host = parsed.query.get("host") or parsed.host or ""
    if isinstance(host, tuple):
        host = host[0]
    return host == "" or host.startswith("/") or host in {"localhost", "127.0.0.1", "::1"}


def install_postgres_runtime(engine: sa.Engine, url: str, runtime_path: str | None, log) -> str:
    with engine.connect() as connection:
        info = connection.execute(sa.text("SELECT ops.python_runtime()")).scalar_one()
        database = connection.execute(sa.text("SELECT current_database()")).scalar_one()
    version = info["version"]
    if runtime_path is None:
        if not _is_local(url):
            raise EngineError(
                f"{redact(url)} is a remote server: build the runtime on that host "
                f"(`sqlml runtime build --python-version {version} DIR`) and deploy with "
                "--runtime-path DIR"
            )
        target = embedded_pg.runtime_root() / pg_runtime.python_tag(version)
        pg_runtime.build(target, version, log=log)
        runtime_path = str(target)
    log(f"runtime: Python {version} in the server; sqlml runtime at {runtime_path}")
    with engine.begin() as connection:
        quoted_db = connection.dialect.identifier_preparer.quote(database)
        literal = runtime_path.replace("'", "''")
        connection.exec_driver_sql(
            f"ALTER DATABASE {quoted_db} SET {RUNTIME_SETTING} = '{literal}'"
        )
        # TensorFlow, which training loads into the backend, carries its own LLVM and
        # exports its symbols: a backend that has loaded it and then JIT-compiles a
        # query with PostgreSQL's llvmjit (also LLVM) dies of a segmentation fault, and
        # the postmaster restarts every session. The demo's reasons query did, after
        # training in the same session. Training also turns JIT off in its session
        # (adapters/postgres.train_staged); this covers the transaction that rolls back.
        connection.exec_driver_sql(f"ALTER DATABASE {quoted_db} SET jit = off")
    engine.dispose()  # the setting applies to new sessions only
    return runtime_path


def verify(engine: sa.Engine, engine_kind: str) -> dict[str, str | None]:
    sql = "SELECT component, version FROM ml.runtime_info()"
    if engine_kind == "mssql":
        sql = "EXEC ml.runtime_info"
    with engine.connect() as connection:
        return {row.component: row.version for row in connection.execute(sa.text(sql))}


def deploy(url: str, runtime_path: str | None = None, log=print) -> dict[str, str | None]:
    kind = engine_name(url)
    engine = create_engine(url)
    try:
        log(f"deploy: {redact(url)} ({kind})")
        migrate(engine)
        # Fresh connections after the migrations: on Babelfish a connection that ran
        # them fails later schema-level GRANTs ("cannot fetch toast data without an
        # active snapshot", a defect of Babelfish 4.3); SQL Server does not mind.
        engine.dispose()
        load_specs(engine, log)
        setup_engine, skip = engine, None
        if kind == "postgres":
            install_postgres_runtime(engine, url, runtime_path, log)
        else:
            from sqlml.deploy import mssql_runtime

            with engine.connect() as connection:
                babelfish = tsql_batches.is_babelfish(connection)
            if babelfish:
                skip = tsql_batches.BABELFISH_SKIPS
                log(f"runtime: skipped on Babelfish: {tsql_batches.BABELFISH_GAPS[4]}")
            else:
                mssql_runtime.install(engine, runtime_path, log)
            # sp_configure/RECONFIGURE and ALTER RESOURCE GOVERNOR refuse to run inside a
            # user transaction, so the T-SQL setup scripts run in autocommit; each one is
            # idempotent and opens its own transaction where it needs one.
            setup_engine = engine.execution_options(isolation_level="AUTOCOMMIT")
        run_setup_scripts(setup_engine, kind, log, skip=skip)
        if kind == "postgres":
            native.install(engine, _is_local(url), log)
        if skip is not None:
            log(f"deploy: ml.runtime_info not run: {tsql_batches.BABELFISH_GAPS[4]}")
            return {}
        components = verify(engine, kind)
        log("deploy: in-database runtime " + ", ".join(f"{k} {v}" for k, v in components.items()))
        return components
    finally:
        engine.dispose()
