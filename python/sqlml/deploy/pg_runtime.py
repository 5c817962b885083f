"""The in-database Python runtime: sqlml and its dependencies for the server's Python.

PL/Python runs the server's own interpreter (Debian's ``python3``), never our
``.venv``; SQL Server runs the Python of its ML Services or language extension.
Either way the code that runs inside the database needs its packages installed
*for that interpreter*. A runtime is a plain site directory built with
``pip install --target`` for the server's Python version, plus a copy of the
``sqlml`` package, readable by the server's OS user.

The third-party part is rebuilt only when the requirements or the Python version
change (a stamp file records both); the ``sqlml`` copy is refreshed on every
deploy, which takes a fraction of a second.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from sqlml import progress
from sqlml.errors import EngineError
from sqlml.paths import package_dir

REQUIREMENTS = package_dir() / "requirements-runtime.txt"
STAMP = ".sqlml-runtime.json"


def python_tag(version: str) -> str:
    """``3.11.2`` -> ``cp311``: the folder name of a runtime for that Python."""
    major, minor = version.split(".")[:2]
    return f"cp{major}{minor}"


def _fingerprint(version: str) -> str:
    major_minor = ".".join(version.split(".")[:2])
    blob = REQUIREMENTS.read_bytes() + major_minor.encode()
    return hashlib.sha256(blob).hexdigest()


def is_current(target: Path, version: str) -> bool:
    stamp = target / STAMP
    if not stamp.is_file():
        return False
    return json.loads(stamp.read_text()).get("fingerprint") == _fingerprint(version)


def build(target: Path, version: str, log=print) -> Path:
    """Make ``target`` a runtime for Python ``version``; idempotent."""
    target = Path(target)
    if not is_current(target, version):
        _install_requirements(target, version, log)
        _make_readable(target)
    _copy_package(target)
    return target


def _install_requirements(target: Path, version: str, log) -> None:
    major_minor = ".".join(version.split(".")[:2])
    log(f"runtime: installing {REQUIREMENTS.name} for Python {major_minor} into {target} ...")
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".building-", dir=target.parent))
    cmd = [
        sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
        "--target", str(staging), "--python-version", major_minor, "--only-binary=:all:",
        "-r", str(REQUIREMENTS),
    ]
    with progress.ticker("runtime: pip install", lambda: progress.folder_megabytes(staging)):
        proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        shutil.rmtree(staging, ignore_errors=True)
        raise EngineError(
            f"could not build the in-database runtime for Python {major_minor}:\n"
            f"{proc.stderr.strip()[-2000:]}"
        )
    (staging / STAMP).write_text(
        json.dumps({"python": major_minor, "fingerprint": _fingerprint(version)})
    )
    # Swap in the finished build, so a failed or interrupted build never leaves
    # a half-installed runtime where the server looks.
    if target.exists():
        shutil.rmtree(target)
    staging.rename(target)


def _copy_package(target: Path) -> None:
    """Replace ``target/sqlml`` with this package; safe while others deploy too."""
    destination = target / "sqlml"
    fresh = Path(tempfile.mkdtemp(prefix=".sqlml-new-", dir=target)) / "sqlml"
    shutil.copytree(package_dir(), fresh, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    _make_readable(fresh.parent)
    retired = Path(tempfile.mkdtemp(prefix=".sqlml-old-", dir=target))
    if destination.exists():
        destination.rename(retired / "sqlml")
    fresh.rename(destination)
    shutil.rmtree(fresh.parent, ignore_errors=True)
    shutil.rmtree(retired, ignore_errors=True)


def _make_readable(tree: Path) -> None:
    """The server runs as its own OS user (postgres, mssql): let it read and traverse,
    and let no one but the owner write (the server refuses a runtime others can write)."""
    for dirpath, _dirnames, filenames in os.walk(tree):
        os.chmod(dirpath, (os.stat(dirpath).st_mode | 0o555) & ~0o022)
        for name in filenames:
            path = os.path.join(dirpath, name)
            os.chmod(path, (os.stat(path).st_mode | 0o444) & ~0o022)
