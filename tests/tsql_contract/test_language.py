"""Every T-SQL procedure runs its Python in the language that deploy registers.

SQL Server reserves the name Python for Machine Learning Services, whose Python
cannot import sqlml's runtime; sqlml's runtime is the Python language extension,
registered by deploy as external language sqlml_python (sqlml.deploy.mssql_runtime).
"""

import pytest

from sqlml.deploy.mssql_runtime import LANGUAGE
from sqlml.paths import project_root

from .tsql import read_calls

pytestmark = pytest.mark.tsql_contract

PROCEDURES = sorted((project_root() / "procedures" / "mssql").glob("*.sql"))
CALLING = [path for path in PROCEDURES if read_calls(path)]


def test_procedures_use_the_registered_language():
    others = {
        path.name: call.language
        for path in CALLING for call in read_calls(path) if call.language != LANGUAGE
    }
    assert not others, f"@language must be N'{LANGUAGE}' in: {others}"
