"""Fixtures of the T-SQL contract tests."""

import pytest

from .sqltypes import PROFILES


@pytest.fixture(params=PROFILES)
def profile(request) -> str:
    """Each contract test runs under both ways SQL Server builds InputDataSet."""
    return request.param
