"""Issue 22, finding 8 on T-SQL: the docs' ```tsql and ```sql examples that only read
run on Babelfish against a deployed database (tests/doc_examples.py; the others are
parsed in tests/test_docs_sql.py: they call procedures whose Python Babelfish cannot
run, or configure a server)."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from doc_examples import examples

pytestmark = pytest.mark.babelfish

READS = [e for e in examples() if e.language in ("tsql", "sql") and e.reads_only
         and not e.parse_only]


def test_there_are_reads_to_run():
    assert len(READS) >= 8


@pytest.mark.parametrize("example", READS, ids=lambda e: e.label)
def test_every_read_example_runs_on_babelfish(bf, example):
    with bf.connect() as connection:
        for statement in example.statements:
            try:
                connection.exec_driver_sql(statement.replace("%", "%%")).all()
            except sa.exc.DBAPIError as exc:
                pytest.fail(f"{example.label}: {statement!r} failed on Babelfish: {exc.orig}")
