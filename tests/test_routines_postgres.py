"""The deployed PostgreSQL catalog against the routines' manifest (issue 23): what
``sqlml deploy`` created in schema ml is what ``sqlml.routines.ROUTINES`` declares,
parameter by parameter (name, type, default) and column by column. The files are held
to it without a database by ``tests/test_routine_manifest.py``; this holds what the
migrations actually deployed."""

import re

import pytest
import sqlalchemy as sa

from sqlml.routines import ROUTINES

pytestmark = pytest.mark.postgres


def split(text: str) -> list[str]:
    return [p.strip() for p in re.split(r",\s*(?![^()]*\))", text) if p.strip()]


@pytest.fixture(scope="module")
def catalog(pg_engine) -> dict[str, tuple[str, str, list]]:
    """ml's functions: name -> (arguments, result, the result type's columns if any)."""
    with pg_engine.connect() as connection:
        rows = connection.execute(sa.text(
            "SELECT p.proname, pg_get_function_arguments(p.oid) AS arguments,"
            " pg_get_function_result(p.oid) AS result,"
            " (SELECT array_agg(a.attname || ' ' || format_type(a.atttypid, a.atttypmod)"
            "         ORDER BY a.attnum)"
            "  FROM pg_attribute AS a WHERE a.attrelid = t.typrelid AND a.attnum > 0"
            "  AND NOT a.attisdropped) AS columns"
            " FROM pg_proc AS p JOIN pg_type AS t ON t.oid = p.prorettype"
            " WHERE p.pronamespace = 'ml'::regnamespace")).all()
    return {r.proname: (r.arguments, r.result, r.columns or []) for r in rows}


def test_schema_ml_holds_exactly_the_manifests_routines(catalog):
    assert set(catalog) == set(ROUTINES)


@pytest.mark.parametrize("name", sorted(ROUTINES))
def test_each_deployed_routine_is_its_manifest_entry(catalog, name):
    routine = ROUTINES[name]
    arguments, result, columns = catalog[name]
    declared = []
    for argument in split(arguments):
        found = re.fullmatch(r"(\w+) (.+?)(?: DEFAULT (.+))?", argument)
        default = found[3] and re.sub(r"::[\w ]+$", "", found[3]).strip("'").lower()
        declared.append((found[1], found[2], default))
    assert declared == [(p.name, p.type.postgres, p.default_sql("postgres") and
                         p.default_sql("postgres").lower()) for p in routine.params]
    if result.startswith("TABLE("):
        columns = split(result[len("TABLE("):-1])
    elif not result.startswith("SETOF "):
        columns = [f"{routine.result[0].name} {result}"]  # a scalar, named by the caller
    assert columns == [f"{c.name} {c.type.postgres}" for c in routine.result]
