"""Fixtures of the ``langext`` tests: the prebuilt language extension, unpacked once.

Without the prebuilt (``SQLML_LANGEXT_DIST``, default ``../shared/langext/*.tar.gz``)
or where this machine cannot load it (its libpython3.11, which ``make setup``
installs), every test here is skipped with the one-line reason.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

from .host import LanguageExtension, Unavailable, find_dist, unpack

LOADS = "import ctypes, sys, numpy, pandas; ctypes.PyDLL(sys.argv[1])"


@pytest.fixture(scope="session")
def langext(tmp_path_factory) -> LanguageExtension:
    try:
        library = unpack(find_dist(), tmp_path_factory.mktemp("langext"))
        # In a process of its own, as every session runs: loading it runs nothing.
        loaded = subprocess.run([sys.executable, "-c", LOADS, str(library)],
                                capture_output=True, text=True, timeout=120)
        if loaded.returncode != 0:
            reason = (loaded.stderr.strip().splitlines() or ["no reason given"])[-1]
            raise Unavailable(f"the prebuilt language extension does not load: {reason} "
                              "(make setup installs libpython3.11)")
    except Unavailable as exc:
        pytest.skip(str(exc))
    return LanguageExtension(library)
