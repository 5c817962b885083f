"""Issue 22, finding 3 for sqlml spark on PostgreSQL: ml.check_input_query, the check
the Spark job makes before Spark's JDBC source embeds its query in
``SELECT ... FROM (<query>) AS sqlml_input``: the readers' rule
(sqlml.adapters.pg_reader.check_query), by PostgreSQL's parser, running nothing.
The readers' own refusals are in tests/test_input_integrity_postgres.py."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from sql_helpers import count
from test_input_integrity_postgres import BREAKOUTS

pytestmark = pytest.mark.postgres


@pytest.fixture
def probe(db):
    with db.begin() as c:
        c.exec_driver_sql("DROP TABLE IF EXISTS public.probe")
        c.exec_driver_sql("CREATE TABLE public.probe (n int)")
        c.exec_driver_sql("INSERT INTO public.probe VALUES (1), (2)")
        c.exec_driver_sql("DROP SEQUENCE IF EXISTS public.probe_seq")
        c.exec_driver_sql("CREATE SEQUENCE public.probe_seq")
    yield db
    with db.begin() as c:
        c.exec_driver_sql("DROP TABLE public.probe; DROP SEQUENCE public.probe_seq")


def check(engine, query: str, role: str | None = None):
    with engine.begin() as c:
        if role:
            c.exec_driver_sql(f"SET LOCAL ROLE {role}")
        return c.execute(sa.text("SELECT ml.check_input_query(input_query => :q)"),
                         {"q": query}).scalar_one()


@pytest.mark.parametrize("query", BREAKOUTS)
def test_a_query_that_is_not_exactly_one_query_is_refused_and_nothing_runs(probe, query):
    with pytest.raises(sa.exc.DBAPIError, match="input_query|syntax error|multiple commands"):
        check(probe, query)
    assert count(probe, "public.probe") == 2
    with probe.connect() as c:
        assert c.execute(sa.text("SELECT last_value, is_called FROM public.probe_seq")).one() \
            == (1, False)


def test_refusals_name_input_query_and_point_into_its_own_text(probe):
    with pytest.raises(sa.exc.DBAPIError,
                       match=r"input_query has a syntax error at character 14: syntax error "
                             r"at or near \"\)\""):
        check(probe, BREAKOUTS[0])
    with pytest.raises(sa.exc.DBAPIError, match="input_query must be exactly one query"):
        check(probe, "SELECT 1 AS x; DELETE FROM public.probe")


@pytest.mark.parametrize("query", [
    "SELECT * FROM features.churn_features",
    "SELECT * FROM features.churn_features;  ",
    "SELECT customer_id FROM features.churn_features -- a comment at the end",
    "WITH c AS (SELECT customer_id FROM features.churn_features) SELECT * FROM c",
    "SELECT 'a) AS q; DELETE FROM public.probe; --' AS customer_id",
])
def test_one_query_passes_as_the_spark_role(db, query):
    assert check(db, query, role="sqlml_spark") is True


def test_the_spark_role_and_operators_may_call_it_analysts_not(db):
    with db.connect() as c:
        granted = c.execute(sa.text(
            "SELECT pg_catalog.has_function_privilege(r, 'ml.check_input_query(text)', "
            "'EXECUTE') FROM unnest(ARRAY['sqlml_spark', 'sqlml_operator', 'sqlml_analyst'])"
            " AS r")).scalars().all()
    assert granted == [True, True, False]


def test_an_empty_query_is_refused(db):
    with pytest.raises(sa.exc.DBAPIError, match="input_query is empty"):
        check(db, "   ")
