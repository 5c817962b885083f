"""The caller's half of a PostgreSQL call: ``ops.stage_input`` (SECURITY INVOKER) reads
the caller's input query with the caller's own rights and keeps the rows in this
session's memory for the call's run, for the owner's half (adapters/postgres.py) to
take by run id, so that half never reads anything with the owner's rights on a
caller's behalf.

What a run keeps between its crossings into Python has one owner, :class:`StagedRun`,
and one holder: this session holds at most one run's state (a session makes one call
at a time). :func:`stage_input` creates it; the step that ends the run releases it,
whether the step succeeds or fails (:func:`release`); a run that fails outside Python
leaves it to the session's next call, whose :func:`stage_input` replaces it.

PL/Python has one interpreter per session, and only superusers create
``plpython3u`` functions, so the state is reachable by sqlml's own code only.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from sqlml.adapters.pg_reader import _describe, check_query, read_columns, read_query
from sqlml.adapters.pg_spi import database_errors
from sqlml.errors import InputError


@dataclass
class StagedRun:
    """One run's state in this session, from its staging to its end.

    ``rows``: the input staged and not yet taken (a DataFrame for training,
    read_columns' tuple for ml.predict, a postgres_batches.Batch for scoring, a
    postgres_series.SeriesBatch for forecasting); ``reader``: the cursor over the
    caller's query that the next batch comes from (postgres_batches.BatchReader,
    postgres_series.SeriesReader); ``model_id``, ``onnx_sha256``, ``written``: the
    version a batched run began with (every batch uses it) and the rows written so
    far; ``drift``: its input drift counted batch by batch (``entrypoints.drift_tally``,
    ``entrypoints.series_drift_tally``)."""

    run_id: int
    rows: object = None
    reader: object = None
    model_id: int | None = None
    onnx_sha256: str | None = None
    written: int = 0
    drift: object = None


# The one run this session holds, if any.
_held: StagedRun | None = None


def held(run_id: int) -> StagedRun:
    """The state of ``run_id``, which must be the run this session staged."""
    if _held is None or _held.run_id != run_id:
        raise InputError(f"run {run_id} has no input read in this session: "
                         "call the ml routine, which reads it first")
    return _held


def holding() -> int | None:
    """The run id whose state this session holds (None: nothing is held)."""
    return None if _held is None else _held.run_id


def release(run_id: int) -> None:
    """Drop the state of ``run_id`` (its rows, its cursor's reader, its counts)."""
    global _held
    if _held is not None and _held.run_id == run_id:
        _held = None


@contextmanager
def ending(run_id: int) -> Iterator[StagedRun]:
    """The state of ``run_id`` for the step that ends the run: released when the step
    returns or raises."""
    run = held(run_id)
    try:
        yield run
    finally:
        release(run_id)


@contextmanager
def failing(run_id: int) -> Iterator[StagedRun]:
    """The state of ``run_id`` for a step after which the run may go on (scoring's
    batches): released when the step raises, since the run then fails with it."""
    run = held(run_id)
    try:
        yield run
    except BaseException:
        release(run_id)
        raise


def take(run_id: int):
    """The rows staged for ``run_id`` and the end of its state; None when the run staged
    nothing (ml.import_model without reference rows)."""
    if holding() != run_id:
        return None
    with ending(run_id) as run:
        return run.rows


def _begin(run_id: int) -> StagedRun:
    global _held
    _held = StagedRun(run_id)  # a run that failed outside Python leaves nothing behind
    return _held


@database_errors
def stage_input(plpy, run_id: int, input_query: str, id_column: str | None = None,
                batched: bool = False) -> None:
    """ops.stage_input: read the input query as the caller; keep the rows for the run.
    ``id_column`` given (scoring): the lean column read, that column as exact text;
    else a DataFrame. An error reading it (a cancel included) goes up to ops.call's
    handler, which records it in ops.runs without the data values it may quote."""
    if input_query is None:  # scoring's next batch (ops.call's loop)
        if holding() != run_id or _held.reader is None:
            raise InputError(f"run {run_id} has no input being read in this session: "
                             "call the ml routine, which reads it")
    else:
        _begin(run_id)
    with failing(run_id) as run:  # a read that fails fails the run: nothing is kept
        _stage(plpy, run, input_query, id_column, batched)


def _stage(plpy, run: StagedRun, input_query: str | None, id_column: str | None,
           batched: bool) -> None:
    run_id = run.run_id
    if input_query is None:
        run.rows = None  # the batch before is freed before the next is read
        run.rows = run.reader.next(plpy)
        return
    from sqlml.adapters import postgres_shape

    # The input's shape from a LIMIT 0 describe, before any row is read (issue 22).
    postgres_shape.check(plpy, run_id, *_describe(plpy, check_query(plpy, input_query)))
    if id_column and not batched:  # ml.predict: its input at once (not batched yet)
        run.rows = read_columns(plpy, input_query, exact=frozenset({id_column.lower()}))
        return
    if id_column:
        from sqlml.adapters.postgres_batches import BatchReader

        # In batches (adapters/postgres_batches.py): memory holds a batch, not the table.
        run.reader = BatchReader(plpy, run_id, input_query, frozenset({id_column.lower()}))
        run.rows = run.reader.next(plpy)
        return
    from sqlml.adapters import postgres_batches, postgres_series

    forecast = postgres_series.forecast_input(plpy, run_id)
    reader = forecast and postgres_series.reader(plpy, run_id, input_query, *forecast,
                                                 exact=_key_columns(plpy))
    sample = None if forecast else postgres_batches.training_sample(plpy, run_id)
    if reader:  # ml.forecast: a batch of whole series at a time (adapters/postgres_series.py)
        run.reader = reader
        run.rows = reader.next(plpy)
    elif sample is not None:  # churn training: past the spec's limit, a stratified sample
        run.rows = postgres_batches.read_training(plpy, run_id, input_query, *sample)
    else:
        run.rows = read_query(plpy, input_query, exact=_key_columns(plpy))


# The key columns the specs name (churn's customer id, the forecaster's series id),
# read as the caller: operators may read models.specs.
_KEY_COLUMNS = (
    "SELECT pg_catalog.array_agg(DISTINCT pg_catalog.lower(k.name)) AS names"
    " FROM models.specs AS s, LATERAL (VALUES (s.spec #>> '{input,id_column}'),"
    " (s.spec #>> '{input,series_id_column}')) AS k (name) WHERE k.name IS NOT NULL"
)


def _key_columns(plpy) -> frozenset[str]:
    """Columns a training or forecasting read keeps as exact text: every spec's key."""
    return frozenset(plpy.execute(_KEY_COLUMNS)[0]["names"] or ())


def staged(run_id: int):
    """The rows :func:`stage_input` kept for ``run_id``, taken out (the run's other
    state stays held until :func:`release`)."""
    run = held(run_id)
    rows, run.rows = run.rows, None
    if rows is None:
        raise InputError(f"run {run_id} has no input read in this session: "
                         "call the ml routine, which reads it first")
    return rows
