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
"""

from sqlml.deploy.objects import replaceable_objects

revision = "{revision}"
down_revision = "{down_revision}"

upgrade, downgrade = replaceable_objects(revision)
'''


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
    slug = re.sub(r"[^a-z0-9]+", "_", message.lower()).strip("_")[:40]
    path = versions / f"{revision}_{slug}.py"
    path.write_text(
        TEMPLATE.format(
            message=message, revision=revision, down_revision=down, date=dt.date.today()
        )
    )
    return path
