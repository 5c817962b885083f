"""Replaceable objects (procedures, functions, views) versioned by Alembic.

The files under ``procedures/<engine>/``, ``sql/<engine>/<schema>.<object>.sql`` and
``sql/portable/<schema>.<object>.sql`` are the current definitions, one object per
file. A view whose SQL is the same on both engines is written once, under
``sql/portable/``, as a plain ``CREATE VIEW`` that parses as T-SQL and as PostgreSQL;
:func:`render` turns it into each engine's replaceable form (``CREATE OR ALTER VIEW``,
``CREATE OR REPLACE VIEW``), and everything below (snapshots, drift, deploy) sees
only that rendered text (a view whose text differs by engine keeps a file per engine).
They ship through Alembic, the way the Alembic cookbook's "replaceable objects"
recipe does, so that an upgrade and a downgrade move procedures, views and tables
together:

* A revision that adds or changes objects has a snapshot folder,
  ``migrations/objects/<revision>/<engine>/<schema>.<object>.sql``, holding the
  exact text it deploys (a portable view as rendered for that engine). A snapshot
  may be refreshed in place (``sqlml objects freeze``) only while its revision is
  unreleased; **released** means it has landed on ``main``, where any database may
  have run it. After that a change to an object is a new revision, so that every
  database that ran the old one gets the change and a downgrade can find the old
  text.
* ``upgrade()`` calls :func:`apply_snapshot`: every file of the revision's
  snapshot is executed (``CREATE OR REPLACE`` / ``CREATE OR ALTER``).
* ``downgrade()`` calls :func:`revert_snapshot`: each object goes back to the
  newest earlier snapshot that has it, or is dropped if none has.
* An object removed from ``procedures/`` is named in its revision's snapshot file
  ``REMOVED`` (one ``schema.object`` a line): upgrade drops it, downgrade restores
  its previous definition.
* A drift test (:func:`drift`) fails when a live file differs from the newest
  snapshot of that object, so a change to a procedure cannot reach ``main``
  without the revision that ships it. ``sqlml objects revision -m "..."`` writes
  that revision and its snapshot.

On Babelfish, the T-SQL engine of the tests, a view is replaced by DROP and CREATE
(gap 1), which would lose its descriptions (``MS_Description``; SQL Server's ALTER
keeps them): ``tsql_batches.execute`` reads them first and adds them back, so a
revision that describes a view may be followed by one that replaces it, on both.

Setup scripts (roles, grants, jobs, server settings) are named ``NN_*.sql``, are
idempotent, and run on every ``sqlml deploy`` after the migrations; they are not
objects and are not snapshotted.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from sqlml.errors import SqlmlError

OBJECT_FILE = re.compile(r"^[a-z][a-z0-9_]*\.[a-z][a-z0-9_]*\.sql$")
SETUP_FILE = re.compile(r"^\d\d_[a-z0-9_]+\.sql$")
_CREATE = re.compile(
    r"^\s*CREATE\s+(?:OR\s+(?:REPLACE|ALTER)\s+)?(FUNCTION|PROCEDURE|PROC|VIEW)\s+([\w.\[\]\"]+)",
    re.IGNORECASE | re.MULTILINE,
)
DIALECT_ENGINES = {"postgresql": "postgres", "mssql": "mssql"}
PORTABLE = "portable"  # sql/portable/: views written once for both engines
# A portable view's one engine-specific word: how it replaces an existing view.
_PORTABLE_CREATE = re.compile(r"^CREATE VIEW (?=\S)", re.MULTILINE)
REPLACE_VIEW = {"mssql": "CREATE OR ALTER VIEW ", "postgres": "CREATE OR REPLACE VIEW "}


@dataclass(frozen=True)
class SqlObject:
    path: Path
    engine: str
    name: str  # schema.object, from the file name
    kind: str  # FUNCTION, PROCEDURE or VIEW

    @property
    def text(self) -> str:
        """What is deployed: the file, or a portable view rendered for ``engine``."""
        text = self.path.read_text(encoding="utf-8")
        return render(text, self.engine) if self.path.parent.name == PORTABLE else text

    def drop_statement(self) -> str:
        return f"DROP {self.kind} IF EXISTS {self.name}"


def render(text: str, engine: str) -> str:
    """A portable view's text for ``engine``: its one ``CREATE VIEW`` (at the start
    of a line) made the engine's create-or-replace; nothing else changes."""
    rendered, count = _PORTABLE_CREATE.subn(REPLACE_VIEW[engine], text)
    if count != 1:
        raise SqlmlError(f"a portable view has one 'CREATE VIEW <schema>.<view>' line, "
                         f"not {count}")
    return rendered


def parse(path: Path, engine: str) -> SqlObject:
    if not OBJECT_FILE.match(path.name):
        raise SqlmlError(f"{path}: object files are named <schema>.<object>.sql")
    text = path.read_text(encoding="utf-8")
    if path.parent.name == PORTABLE:
        try:
            text = render(text, engine)
        except SqlmlError as exc:
            raise SqlmlError(f"{path}: {exc}") from exc
    match = _CREATE.search(text)
    if not match:
        raise SqlmlError(f"{path}: no CREATE FUNCTION, PROCEDURE or VIEW statement found")
    kind = "PROCEDURE" if match.group(1).upper() == "PROC" else match.group(1).upper()
    declared = match.group(2).replace("[", "").replace("]", "").replace('"', "").lower()
    name = path.name[: -len(".sql")]
    if declared != name:
        raise SqlmlError(f"{path}: the file creates {declared}, but its name says {name}")
    return SqlObject(path=path, engine=engine, name=name, kind=kind)


def portable_files(root: Path) -> list[Path]:
    """sql/portable/<schema>.<object>.sql: the views written once for both engines."""
    return sorted((root / "sql" / PORTABLE).glob("*.sql"))


def live_objects(root: Path, engine: str) -> dict[str, SqlObject]:
    """The current definitions: procedures/<engine>/*.sql, sql/<engine>/<schema>.<object>.sql
    and sql/portable/<schema>.<object>.sql (rendered for ``engine``); each object is
    defined in one of them only."""
    files = sorted((root / "procedures" / engine).glob("*.sql"))
    files += [p for p in sorted((root / "sql" / engine).glob("*.sql")) if OBJECT_FILE.match(p.name)]
    files += portable_files(root)
    live: dict[str, SqlObject] = {}
    for obj in (parse(p, engine) for p in files):
        if obj.name in live:
            raise SqlmlError(f"{obj.name} is defined twice: {live[obj.name].path} and {obj.path}")
        if obj.path.parent.name == PORTABLE and obj.kind != "VIEW":
            raise SqlmlError(f"{obj.path}: only views are portable")
        live[obj.name] = obj
    return live


def setup_scripts(root: Path, engine: str) -> list[Path]:
    """sql/<engine>/NN_*.sql, in the order of their numbers."""
    return [p for p in sorted((root / "sql" / engine).glob("*.sql")) if SETUP_FILE.match(p.name)]


def snapshots_root(root: Path) -> Path:
    return root / "migrations" / "objects"


def snapshot(root: Path, revision: str, engine: str) -> dict[str, SqlObject]:
    folder = snapshots_root(root) / revision / engine
    return {obj.name: obj for obj in (parse(p, engine) for p in sorted(folder.glob("*.sql")))}


REMOVED = "REMOVED"


def removed(root: Path, revision: str, engine: str) -> list[str]:
    """The objects ``revision`` removes (its snapshot's ``REMOVED`` file)."""
    path = snapshots_root(root) / revision / engine / REMOVED
    if not path.is_file():
        return []
    lines = (line.split("#", 1)[0].strip() for line in path.read_text().splitlines())
    return [line for line in lines if line]


def revisions_with_snapshots(root: Path) -> list[str]:
    # Revision ids are zero-padded sequence numbers (alembic --rev-id 0004), and
    # the history is linear (a test holds one head), so name order is history order.
    return sorted(p.name for p in snapshots_root(root).iterdir() if p.is_dir())


def latest_snapshots(root: Path, engine: str, before: str | None = None) -> dict[str, SqlObject]:
    """Each object's newest snapshot, among revisions older than ``before`` if given."""
    latest: dict[str, SqlObject] = {}
    for revision in revisions_with_snapshots(root):
        if before is not None and revision >= before:
            break
        latest.update(snapshot(root, revision, engine))
        for name in removed(root, revision, engine):
            latest.pop(name, None)
    return latest


def drift(root: Path) -> list[str]:
    """Problems that would ship a definition no revision deploys; empty when in sync."""
    problems = []
    for engine in DIALECT_ENGINES.values():
        live = live_objects(root, engine)
        shipped = latest_snapshots(root, engine)
        for name, obj in live.items():
            if name not in shipped:
                problems.append(f"{obj.path}: no revision deploys it")
            elif shipped[name].text != obj.text:
                problems.append(f"{obj.path}: differs from {shipped[name].path}")
        for name, obj in shipped.items():
            if name not in live:
                problems.append(f"{obj.path}: deployed by a revision, but the live file is gone")
    return problems


def freeze(root: Path, revision: str, names: list[str] | None = None) -> list[Path]:
    """Write live definitions (as deployed: rendered for the engine) into ``revision``'s
    snapshot; all changed ones unless ``names``."""
    written = []
    for engine in DIALECT_ENGINES.values():
        shipped = latest_snapshots(root, engine, before=revision)
        shipped.update(snapshot(root, revision, engine))
        live = live_objects(root, engine)
        gone = sorted(set(shipped) - set(live)) if names is None else []
        if gone:
            target = snapshots_root(root) / revision / engine / REMOVED
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text("".join(f"{name}\n" for name in gone))
            for name in gone:
                (target.parent / f"{name}.sql").unlink(missing_ok=True)
            written.append(target)
        for name, obj in live.items():
            changed = name not in shipped or shipped[name].text != obj.text
            if (names is None and changed) or (names is not None and name in names):
                target = snapshots_root(root) / revision / engine / obj.path.name
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_text(obj.text, encoding="utf-8")
                written.append(target)
    return written


# --- used by Alembic revisions -------------------------------------------------


def _root() -> Path:
    from sqlml.paths import project_root

    return project_root()


def _execute(sql: str) -> None:
    """Run one object's definition verbatim: no bind-parameter parsing of its
    colons or percent signs, which PL/Python and T-SQL bodies are full of."""
    from alembic import op

    ctx = op.get_context()
    if ctx.as_sql:
        text = sql.strip()
        ctx.impl.static_output(text if text.endswith(";") else text + ctx.impl.command_terminator)
        _end_batch()
        return
    bind = op.get_bind()
    if bind.dialect.name == "mssql":
        from sqlml.deploy import tsql_batches

        tsql_batches.execute(bind, sql)  # session options; Babelfish's CREATE OR ALTER
        return
    bind.exec_driver_sql(sql, execution_options={"no_parameters": True})


def execute(sql: str) -> None:
    """For revisions: one statement run as deploy runs objects (on SQL Server: the
    session options, and the translations Babelfish needs; offline: its own batch)."""
    _execute(sql)


def recreate_latest(name: str, through: str | None = None) -> None:
    """For revisions: create object ``name`` again from its newest snapshot, or, with
    ``through`` (the calling revision's id), from the newest up to that revision: a
    later definition may read a column that only a later revision adds."""
    before = None if through is None else f"{int(through) + 1:04d}"
    _execute(latest_snapshots(_root(), _engine(), before=before)[name].text)


def _end_batch() -> None:
    """Offline T-SQL: CREATE PROCEDURE / VIEW must be alone in its batch, so
    each object is fenced by the batch separator (``GO``)."""
    from alembic import op

    ctx = op.get_context()
    separator = getattr(ctx.impl, "batch_separator", None)
    if ctx.as_sql and separator:
        ctx.impl.static_output(separator)


def _engine() -> str:
    from alembic import op

    return DIALECT_ENGINES[op.get_context().dialect.name]


def apply_snapshot(revision: str) -> None:
    """Upgrade: drop the objects ``revision`` removes, then create or replace every
    object in its snapshot."""
    root, engine = _root(), _engine()
    previous = latest_snapshots(root, engine, before=revision)
    _end_batch()
    for name in removed(root, revision, engine):
        if name in previous:
            _execute(previous[name].drop_statement())
    for obj in snapshot(root, revision, engine).values():
        _execute(obj.text)


def revert_snapshot(revision: str) -> None:
    """Downgrade: restore each object of ``revision`` to its previous definition."""
    root, engine = _root(), _engine()
    previous = latest_snapshots(root, engine, before=revision)
    _end_batch()
    for name, obj in reversed(snapshot(root, revision, engine).items()):
        _execute(previous[name].text if name in previous else obj.drop_statement())
    for name in removed(root, revision, engine):
        if name in previous:
            _execute(previous[name].text)


def replaceable_objects(revision: str):
    """``upgrade, downgrade`` of a revision that only ships objects: its module says
    ``upgrade, downgrade = replaceable_objects(revision)``."""

    def upgrade() -> None:
        apply_snapshot(revision)

    def downgrade() -> None:
        revert_snapshot(revision)

    return upgrade, downgrade
