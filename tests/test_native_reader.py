"""The native column reader (ops.column_payloads, procedures/postgres/native/): it reads
exactly what the string_agg reader reads, and it is only ever an accelerator."""

import json
import math

import pytest
import sqlalchemy as sa
from sqlalchemy.pool import NullPool

from sqlml.adapters import pg_native, text_payload
from sqlml.deploy import migrate, native

pytestmark = pytest.mark.postgres

# Every type the reader meets: integers, reals, numeric, booleans, dates and times,
# categories (multi-byte, blank, NULL), varchar, padded char, free text, an id; and
# text at the edges of what the aggregate codes itself: 64 and 65 distinct values,
# values of 32 and 33 bytes, a value holding the NULL mark, and values of every length
# up to 32 bytes that differ from another of the same length in one byte.
TYPES = """
SELECT g AS id, g::int2 AS small, (g * 1000003)::int8 AS big, (g / 7.0)::float4 AS real4,
    g / 3.0::float8 AS dbl, (g / 7.0)::numeric(12, 4) AS num,
    CASE WHEN g % 4 = 0 THEN NULL ELSE g % 2 = 0 END AS flag,
    DATE '2020-01-01' + g AS day,
    TIMESTAMPTZ '2021-03-04 05:06:07.891+00' + g * INTERVAL '1 hour' AS ts,
    (ARRAY['Yes', 'No', 'Fiber optic', 'Ünïcødé ✓', '', NULL])[g % 6 + 1] AS cat,
    ((ARRAY['a', 'bb'])[g % 2 + 1])::varchar(5) AS vc,
    ((ARRAY['x', 'yy'])[g % 2 + 1])::char(4) AS pad,
    'free text ' || g AS free, CASE WHEN g % 9 = 0 THEN NULL ELSE g END AS maybe,
    CASE WHEN g % 5 = 0 THEN 'Infinity'::float8 WHEN g % 5 = 1 THEN NULL ELSE -g END AS odd,
    'v' || g % 64 AS d64, 'v' || g % 65 AS d65,
    CASE WHEN g % 2 = 0 THEN repeat('é', 16) ELSE 'y' END AS w32,
    CASE WHEN g % 2 = 0 THEN repeat('x', 33) ELSE 'y' END AS w33,
    CASE WHEN g % 3 = 0 THEN 'a' || chr(30) || 'b' ELSE 'c' END AS rs,
    (SELECT array_agg(v ORDER BY v) FROM (
        SELECT left(repeat('abcdefghij', 4), k) || m AS v
        FROM generate_series(0, 31) AS k, unnest(ARRAY['', 'x']) AS m
        UNION SELECT overlay(left(repeat('abcdefghij', 4), k) PLACING 'Z' FROM k / 2 + 1)
        FROM generate_series(1, 32) AS k) AS l)[g % 60 + 1] AS lengths
FROM generate_series(1, {rows}) AS g
"""

BOTH_READERS = """
CREATE FUNCTION pg_temp.both_readers(query text) RETURNS text LANGUAGE plpython3u AS $$
plpy.execute("SELECT ops.use_python_runtime()")
import json, math
from sqlml.adapters import pg_native, pg_reader
wrapped = pg_reader.wrap_query(query)
names, types = pg_reader._describe(plpy, wrapped)
kinds = [pg_reader._kind(n, o, frozenset({"id"})) for n, o in zip(names, types)]
def plain(read):
    if read is None:
        return None
    columns, n, coded = read
    def value(v):
        return "NaN" if isinstance(v, float) and math.isnan(v) else v
    return {"n": n, "coded": sorted(coded),
            "columns": {k: [value(v) for v in c.tolist()] for k, c in columns.items()}}
_, parts = pg_native._native_parts(plpy, wrapped, names, types, kinds)
return json.dumps({
    "usable": pg_native._native_reader(plpy, len(names)),
    "aggregate_coded": [n for n, part in zip(names, parts) if part.codes is not None],
    "native": plain(pg_native._read_native(plpy, wrapped, names, types, kinds)),
    "string_agg": plain(pg_reader._read(plpy, wrapped, names, types, kinds, plain_text=False)),
    "plain": plain(pg_reader._read(plpy, wrapped, names, types, kinds, plain_text=True))})
$$
"""


def both_readers(engine: sa.Engine, query: str) -> dict:
    with engine.connect() as c:
        c.exec_driver_sql(BOTH_READERS)
        return json.loads(c.execute(sa.text("SELECT pg_temp.both_readers(:q)"),
                                    {"q": query}).scalar_one())


@pytest.mark.parametrize("rows", [1500, 3, 0])
def test_the_native_reader_reads_what_string_agg_reads(db, rows):
    """Same values, same row count, same columns coded (1,500 rows: categories are
    coded from their bytes; 3: split; 0: empty)."""
    read = both_readers(db, TYPES.format(rows=rows))
    assert read["usable"], "sqlml deploy installs ops.column_payloads on the test server"
    assert read["native"] == read["string_agg"]
    assert read["native"]["n"] == rows
    if rows:
        assert read["native"]["columns"] == read["plain"]["columns"]
        assert read["native"]["columns"]["ts"][0] == pytest.approx(
            (18690 + 5 / 24 + 6 / 1440 + 7.891 / 86400) + 1 / 24)
        assert read["native"]["columns"]["odd"][:2] == ["NaN", -2.0]
    if rows == 1500:
        assert math.isinf(read["native"]["columns"]["odd"][4])
        assert read["native"]["coded"] == ["cat", "d64", "d65", "lengths", "pad", "rs", "vc",
                                           "w32", "w33"]
        # the aggregate itself coded those within text_payload.code's limits
        assert read["aggregate_coded"] == ["cat", "vc", "pad", "d64", "w32", "lengths"]
        assert len(set(read["native"]["columns"]["lengths"])) == 60


def test_the_aggregate_codes_text_within_text_payloads_limits():
    """The C aggregate codes a column exactly when text_payload.code would: same limits."""
    import re

    from sqlml.adapters import text_payload
    from sqlml.paths import project_root

    source = (project_root() / native.SOURCE).read_text()
    limits = {name: int(value) for name, value in
              re.findall(r"#define CODE_(MAX_DISTINCT|MAX_BYTES|MIN_ROWS) (\d+)", source)}
    assert limits == {"MAX_DISTINCT": text_payload.MAX_DISTINCT,
                      "MAX_BYTES": text_payload.MAX_BYTES, "MIN_ROWS": text_payload.MIN_ROWS}
    assert f"#define PAYLOAD_VERSION {pg_native.LAYOUT}" in source


def test_a_value_holding_the_separator_is_read_again_the_plain_way(db):
    query = "SELECT g AS id, CASE WHEN g = 2 THEN 'a' || chr(31) || 'b' ELSE 'c' END AS cat" \
            " FROM generate_series(1, 1200) AS g"
    read = both_readers(db, query)
    assert read["native"] is None and read["string_agg"] is None  # both refuse to guess
    assert read["plain"]["columns"]["cat"][1] == "a\x1fb"


def test_a_role_that_may_not_execute_it_reads_with_string_agg(db):
    usable = pg_native._NATIVE_READER
    with db.connect() as c:
        c.exec_driver_sql("DROP ROLE IF EXISTS sqlml_test_stranger")
        c.exec_driver_sql("CREATE ROLE sqlml_test_stranger")
        try:
            c.exec_driver_sql("SET ROLE sqlml_operator")
            operator = c.exec_driver_sql(usable).scalar_one()
            c.exec_driver_sql("SET ROLE sqlml_test_stranger")
            stranger = c.exec_driver_sql(usable).scalar_one()
            c.exec_driver_sql("RESET ROLE")
            c.exec_driver_sql("GRANT USAGE ON SCHEMA ops TO sqlml_test_stranger")
            c.exec_driver_sql("SET ROLE sqlml_test_stranger")
            stranger_in_ops = c.exec_driver_sql(usable).scalar_one()
        finally:
            c.exec_driver_sql("RESET ROLE")
            c.exec_driver_sql("DROP OWNED BY sqlml_test_stranger")
            c.exec_driver_sql("DROP ROLE sqlml_test_stranger")
    assert (operator, stranger, stranger_in_ops) == (True, False, False)


def test_a_query_wider_than_an_aggregate_takes_reads_with_string_agg():
    assert pg_native._native_reader(None, pg_native.NATIVE_MAX_COLUMNS + 1) is False


def test_only_its_aggregate_calls_it_and_it_names_what_it_cannot_read(db):
    with db.connect() as c:
        with pytest.raises(sa.exc.DBAPIError, match="cannot accept a value of type internal"):
            c.exec_driver_sql("SELECT ops.column_payloads_step(NULL::internal, 1)")
        c.rollback()
        with pytest.raises(sa.exc.DBAPIError,
                           match="cannot read argument 2 of type timestamp with time zone"):
            c.exec_driver_sql("SELECT ops.column_payloads(1, now())")


# The extension's members (procedures/postgres/native/sqlml_native--1.0.sql): the
# reader's aggregate and its two halves, scoring's batch reader (issue 27), and the
# two functions that turn the scores' payloads back into rows.
MEMBERS = ['ops.column_payloads("any")', "ops.column_payloads_final(internal)",
           'ops.column_payloads_step(internal,"any")', "ops.cursor_payloads(text,bigint)",
           "ops.payload_float8s(bytea)", "ops.payload_texts(text)"]


def members(engine) -> list[str]:
    """The functions of extension sqlml_native in this database (none: not created)."""
    with engine.connect() as c:
        return sorted(c.exec_driver_sql(
            "SELECT d.objid::regprocedure::text FROM pg_depend AS d"
            " JOIN pg_extension AS e ON e.oid = d.refobjid"
            " WHERE e.extname = 'sqlml_native' AND d.classid = 'pg_proc'::regclass"
            " AND d.deptype = 'e'").scalars())


def test_deploy_creates_the_extension_it_built_with_pgxs(db):
    """Issue 23: sqlml deploy built the extension (make && make install) for this local
    server, and CREATE EXTENSION made its functions (the aggregate and its halves, the
    batch reader, the two write functions) members of it."""
    from sqlml.deploy.native import _toolchain

    with db.connect() as c:
        major = c.exec_driver_sql("SELECT current_setting('server_version_num')::int"
                                  " / 10000").scalar_one()
        version = c.exec_driver_sql("SELECT extversion FROM pg_extension"
                                    " WHERE extname = 'sqlml_native'").scalar_one()
    assert version == "1.0"
    assert members(db) == MEMBERS
    toolchain = _toolchain(major)
    assert (toolchain.sharedir / "extension" / "sqlml_native.control").is_file()
    assert (toolchain.pkglibdir / "sqlml_native.so").is_file()


def test_a_remote_server_that_offers_the_extension_gets_it(db):
    said = []
    assert native.install(db, local=False, log=said.append) == "$libdir/sqlml_native"
    assert said == ["native reader: extension sqlml_native, as installed on the server"]
    assert members(db) == MEMBERS


def test_deploy_leaves_it_out_where_it_cannot_create_it(db, monkeypatch):
    """A remote server without the extension installed: one line saying so."""
    monkeypatch.setattr(native, "available", lambda engine: False)
    said = []
    assert native.install(db, local=False, log=said.append) is None
    assert said == ["native reader: not installed: the server is on another host and offers"
                    ' no extension sqlml_native (see docs/dba.md, "The native column reader");'
                    " scoring reads with string_agg"]


def test_where_the_extension_folders_are_not_writable_the_functions_come_one_by_one(
        db, monkeypatch):
    """The fallback of before (a library in the runtime folder, its functions created
    one by one) replaces the extension, and the extension replaces it again; each way
    the reader reads natively."""
    monkeypatch.setattr(native, "_writable", lambda toolchain: False)
    monkeypatch.setattr(native, "available", lambda engine: False)
    library = native.install(db, local=True, log=lambda message: None)
    assert library and library.endswith(".so") and "payloads-pg" in library
    assert members(db) == []
    assert both_readers(db, TYPES.format(rows=3))["usable"]
    monkeypatch.undo()
    assert native.install(db, local=True, log=lambda message: None).endswith("sqlml_native.so")
    assert members(db) == MEMBERS
    assert both_readers(db, TYPES.format(rows=3))["usable"]


def test_a_downgrade_drops_it_so_the_schemas_can_go(scratch_url):
    engine = sa.create_engine(scratch_url, poolclass=NullPool)
    exists = "SELECT to_regprocedure('ops.column_payloads(\"any\")') IS NOT NULL"
    try:
        migrate(engine)
        assert native.install(engine, local=True, log=lambda message: None)
        with engine.connect() as c:
            assert c.exec_driver_sql(exists).scalar_one()
        migrate(engine, "0022", downgrade=True)
        with engine.connect() as c:
            assert not c.exec_driver_sql(exists).scalar_one()
        migrate(engine, "base", downgrade=True)
    finally:
        engine.dispose()


def test_the_write_functions_give_back_each_value_as_sent(db):
    """ops.payload_float8s: each score's 8 bytes, bit for bit; ops.payload_texts: each id,
    empty and multi-byte ones included, in order; side by side in a SELECT list, as the
    batch's INSERT uses them."""
    import numpy as np

    rng = np.random.default_rng(11)
    scores = np.concatenate([rng.random(2000), [0.0, 1.0, 5e-324, 1e-300, 0.5]])
    ids = [f"c{i}" for i in range(len(scores) - 3)] + ["", "Ünïcødé ✓", " padded "]
    with db.connect() as c:
        rows = c.execute(sa.text(
            "SELECT ops.payload_texts(:ids) AS customer_id,"
            " ops.payload_float8s(:scores) AS churn_probability"),
            {"ids": text_payload.SEPARATOR.join(ids), "scores": scores.tobytes()}).all()
        with pytest.raises(sa.exc.DBAPIError, match="8 bytes per value, not 7 bytes"):
            c.execute(sa.text("SELECT ops.payload_float8s(:b)"), {"b": b"1234567"}).all()
    assert [r.customer_id for r in rows] == ids
    assert np.array_equal(np.array([r.churn_probability for r in rows]), scores)


BATCHES = """
CREATE FUNCTION pg_temp.batches(query text, native boolean, size text) RETURNS text
LANGUAGE plpython3u AS $$
plpy.execute("SELECT ops.use_python_runtime()")
plpy.execute(f"SELECT set_config('sqlml.score_batch_rows', '{size}', false)")
import json, math
from sqlml.adapters import pg_reader, postgres_batches as pb
def value(v):
    return "NaN" if isinstance(v, float) and math.isnan(v) else v
reader = pb.BatchReader(plpy, 1, query, frozenset({"id"}), native=native)
batches, columns = [], {}
while not reader.done:
    batch = reader.next(plpy)
    batches.append((batch.n, batch.last))
    for name, values in batch.columns.items():
        columns.setdefault(name, []).extend(value(v) for v in values.tolist())
whole = pg_reader.read_columns(plpy, query, exact=frozenset({"id"}))
return json.dumps({"native": reader.native, "batches": batches, "columns": columns,
                   "whole": {k: [value(v) for v in c.tolist()] for k, c in whole[0].items()}})
$$
"""


@pytest.mark.parametrize("native", [True, False])
def test_batches_through_a_cursor_read_what_the_whole_query_reads(db, native):
    """Scoring's batches (adapters/postgres_batches.py), through ops.cursor_payloads or
    as plain rows, hold together the very values of one read of the whole query; in
    every batch a text value holding the NULL mark sends the native reader back to read
    the batch's rows again, plainly."""
    with db.connect() as c:
        c.exec_driver_sql(BATCHES)
        read = json.loads(c.execute(sa.text("SELECT pg_temp.batches(:q, :n, '400')"),
                                    {"q": TYPES.format(rows=1500), "n": native}).scalar_one())
    assert read["native"] is native
    assert read["batches"] == [[400, False], [400, False], [400, False], [300, True]]
    assert read["columns"] == read["whole"]


def test_the_cursor_reader_refuses_a_batch_of_no_rows_and_a_missing_cursor(db):
    with db.connect() as c:
        for sql, message in [("SELECT ops.cursor_payloads('nowhere', 10)", "does not exist"),
                             ("SELECT ops.cursor_payloads('nowhere', 0)", "at least 1 row")]:
            with pytest.raises(sa.exc.DBAPIError, match=message):
                c.exec_driver_sql(sql)
            c.rollback()


NAN_READERS = """
CREATE OR REPLACE FUNCTION pg_temp.nan_readers(query text) RETURNS text LANGUAGE plpython3u AS $$
plpy.execute("SELECT ops.use_python_runtime()")
import json
from sqlml.adapters import pg_native, pg_reader as pg, postgres_batches as pb
from sqlml.errors import InputError
wrapped = pg.wrap_query(query)
names, types = pg._describe(plpy, wrapped)
kinds = [pg._kind(n, o, frozenset({"id"})) for n, o in zip(names, types)]
def batches(native):  # a cursor of its own each: a refused read leaves its cursor open
    reader = pb.BatchReader(plpy, 1 if native else 2, query, frozenset({"id"}), native=native)
    while not reader.done:
        reader.next(plpy)
def sample():  # the stratified training sample's conversion of its rows
    rows = plpy.execute(query)
    for name, oid in zip(names, types):
        pg._column(name, [r[name] for r in rows], oid)
readers = {
    "native": lambda: pg_native._read_native(plpy, wrapped, names, types, kinds),
    "string_agg": lambda: pg._read(plpy, wrapped, names, types, kinds, plain_text=False),
    "plain": lambda: pg._read(plpy, wrapped, names, types, kinds, plain_text=True),
    "frame": lambda: pg.read_query(plpy, query, exact=frozenset({"id"})),
    "batches_native": lambda: batches(True),
    "batches_plain": lambda: batches(False),
    "sample": sample,
}
said = {}
for name, read in readers.items():
    try:
        read()
        said[name] = None
    except InputError as exc:
        said[name] = str(exc)
return json.dumps(said)
$$
"""


@pytest.mark.parametrize("column_type", ["float8", "real", "numeric", "numeric(12,2)"])
def test_nan_is_refused_naming_its_column_on_every_read_path(db, column_type):
    """Issue 22, finding 6: PostgreSQL's NaN is a number, not NULL; read as float64 it
    became the NaN that stands for a missing value. Every reader refuses it, naming the
    column, as an infinite value is refused; NULL stays a missing value."""
    query = (f"SELECT g AS id, g::float8 AS fine, CASE WHEN g = 700 THEN 'NaN'::{column_type}"
             f" WHEN g % 7 = 0 THEN NULL ELSE g END AS usage FROM generate_series(1, 1000) g")
    with db.connect() as c:
        c.exec_driver_sql(NAN_READERS)
        said = json.loads(c.execute(sa.text("SELECT pg_temp.nan_readers(:q)"),
                                    {"q": query}).scalar_one())
        c.commit()  # closes the cursors the refused batch reads left open
        nulls_only = json.loads(c.execute(sa.text("SELECT pg_temp.nan_readers(:q)"), {
            "q": query.replace(f"'NaN'::{column_type}", "NULL")}).scalar_one())
    assert set(said) == {"native", "string_agg", "plain", "frame", "batches_native",
                         "batches_plain", "sample"}
    for reader, message in said.items():
        assert message is not None and message.startswith("column 'usage' holds NaN"), reader
    assert all(m is None for m in nulls_only.values()), nulls_only
