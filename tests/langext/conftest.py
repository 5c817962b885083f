"""Fixtures of the ``langext`` tests: the prebuilt language extension, unpacked once.

Without the prebuilt (``SQLML_LANGEXT_DIST``, default ``../shared/langext/*.tar.gz``)
or without the libpython it links against, every test here is skipped with the reason.
"""

from __future__ import annotations

import ctypes.util

import pytest

from .host import LanguageExtension, Unavailable, find_dist, unpack


@pytest.fixture(scope="session")
def langext(tmp_path_factory) -> LanguageExtension:
    try:
        dist = find_dist()
        if ctypes.util.find_library("python3.11") is None:
            raise Unavailable("libpython3.11 is not installed (make setup installs it)")
        library = unpack(dist, tmp_path_factory.mktemp("langext"))
    except Unavailable as exc:
        pytest.skip(str(exc))
    return LanguageExtension(library)
