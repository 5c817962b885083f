"""The embedded engine: idempotent start, a usable URL, PL/Python available."""

import pytest
import sqlalchemy as sa

from sqlml import embedded_pg

pytestmark = pytest.mark.postgres


def test_start_is_idempotent_and_prints_the_same_url(server_url):
    assert embedded_pg.start() == server_url == embedded_pg.url()
    assert embedded_pg.is_running()


def test_server_runs_postgres_15_with_plpython(server_url):
    engine = sa.create_engine(server_url)
    with engine.connect() as connection:
        version = connection.execute(sa.text("SHOW server_version_num")).scalar_one()
        available = connection.execute(
            sa.text("SELECT name FROM pg_available_extensions WHERE name = 'plpython3u'")
        ).scalar()
    engine.dispose()
    assert int(version) >= 150000
    assert available == "plpython3u"


def test_status_names_state_and_url(server_url):
    assert embedded_pg.status().startswith("running")
    assert server_url in embedded_pg.status()
