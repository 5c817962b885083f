"""Contract of procedures/mssql/ml.runtime_info.sql: no input, one result set of versions."""

import pytest

import sqlml

from .harness import run_contract

pytestmark = pytest.mark.tsql_contract


def test_runtime_info_returns_the_versions_its_result_set_declares(profile):
    outcome = run_contract("ml.runtime_info", profile=profile)
    versions = dict(zip(outcome.output["component"], outcome.output["version"], strict=True))
    assert versions["sqlml"] == sqlml.__version__
    assert versions["python"].startswith("3.")
    assert outcome.output["component"].dtype == object  # what the language extension reads
