"""Wheels for a database server's Python: sqlml's own, and its pinned dependencies.

SQL Server installs Python packages per database with ``CREATE EXTERNAL LIBRARY``,
whose content is a zip holding one wheel; the Python runtime then runs
``pip install --no-deps`` on it into the database's library folder. This module
makes those zips: a wheel of this very package (pure Python, built here, byte for
byte the same for the same files, so a redeploy can tell that nothing changed), and
``pip download`` of the pinned requirements for the *server's* Python version and
platform, which need not be ours.
"""

from __future__ import annotations

import base64
import hashlib
import io
import re
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path

import sqlml
from sqlml.errors import EngineError
from sqlml.paths import package_dir

REQUIREMENTS = package_dir() / "requirements-runtime.txt"
# A fixed timestamp: identical files give identical zips.
_EPOCH = (2020, 1, 1, 0, 0, 0)
_WHEEL_NAME = re.compile(r"^(?P<name>[^-]+)-(?P<version>[^-]+)(-\d[^-]*)?-[^-]+-[^-]+-[^-]+\.whl$")


def canonical(name: str) -> str:
    """PEP 503 name: 'Scikit_Learn' -> 'scikit-learn'."""
    return re.sub(r"[-_.]+", "-", name).lower()


def pins(path: Path = REQUIREMENTS) -> dict[str, str]:
    """``name==version`` lines of a requirements file, by canonical name."""
    found = {}
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        name, sep, version = line.partition("==")
        if not sep:
            raise EngineError(f"{path.name}: {line!r} is not pinned (name==version)")
        found[canonical(name.split("[")[0].strip())] = version.strip()
    return found


@dataclass(frozen=True)
class Wheel:
    path: Path
    name: str  # canonical
    version: str


def parse_wheel(path: Path) -> Wheel:
    match = _WHEEL_NAME.match(path.name)
    if not match:
        raise EngineError(f"{path.name} is not a wheel file name")
    return Wheel(path, canonical(match["name"]), match["version"])


def _zip_bytes(members: list[tuple[str, bytes]]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members:
            info = zipfile.ZipInfo(name, date_time=_EPOCH)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            archive.writestr(info, data)
    return buffer.getvalue()


def _record_hash(data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=")
    return "sha256=" + digest.decode()


def sqlml_wheel() -> tuple[str, bytes]:
    """This package as a pure-Python wheel: (file name, bytes).

    Its metadata lists no dependencies: they are installed one library each, and
    the runtime installs every library with --no-deps anyway.
    """
    version = sqlml.__version__
    dist_info = f"sqlml-{version}.dist-info"
    root = package_dir()
    members = [
        (f"sqlml/{path.relative_to(root).as_posix()}", path.read_bytes())
        for path in sorted(root.rglob("*"))
        if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc"
    ]
    members += [
        (f"{dist_info}/METADATA",
         f"Metadata-Version: 2.1\nName: sqlml\nVersion: {version}\n"
         "Requires-Python: >=3.11\n".encode()),
        (f"{dist_info}/WHEEL",
         b"Wheel-Version: 1.0\nGenerator: sqlml.deploy.wheels\nRoot-Is-Purelib: true\n"
         b"Tag: py3-none-any\n"),
        (f"{dist_info}/top_level.txt", b"sqlml\n"),
    ]
    record = "".join(f"{name},{_record_hash(data)},{len(data)}\n" for name, data in members)
    record += f"{dist_info}/RECORD,,\n"
    members.append((f"{dist_info}/RECORD", record.encode()))
    return f"sqlml-{version}-py3-none-any.whl", _zip_bytes(members)


def library_content(wheel_name: str, wheel: bytes) -> bytes:
    """What CREATE EXTERNAL LIBRARY takes for Python: a zip with the wheel inside."""
    return _zip_bytes([(wheel_name, wheel)])


def platform_tags(platform: str, libc: tuple[str, str] | list[str]) -> list[str]:
    """pip ``--platform`` tags that run on a server reporting ``sysconfig.get_platform()``
    ``platform`` and ``platform.libc_ver()`` ``libc``."""
    if platform.startswith("win"):
        return ["win_amd64"] if platform.endswith("amd64") else [platform.replace("-", "_")]
    if not platform.startswith("linux-"):
        raise EngineError(f"no wheels for a server on {platform}: SQL Server runs on Linux "
                          "or Windows")
    arch = platform.split("-", 1)[1]
    family, version = (list(libc) + ["", ""])[:2]
    if family != "glibc" or not version:
        raise EngineError(f"the server's Python reports C library {family or 'unknown'}; "
                          "manylinux wheels need glibc")
    major, minor = (int(part) for part in version.split(".")[:2])
    tags = [f"manylinux_{major}_{m}_{arch}" for m in range(minor, 16, -1)]
    tags += [f"manylinux2014_{arch}"]
    if arch in ("x86_64", "i686"):
        tags += [f"manylinux2010_{arch}", f"manylinux1_{arch}"]
    return tags + [f"linux_{arch}"]


def download_command(python_version: str, tags: list[str], dest: Path,
                     requirements: Path = REQUIREMENTS) -> list[str]:
    """``pip download`` of the pinned requirements and everything they need, as wheels
    for another interpreter: ``python_version`` (3.12) on ``tags``."""
    major, minor = python_version.split(".")[:2]
    command = [
        sys.executable, "-m", "pip", "download", "--quiet", "--disable-pip-version-check",
        "--only-binary=:all:", "--dest", str(dest),
        "--python-version", f"{major}.{minor}", "--implementation", "cp",
        "--abi", f"cp{major}{minor}", "--abi", "abi3", "--abi", "none",
    ]
    for tag in tags:
        command += ["--platform", tag]
    return command + ["-r", str(requirements)]


def download(python_version: str, tags: list[str], dest: Path, log=print) -> list[Wheel]:
    dest.mkdir(parents=True, exist_ok=True)
    log(f"runtime: downloading wheels for Python {python_version} ({tags[0]}) ...")
    proc = subprocess.run(download_command(python_version, tags, dest),
                          capture_output=True, text=True)
    if proc.returncode != 0:
        raise EngineError(
            f"pip could not download the runtime's wheels for Python {python_version} on "
            f"{tags[0]}:\n{proc.stderr.strip()[-2000:]}"
        )
    return [parse_wheel(path) for path in sorted(dest.glob("*.whl"))]
