"""The caller's half of a PostgreSQL call: ``ops.stage_input`` (SECURITY INVOKER) reads
the caller's input query with the caller's own rights and keeps the rows in this
session's memory under the call's run id, for the owner's half (adapters/postgres.py)
to take by run id, so that half never reads anything with the owner's rights on a
caller's behalf.

PL/Python has one interpreter per session, and only superusers create
``plpython3u`` functions, so ``_STAGED`` is reachable by sqlml's own code only.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlml.adapters.pg_reader import read_columns, read_query
from sqlml.adapters.pg_spi import database_errors
from sqlml.errors import InputError

# run id -> the caller's input rows, read by stage_input, taken by the owner's half:
# a DataFrame (training, forecasting) or one postgres_batches.Batch (scoring).
_STAGED: dict[int, object] = {}
# run id -> scoring's cursor over the caller's query (postgres_batches.BatchReader),
# read by the caller's half only; and what the owner's half carries from one batch
# to the next (ScoringRun).
_READERS: dict[int, object] = {}
_SCORING: dict[int, ScoringRun] = {}
# run id -> scoring's input drift so far (kinds.drift_columns.Tally), batch by batch.
_DRIFT: dict[int, object] = {}


@dataclass
class ScoringRun:
    """A batched scoring run so far: its model version (the same for every batch)
    and the rows written."""

    model_id: int
    onnx_sha256: str
    written: int = 0


@database_errors
def stage_input(plpy, run_id: int, input_query: str, id_column: str | None = None,
                batched: bool = False) -> None:
    """ops.stage_input: read the input query as the caller; keep the rows for the run.
    ``id_column`` given (scoring): the lean column read, that column as exact text;
    else a DataFrame. An error reading it (a cancel included) goes up to ops.call's
    handler, which records it in ops.runs without the data values it may quote."""
    # One call in progress stages at a time; a call that failed before taking its
    # input leaves nothing behind for long.
    _STAGED.clear()
    if input_query is None:  # scoring's next batch (ops.call's loop)
        reader = _READERS.get(run_id)
        if reader is None:
            raise InputError(f"run {run_id} has no input being read in this session: "
                             "call the ml routine, which reads it")
        _STAGED[run_id] = reader.next(plpy)
        return
    _READERS.clear()
    _SCORING.clear()
    _DRIFT.clear()
    if id_column and not batched:  # ml.predict: its input at once (not batched yet)
        _STAGED[run_id] = read_columns(plpy, input_query, exact=frozenset({id_column.lower()}))
        return
    if id_column:
        from sqlml.adapters.postgres_batches import BatchReader

        # In batches (adapters/postgres_batches.py): memory holds a batch, not the table.
        reader = _READERS[run_id] = BatchReader(plpy, run_id, input_query,
                                                frozenset({id_column.lower()}))
        _STAGED[run_id] = reader.next(plpy)
        return
    from sqlml.adapters import postgres_batches

    sample = postgres_batches.training_sample(plpy, run_id)
    if sample is not None:  # churn training: past the spec's limit, a stratified sample
        _STAGED[run_id] = postgres_batches.read_training(plpy, run_id, input_query, *sample)
    else:
        _STAGED[run_id] = read_query(plpy, input_query, exact=_key_columns(plpy))


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
    """The rows :func:`stage_input` kept for ``run_id``, taken out."""
    frame = _STAGED.pop(run_id, None)
    if frame is None:
        raise InputError(f"run {run_id} has no input read in this session: "
                         "call the ml routine, which reads it first")
    return frame
