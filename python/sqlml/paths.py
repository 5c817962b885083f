"""Where things are: the project checkout and the local state directory.

The SQL files (``migrations/``, ``procedures/``, ``sql/``) ship beside the
package rather than inside it, so the client finds the checkout by walking up
from this file, or from ``SQLML_HOME`` when the package is installed elsewhere
(the docker image does that).
"""

from __future__ import annotations

import os
from pathlib import Path

from sqlml.errors import SqlmlError


def project_root() -> Path:
    """The directory holding ``migrations/``, ``procedures/`` and ``sql/``."""
    env = os.environ.get("SQLML_HOME")
    here, cwd = Path(__file__).resolve(), Path.cwd().resolve()
    candidates = ([Path(env)] if env else []) + list(here.parents) + [cwd, *cwd.parents]
    for path in candidates:
        if (path / "migrations" / "env.py").is_file() and (path / "procedures").is_dir():
            return path
    raise SqlmlError(
        "cannot find the sqlml project (migrations/, procedures/, sql/): "
        "run from the checkout or set SQLML_HOME to it"
    )


def state_dir() -> Path:
    """Local, git-ignored state: the embedded engine, the in-database runtime."""
    env = os.environ.get("SQLML_STATE_DIR")
    return Path(env).resolve() if env else project_root() / ".sqlml"


def package_dir() -> Path:
    """The ``sqlml`` package itself: what deploy copies into a database's runtime."""
    return Path(__file__).resolve().parent
