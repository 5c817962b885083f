"""``sqlml objects revision``: a new Alembic revision that ships changed objects.

Writes ``migrations/versions/<NNNN>_<slug>.py`` (upgrade applies the snapshot,
downgrade restores the previous definitions) and freezes every procedure or
view file that differs from its latest snapshot into
``migrations/objects/<NNNN>/``. Edit the docstring to say why.
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

from sqlml.deploy import objects
from sqlml.errors import SqlmlError

TEMPLATE = '''"""{message}

Revision ID: {revision}
Revises: {down_revision}
Create Date: {date}

Why: <say why this change exists; the title says what>.
Definitions: migrations/objects/{revision}/ (see sqlml/deploy/objects.py).
{shipped}
"""

from sqlml.deploy.objects import replaceable_objects

revision = "{revision}"
down_revision = "{down_revision}"

upgrade, downgrade = replaceable_objects(revision)
'''


def shipped_lines(root: Path, revision: str) -> list[str]:
    """The docstring lines that name what ``revision`` ships and removes, per engine:
    a reader of the revision sees its objects without opening its snapshot folder
    (``tests/test_object_revisions.py`` holds every revision's docstring to it)."""
    lines = []
    for engine in objects.DIALECT_ENGINES.values():
        for label, names in (("ships", sorted(objects.snapshot(root, revision, engine))),
                             ("removes", objects.removed(root, revision, engine))):
            if names:
                lines.append(f"{engine} {label}: {', '.join(names)}.")
    return [line for text in lines for line in _wrapped(text)]


def _wrapped(text: str, width: int = 88) -> list[str]:
    import textwrap

    return textwrap.wrap(text, width, subsequent_indent="    ", break_on_hyphens=False)


def _head(versions: Path) -> str:
    ids = sorted(p.name.split("_", 1)[0] for p in versions.glob("[0-9][0-9][0-9][0-9]_*.py"))
    if not ids:
        raise SqlmlError(f"no revisions in {versions}")
    return ids[-1]


def new_object_revision(root: Path, message: str) -> Path:
    versions = root / "migrations" / "versions"
    down = _head(versions)
    revision = f"{int(down) + 1:04d}"
    written = objects.freeze(root, revision)
    if not written:
        raise SqlmlError("no procedure or view differs from its latest revision: nothing to ship")
    shipped = "\n".join(shipped_lines(root, revision))
    slug = re.sub(r"[^a-z0-9]+", "_", message.lower()).strip("_")[:40]
    path = versions / f"{revision}_{slug}.py"
    path.write_text(
        TEMPLATE.format(
            message=message, revision=revision, down_revision=down, date=dt.date.today(),
            shipped=shipped,
        )
    )
    return path
