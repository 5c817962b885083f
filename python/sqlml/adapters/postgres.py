"""The PostgreSQL adapter: runs inside PL/Python, with the session's ``plpy``.

Each function here is called from one ``plpython3u`` procedure body, after
``ops.use_python_runtime()`` has put sqlml on ``sys.path``. It turns what PL/Python
hands over into DataFrames, calls ``sqlml.entrypoints``, and turns the result
back into rows PL/Python can return.
"""

from __future__ import annotations

import pandas as pd

from sqlml import entrypoints


def rows(frame: pd.DataFrame) -> list[tuple]:
    """A frame as PL/Python's set-returning functions want it, NaN as NULL."""
    clean = frame.astype(object).where(frame.notna(), None)
    return list(clean.itertuples(index=False, name=None))


def runtime_info(plpy) -> list[tuple]:
    return rows(entrypoints.runtime_info())
