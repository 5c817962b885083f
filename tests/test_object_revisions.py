"""How a change to a procedure ships and rolls back: `sqlml objects revision`,
`sqlml objects freeze`, upgrade, and the downgrade that restores the old text.

Each test works on a copy of the project's migrations and SQL files (SQLML_HOME
points at it), so the revision it writes never touches the checkout.
"""

from __future__ import annotations

import shutil

import pytest
import sqlalchemy as sa

from sqlml.deploy import migrate, objects
from sqlml.deploy.revisions import new_object_revision
from sqlml.errors import SqlmlError
from sqlml.paths import project_root

pytestmark = pytest.mark.postgres

OBJECT = "ml.runtime_info"
MARK = "# shipped by the revision under test"


@pytest.fixture
def project(tmp_path, monkeypatch):
    """A copy of the files a deploy reads, with SQLML_HOME pointing at it."""
    source = project_root()
    for name in ("migrations", "procedures", "sql", "models"):
        shutil.copytree(source / name, tmp_path / name,
                        ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(source / "alembic.ini", tmp_path / "alembic.ini")
    monkeypatch.setenv("SQLML_HOME", str(tmp_path))
    assert project_root() == tmp_path
    return tmp_path


def _edit(project, text: str) -> None:
    path = project / "procedures" / "postgres" / f"{OBJECT}.sql"
    body = path.read_text()
    assert "AS $$\n" in body
    # Inside the body: a comment outside it is not part of the stored definition.
    path.write_text(body.replace("AS $$\n", f"AS $$\n{text}\n", 1))


def _definition(engine: sa.Engine) -> str:
    with engine.connect() as connection:
        return connection.execute(
            sa.text("SELECT pg_get_functiondef(:name ::regproc)"), {"name": OBJECT}
        ).scalar_one()


def _head(project) -> str:
    return sorted(p.name[:4] for p in (project / "migrations" / "versions").glob("[0-9]*.py"))[-1]


def test_nothing_to_ship_is_an_error(project):
    with pytest.raises(SqlmlError, match="nothing to ship"):
        new_object_revision(project, "no change")


def test_a_revision_ships_one_changed_procedure_and_its_downgrade_restores_it(
        project, scratch_url):
    before = _head(project)
    _edit(project, MARK)
    assert objects.drift(project), "an edited procedure without a revision is drift"

    path = new_object_revision(project, "Mark runtime_info")
    revision = path.name[:4]
    assert int(revision) == int(before) + 1
    assert f'down_revision = "{before}"' in path.read_text()
    assert f"postgres ships: {OBJECT}." in path.read_text()  # its docstring names it
    shipped = sorted(p.name for p in (project / "migrations" / "objects" / revision).rglob("*.sql"))
    assert shipped == [f"{OBJECT}.sql"]
    assert objects.drift(project) == []

    engine = sa.create_engine(scratch_url)
    try:
        migrate(engine)
        assert MARK in _definition(engine)
        migrate(engine, before, downgrade=True)
        old = _definition(engine)
        assert MARK not in old
        previous = objects.latest_snapshots(project, "postgres", before=revision)[OBJECT]
        assert previous.text.split("$$")[1].strip() in old
        migrate(engine)
        assert MARK in _definition(engine)
    finally:
        engine.dispose()


def test_freeze_refreshes_an_unreleased_snapshot(project):
    _edit(project, MARK)
    revision = new_object_revision(project, "Mark runtime_info").name[:4]
    _edit(project, MARK + ", then amended")
    assert objects.drift(project), "the amended file differs from the snapshot"
    written = objects.freeze(project, revision)
    assert [p.name for p in written] == [f"{OBJECT}.sql"]
    assert objects.drift(project) == []
    snapshot = project / "migrations" / "objects" / revision / "postgres" / f"{OBJECT}.sql"
    assert "then amended" in snapshot.read_text()


def test_a_removed_object_is_listed_dropped_on_upgrade_and_kept_out_of_drift(project):
    # An object revision 0010 shipped, still live, that no later revision ships again
    # (a later one would bring it back into the latest snapshots).
    later = {name for revision in objects.revisions_with_snapshots(project) if revision > "0010"
             for name in objects.snapshot(project, revision, "postgres")}
    live = objects.live_objects(project, "postgres")
    gone = next(name for name in objects.snapshot(project, "0010", "postgres")
                if name in live and name not in later)
    live[gone].path.unlink()
    objects.freeze(project, "0010")
    listed = objects.removed(project, "0010", "postgres")
    assert gone in listed and "ops.train_py" in listed
    assert not (project / "migrations" / "objects" / "0010" / "postgres"
                / f"{gone}.sql").exists()
    assert gone not in objects.latest_snapshots(project, "postgres")
    assert objects.drift(project) == []


def test_a_portable_view_ships_rendered_for_each_engine(project, scratch_url):
    """One file under sql/portable/ is two objects, each snapshotted, compared and
    deployed as its engine replaces a view."""
    view = "models.drift"
    path = project / "sql" / "portable" / f"{view}.sql"
    path.write_text(path.read_text().replace("-- Read by", "-- Read (amended) by"))
    assert len(objects.drift(project)) == 2, "both engines' definitions changed"
    revision = new_object_revision(project, "Amend drift").name[:4]
    for engine, create in objects.REPLACE_VIEW.items():
        frozen = project / "migrations" / "objects" / revision / engine / f"{view}.sql"
        assert frozen.read_text() == objects.render(path.read_text(), engine)
        assert f"{create}{view} AS" in frozen.read_text() and "(amended)" in frozen.read_text()
    assert objects.drift(project) == []

    engine = sa.create_engine(scratch_url)
    try:
        migrate(engine)
        with engine.connect() as connection:
            assert connection.execute(sa.text(
                "SELECT count(*) FROM models.drift")).scalar_one() == 0
    finally:
        engine.dispose()


def test_an_object_written_twice_or_a_portable_one_that_is_not_a_view_is_refused(project):
    twin = project / "sql" / "postgres" / "models.drift.sql"
    twin.write_text(objects.render(
        (project / "sql" / "portable" / "models.drift.sql").read_text(), "postgres"))
    with pytest.raises(SqlmlError, match="models.drift is defined twice"):
        objects.live_objects(project, "postgres")
    twin.unlink()
    (project / "sql" / "portable" / "ops.x.sql").write_text(
        "CREATE VIEW ops.x AS SELECT 1 AS one;\nCREATE VIEW ops.y AS SELECT 2 AS two;\n")
    with pytest.raises(SqlmlError, match="one 'CREATE VIEW"):
        objects.live_objects(project, "mssql")
