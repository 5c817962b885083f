"""The SQL Server adapter: what a procedure's ``@script`` calls.

SQL Server's ``sp_execute_external_script`` binds ``InputDataSet`` (a DataFrame
built from ``@input_data_1``), one Python variable per ``@params`` entry, and
reads back ``OutputDataSet``. Each ``@script`` is a single call into a function
here, which takes those variables as arguments and returns ``OutputDataSet``
with the exact columns of the procedure's ``WITH RESULT SETS``.
"""

from __future__ import annotations

import pandas as pd

from sqlml import entrypoints


def runtime_info() -> pd.DataFrame:
    return entrypoints.runtime_info()
