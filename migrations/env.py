"""Alembic environment for sqlml: five schemas, two engines, online or offline.

* URL: ``-x url=...``, else ``SQLML_DATABASE_URL``, else the embedded engine.
  ``sqlml deploy`` hands over its own connection in ``config.attributes``.
* Offline (``--sql``) with an ``mssql+pyodbc://`` URL renders the SQL Server DDL
  a DBA can read and run (``GO`` between batches; ``SET ANSI_NULLS ON; SET
  QUOTED_IDENTIFIER ON;`` first; run it with ``sqlcmd -I -x``: see README).
* Constraint names come from the naming convention below, so no server-made
  name (``PK__registry__3213E83F...``) ever needs hard-coding in a later revision.
* The version table lives in the engine's default schema (public / dbo), which
  exists before the first revision runs; the five sqlml schemas do not.
"""

from __future__ import annotations

import os

import sqlalchemy as sa
from alembic import context
from sqlalchemy.pool import NullPool

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}
VERSION_TABLE_SCHEMA = {"postgresql": "public", "mssql": "dbo"}

config = context.config
target_metadata = sa.MetaData(naming_convention=NAMING_CONVENTION)


def database_url() -> str:
    url = context.get_x_argument(as_dictionary=True).get("url") or os.environ.get(
        "SQLML_DATABASE_URL"
    )
    if url:
        return url
    from sqlml import embedded_pg

    return embedded_pg.url()


def options(dialect_name: str) -> dict:
    return dict(
        target_metadata=target_metadata,
        include_schemas=True,
        version_table_schema=VERSION_TABLE_SCHEMA.get(dialect_name),
        transaction_per_migration=True,
    )


# SQL Server keeps both settings with each procedure it creates, and a filtered
# index (models.registry's one active version) refuses writes without them; sqlcmd
# connects with QUOTED_IDENTIFIER off unless given -I.
MSSQL_SCRIPT_HEAD = "SET ANSI_NULLS ON;\nSET QUOTED_IDENTIFIER ON;\nGO\n"
# Offline, the mssql dialect knows no server version and renders DATE as DATETIME
# (its SQL Server 2005 fallback): render for SQL Server 2019, sqlml's oldest target.
OFFLINE_MSSQL_VERSION = (15,)


def run_offline() -> None:
    url = sa.engine.make_url(database_url())
    context.configure(
        url=url,
        literal_binds=True,
        dialect_opts={"paramstyle": "named"},
        **options(url.get_backend_name()),
    )
    migration_context = context.get_context()
    if migration_context.dialect.name == "mssql":
        dialect = migration_context.dialect
        dialect.server_version_info = OFFLINE_MSSQL_VERSION
        dialect._setup_version_attributes()
        migration_context.impl.static_output(MSSQL_SCRIPT_HEAD)
    with context.begin_transaction():
        context.run_migrations()


def run_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _migrate(connection)
        return
    engine = sa.create_engine(database_url(), poolclass=NullPool)
    with engine.connect() as connection:
        _migrate(connection)
        connection.commit()


def _migrate(connection: sa.Connection) -> None:
    context.configure(connection=connection, **options(connection.dialect.name))
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    run_offline()
else:
    run_online()
