"""Which database to talk to, and a SQLAlchemy engine for it.

Configuration is one URL: the ``--url`` option, else ``SQLML_DATABASE_URL``,
else the embedded PostgreSQL (started on demand).
"""

from __future__ import annotations

import os

import sqlalchemy as sa
from sqlalchemy.engine import make_url

from sqlml.errors import EngineError

URL_ENV = "SQLML_DATABASE_URL"
ENGINES = {"postgresql": "postgres", "mssql": "mssql"}


def resolve_url(url: str | None = None, start_embedded: bool = True) -> str:
    if url:
        return url
    if os.environ.get(URL_ENV):
        return os.environ[URL_ENV]
    from sqlml import localdb

    return localdb.start() if start_embedded else localdb.url()


def engine_name(url: str) -> str:
    """``postgres`` or ``mssql``: the folder name used under procedures/ and sql/."""
    backend = make_url(url).get_backend_name()
    if backend not in ENGINES:
        raise EngineError(
            f"unsupported database URL scheme {backend!r}: use postgresql+psycopg:// "
            "or mssql+pyodbc://"
        )
    return ENGINES[backend]


def create_engine(url: str) -> sa.Engine:
    engine_name(url)  # fail early, with the supported schemes in the message
    return sa.create_engine(url, pool_pre_ping=True)


def redact(url: str) -> str:
    """The URL with its password hidden, for messages and logs."""
    return make_url(url).render_as_string(hide_password=True)
