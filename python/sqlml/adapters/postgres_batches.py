"""Scoring's input in batches, on PostgreSQL: memory holds a batch, never the table.

The caller's half of a scoring call (``ops.stage_input``, SECURITY INVOKER) declares a
cursor over the caller's query and reads it a batch at a time; ``ops.call`` hands
each batch to the owner's half (``ops.run_call``, SECURITY DEFINER), which scores and
writes it, and then asks the caller's half for the next one. Every fetch runs as
the caller: a cursor's query runs with the rights of whoever fetches from it (a
function in the caller's query would run as the owner if the owner's half fetched),
so only the caller's half fetches. All batches are one statement's work, in one
transaction: one run id, all rows or none.

A batch crosses as the whole input did before (``pg_reader.read_columns``): through
the native ``ops.cursor_payloads`` (procedures/postgres/native/payloads.c, the
aggregate's payloads for the next rows of a cursor) where ``sqlml deploy`` built
it, else as rows that PL/Python converts. The batch size is the churn spec's
``scoring.batch_rows``; the session setting ``sqlml.score_batch_rows`` can lower it
(``SET sqlml.score_batch_rows = 50000``), never raise it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sqlml.adapters import pg_native, pg_reader, pg_spi, pg_staging
from sqlml.adapters.text_payload import NULL_MARK, SEPARATOR
from sqlml.entrypoints import Coded
from sqlml.errors import InputError

# When the spec names no batch size: about 50 MB of a backend's memory on the IBM
# telco columns, and few enough batches that their fixed cost (a round trip of
# the two halves, the model's checks) is noise.
DEFAULT_BATCH_ROWS = 100_000
SETTING = "sqlml.score_batch_rows"
_SIZE = (
    "SELECT (SELECT s.spec #>> '{scoring,batch_rows}' FROM models.specs AS s"
    " WHERE s.kind = 'churn') AS spec,"
    f" pg_catalog.current_setting('{SETTING}', true) AS setting"
)
_CURSOR_READER = (
    "SELECT CASE WHEN pg_catalog.has_schema_privilege('ops', 'USAGE') THEN ("
    " SELECT p.oid IS NOT NULL AND pg_catalog.has_function_privilege(p.oid, 'EXECUTE')"
    " FROM (SELECT pg_catalog.to_regprocedure('ops.cursor_payloads(text, bigint)') AS oid) AS p"
    ") ELSE false END AND pg_catalog.current_setting('server_encoding') = 'UTF8' AS usable"
)


@dataclass
class Batch:
    """One batch of a scoring run's input, as ``read_columns`` gives the whole."""

    columns: dict[str, np.ndarray]
    n: int
    coded: dict[str, Coded]
    number: int  # 1, 2, ...
    last: bool


def batch_rows(plpy) -> int:
    """The batch size: the spec's, or the session setting's where that is smaller."""
    row = plpy.execute(_SIZE)[0]
    size = positive(row["spec"], "the churn spec's scoring.batch_rows") or DEFAULT_BATCH_ROWS
    setting = positive(row["setting"], f"setting {SETTING}")
    return min(size, setting) if setting else size


def positive(value, what: str, unit: str = "rows") -> int | None:
    """A batch size from a spec or a session setting: None when unset, else a whole
    number of ``unit``, at least 1, or an error naming ``what``."""
    if value is None or str(value).strip() == "":
        return None
    try:
        number = int(str(value).strip())
    except ValueError:
        number = 0
    if number < 1:
        raise InputError(f"{what} must be a whole number of {unit}, at least 1; got {value!r}")
    return number


NAN_AT = "\x00sqlml_nan_at"  # no column of the caller's can have this name


class BatchReader:
    """A cursor over the caller's query, read a batch at a time with the caller's rights."""

    def __init__(self, plpy, run_id: int, query: str, exact: frozenset[str],
                 native: bool | None = None):
        # Exactly one SELECT, by PostgreSQL's parser, before the text goes into the
        # cursor's statement (issue 22: a wrapper must not be broken out of).
        wrapped = pg_reader.check_query(plpy, query)
        # exact: the key's type is checked (one without an exact text is refused, naming
        # the column), as the whole-input readers do
        self.names, types = pg_reader._describe(plpy, wrapped, exact)
        self.kinds = [pg_reader._kind(name, oid, exact)
                      for name, oid in zip(self.names, types, strict=True)]
        self.size = batch_rows(plpy)
        # A column of the cursor's own: each row's first number column holding NaN
        # (pg_reader.nan_at), refused naming that column as each batch arrives.
        self.nan_at = pg_reader.nan_at(plpy, self.names, types, self.kinds)
        extra = 1 if self.nan_at else 0
        self.native = (len(self.names) + extra <= pg_native.NATIVE_MAX_COLUMNS
                       and bool(plpy.execute(_CURSOR_READER)[0]["usable"])
                       and native is not False)  # False: the plain way (tests compare)
        self.cursor = f"sqlml_input_{int(run_id)}"
        self.read = 0  # rows handed out so far
        self.number = 0
        self.done = False
        # SCROLL: a batch whose text does not split back into its rows (a value holds
        # the separator) is read again, as plain values, from where it started. For
        # a plain scan that costs nothing; other plans keep their rows in a tuplestore,
        # which spills to disk past work_mem.
        plpy.execute(f"DECLARE {self.cursor} SCROLL CURSOR FOR SELECT "
                     f"{', '.join(self._arguments(plpy, types))} FROM ({wrapped}) AS q")

    def _arguments(self, plpy, types: list[int]) -> list[str]:
        """The cursor's columns: what ``ops.cursor_payloads`` takes, or, without it,
        values that PL/Python hands over exactly (float8, bool, text)."""
        out = []
        for i, (name, oid, kind) in enumerate(zip(self.names, types, self.kinds, strict=True)):
            col = f"q.{plpy.quote_ident(name)}"
            if kind == "days":
                out.append(f"(extract(epoch FROM {col}))::pg_catalog.float8")
            elif kind == "float" and (not self.native
                                      or oid not in pg_native.NATIVE_FLOAT_OIDS):
                # a NUMERIC past float8's range is held at 1e300, which scoring refuses
                # naming the column, rather than failing the cast naming nothing
                out.append(f"({pg_reader._in_float8(col, oid)})::pg_catalog.float8")
            elif kind in ("float", "bool"):
                out.append(col)
            else:
                out.append(f"({col})::pg_catalog.text")
            out[-1] += f" AS c{i}"  # the cursor's own names: the caller's may repeat a cast's
        if self.nan_at:
            out.append(f"({self.nan_at})::pg_catalog.float8 AS c{len(self.names)}")
        return out

    def _columns(self) -> tuple[list[str], list[str]]:
        """The cursor's columns' names and kinds: the caller's, and the NaN finder's."""
        if not self.nan_at:
            return self.names, self.kinds
        return [*self.names, NAN_AT], [*self.kinds, "float"]

    def next(self, plpy) -> Batch:
        """The next batch; the last one is shorter than the batch size (perhaps empty)."""
        if self.done:
            raise InputError("this run's input has been read to its end")
        batch = None
        if self.native:
            batch = self._native_batch(plpy)
        if batch is None:
            batch = self._plain_batch(plpy)
        columns, n, coded = batch
        if self.nan_at:
            found = columns.pop(NAN_AT)
            found = found[~np.isnan(found)]
            pg_reader.refuse_nan(self.names, found[0] if found.size else None)
        self.read += n
        self.number += 1
        self.done = n < self.size
        if self.done:
            plpy.execute(f"CLOSE {self.cursor}")
        return Batch(columns, n, coded, self.number, self.done)

    def _native_batch(self, plpy):
        plan = pg_spi._plan(plpy, "SELECT ops.cursor_payloads($1, $2) AS p",
                              ["text", "bigint"])
        blob = plpy.execute(plan, [self.cursor, self.size])[0]["p"]
        n = pg_native._HEADER.unpack_from(blob, 0)[2]
        names, kinds = self._columns()
        parts = pg_native._unpack(blob, len(names))
        read = pg_native._native_columns(n, parts, names, kinds)
        if read is None:  # a text value holds a separator: these rows again, plainly
            plpy.execute(f"MOVE ABSOLUTE {self.read} IN {self.cursor}")
        return read

    def _plain_batch(self, plpy):
        rows = plpy.execute(f"FETCH FORWARD {self.size} FROM {self.cursor}")
        n = rows.nrows()
        own_names, own_kinds = self._columns()
        names = [f"c{i}" for i in range(len(own_names))]
        columns: dict[str, np.ndarray] = {}
        coded: dict[str, Coded] = {}
        for name, key, kind in zip(own_names, names, own_kinds, strict=True):
            values = [r[key] for r in rows]
            if kind in ("text", "id"):
                _plain_text(name, kind, values, columns, coded)
                continue
            out = np.array([np.nan if v is None else float(v) for v in values], dtype=np.float64)
            columns[name] = out / pg_reader.SECONDS_PER_DAY if kind == "days" else out
        return columns, n, coded


def _plain_text(name: str, kind: str, values: list, columns: dict, coded: dict) -> None:
    """A text column's values (str or None) as ``read_columns`` gives them: through the
    same payload rules, or as they are where a value holds a separator."""
    n, nulls = len(values), sum(v is None for v in values)
    if n and not any(SEPARATOR in v or NULL_MARK in v for v in values if v is not None):
        payload = SEPARATOR.join(NULL_MARK if v is None else v for v in values)
        if pg_reader._text_column(name, kind, payload, n, nulls, columns, coded):
            return
    column = np.empty(n, dtype=object)
    column[:] = values
    columns[name] = column



# --- training on a stratified sample ------------------------------------------------

# Rows a training fetch brings into PL/Python at a time.
TRAINING_FETCH_ROWS = 20_000
STRATUM = "sqlml_stratum"


def training_sample(plpy, run_id: int) -> tuple[str, int, int] | None:
    """For a churn training run: its label column, the spec's ``limits.max_training_rows``
    and the seed (the run's options, else the spec's); None for other runs."""
    row = plpy.execute(
        "SELECT r.run_type, r.params ->> 'options' AS options, s.spec"
        " FROM ops.runs AS r, models.specs AS s"
        f" WHERE r.run_id = {int(run_id)} AND s.kind = 'churn'")
    if not row.nrows() or row[0]["run_type"] != "train_churn_model":
        return None
    import json

    spec = json.loads(row[0]["spec"])
    limit = spec.get("limits", {}).get("max_training_rows")
    if not limit:
        return None
    try:
        options = json.loads(row[0]["options"] or "{}")
    except ValueError:
        options = {}  # training itself names the bad options
    seed = options.get("seed") if isinstance(options, dict) else None
    if not isinstance(seed, int):
        seed = int(spec.get("options", {}).get("seed", 0))
    return spec["input"]["label_column"], int(limit), seed


def read_training(plpy, run_id: int, query: str, label: str, max_rows: int, seed: int):
    """The caller's training rows: all of them (``pg_reader.read_query``) when there
    are at most ``max_rows``; else a sample of ``max_rows`` stratified by ``label``
    (each class keeps its share), read through a cursor a batch at a time, so memory
    holds the sample and one batch, never the table. Returns the frame and what was
    sampled (None: every row)."""
    wrapped = pg_reader.check_query(plpy, query)  # exactly one SELECT (issue 22)
    exact = pg_staging._key_columns(plpy)  # keys as their exact text (issue 22)
    names, types = pg_reader._describe(plpy, wrapped, exact)
    match = [n for n in names if n.lower() == label.lower()]
    if not match:  # training names the missing label column
        return pg_reader.read_query(plpy, query, exact=exact), None
    col = f"q.{plpy.quote_ident(match[0])}"
    strata = {r["stratum"]: int(r["n"]) for r in pg_reader._execute(plpy,
        f"SELECT ({col})::pg_catalog.text AS stratum, pg_catalog.count(*) AS n"
        f" FROM ({wrapped}) AS q GROUP BY 1")}
    total = sum(strata.values())
    if total <= max_rows:
        return pg_reader.read_query(plpy, query, exact=exact), None
    quota = {s: max(1, round(max_rows * n / total)) for s, n in strata.items()}
    rng = np.random.default_rng(seed)
    kept: dict = {s: [] for s in strata}  # (position in the input, row values)
    seen = dict.fromkeys(strata, 0)
    cursor = f"sqlml_training_{int(run_id)}"
    plpy.execute(f"DECLARE {cursor} NO SCROLL CURSOR FOR SELECT q.*, ({col})::pg_catalog.text"
                 f" AS {STRATUM} FROM ({wrapped}) AS q")
    position = 0
    while True:
        rows = plpy.execute(f"FETCH FORWARD {TRAINING_FETCH_ROWS} FROM {cursor}")
        for r in rows:
            stratum = r[STRATUM]
            i, room = seen[stratum], quota[stratum]
            seen[stratum] = i + 1
            # Reservoir sampling (Algorithm R) per class: each row of a class is kept
            # with the same chance, in one pass, holding at most its quota.
            slot = i if i < room else int(rng.integers(0, i + 1))
            if slot < room:
                values = (position, tuple(r[n] for n in names))
                if i < room:
                    kept[stratum].append(values)
                else:
                    kept[stratum][slot] = values
            position += 1
        if rows.nrows() < TRAINING_FETCH_ROWS:
            break
    plpy.execute(f"CLOSE {cursor}")
    sample = sorted((v for rows in kept.values() for v in rows), key=lambda v: v[0])
    import pandas as pd

    frame = pd.DataFrame({
        name: (pd.Series([None if v[1][i] is None else str(v[1][i]) for v in sample],
                         dtype=object) if name.lower() in exact
               else pg_reader._column(name, [v[1][i] for v in sample], oid))
        for i, (name, oid) in enumerate(zip(names, types, strict=True))
    })
    info = {"rows": len(frame), "of": position, "stratified_by": match[0], "seed": seed,
            "per_class": {str(s): len(v) for s, v in kept.items()},
            "max_training_rows": max_rows}
    return frame, info
