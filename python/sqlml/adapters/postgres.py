"""The PostgreSQL adapter's steps: runs inside PL/Python, with the session's ``plpy``.

Each function here is called from one ``plpython3u`` procedure body, after
``ops.use_python_runtime()`` has put sqlml on ``sys.path``. Our own errors become
PostgreSQL errors with a SQLSTATE and no Python traceback (adapters/pg_spi.py).

A call runs in two halves, because PostgreSQL cannot switch back to the caller
inside a SECURITY DEFINER function:

1. ``ops.stage_input`` (SECURITY INVOKER; adapters/pg_staging.py) reads the caller's
   input query with the caller's own rights (adapters/pg_reader.py, pg_native.py) and
   keeps the rows in this session's memory for the run (``pg_staging.StagedRun``).
2. The owner's half (``ops.run_call``, SECURITY DEFINER) loads and checks the model,
   and its embedded-Python part (``ops.python_step``: :func:`train_staged`,
   :func:`score_churn_staged`, :func:`forecast_staged`, ...) takes the staged rows
   by run id, so it never reads anything with the owner's rights on a caller's
   behalf, and never accepts results (scores, metrics, blobs) from the caller.
   Scores, reasons and the run's input drift are written by adapters/pg_writes.py,
   in the same step: after staging, a run crosses into Python once (once per batch
   when scoring), and the step that ends the run releases its state.

Scoring's caller half takes a lean path (``pg_reader.read_columns``; the owner's half
then calls ``entrypoints.score_churn_columns``): no pandas is imported.
"""

from __future__ import annotations

import json

from sqlml import entrypoints
from sqlml.adapters import pg_staging
from sqlml.adapters.pg_spi import database_errors, rows
from sqlml.adapters.pg_staging import (
    StagedRun,
    stage_input,  # noqa: F401  (ops.stage_input calls it here, as procedures call this module)
    staged,
)
from sqlml.adapters.pg_writes import (
    _check_unique_ids,
    write_drift,
    write_forecasts,
    write_reasons,
    write_scores,
)
from sqlml.errors import InputError


def runtime_info(plpy) -> list[tuple]:
    return rows(entrypoints.runtime_info())


def interrupt_hook(plpy):
    """Training's interrupt hook: a trivial query, during which PostgreSQL processes a
    pending cancel or statement timeout and raises it into Python."""
    return lambda: plpy.execute("SELECT 1")


def jit_off(plpy) -> None:
    """Before TensorFlow or statsforecast's numba is loaded into this backend: their LLVM
    and PostgreSQL's JIT cannot share a process (a JIT-compiled query then crashes the
    server; measured for both). Deploy turns JIT off for the database; this holds for a
    session that turned it on again."""
    plpy.execute("SELECT pg_catalog.set_config('jit', 'off', false)")


@database_errors
def check_options(plpy, kind: str, spec: str, options: str | None) -> None:
    """ops.check_options: training's option checks, before the input is read."""
    entrypoints.check_options(kind, json.loads(spec), options)


@database_errors
def train_staged(plpy, run_id: int, kind: str, spec: str, options: str | None,
                 champion: dict | None = None) -> list[tuple]:
    """ops.python_step('train'): one row of the Keras bundle, the ONNX bundle, the registration.
    ``champion``: the active version (model_id, version, onnx_artifact, onnx_sha256), measured
    on the new version's held-out rows for the activation rule (``kinds.champion``)."""
    with pg_staging.ending(run_id):
        frame, sample = staged(run_id), None
    if isinstance(frame, tuple):  # postgres_batches.read_training: (frame, what was sampled)
        frame, sample = frame
    jit_off(plpy)
    plpy.notice(f"sqlml: read {len(frame)} training rows")
    if sample is not None:
        plpy.notice(f"sqlml: training on a sample of {sample['rows']} of {sample['of']} rows,"
                    f" stratified by {sample['stratified_by']} (limits.max_training_rows)")
    trained = entrypoints.train_model(kind, frame, json.loads(spec), options,
                                      progress=plpy.notice, interrupt=interrupt_hook(plpy),
                                      champion=champion)
    if sample is not None:  # the registry says what the version was trained on
        trained.registration["metrics"]["sample"] = sample
    return [(trained.artifact, trained.onnx_artifact, trained.registration_json())]


@database_errors
def score_churn_staged(plpy, run_id: int, model_id: int, onnx_artifact: bytes,
                       onnx_sha256: str, explain: int | None = 0, *,
                       profile: dict | str | None) -> tuple[int, bool]:
    """ops.python_step('score_churn'): score the batch ops.stage_input read for the run
    and write it to predictions.churn_scores; with ``explain`` = k > 0, also each
    customer's k strongest reasons to predictions.churn_reasons; with the last batch,
    the run's input drift against ``profile`` (the version's training profile, counted
    batch by batch) to ops.run_drift; all in the same (caller's) transaction, so a run
    that fails has none of them, and in this one crossing into Python per batch.
    Returns the scores written by the run so far, and whether another batch follows."""
    # A bad blob fails here, before the staged rows are used; cached per session by sha256.
    entrypoints.check_churn_artifact(onnx_artifact, onnx_sha256)
    with pg_staging.failing(run_id) as run:
        batch = staged(run_id)
        _same_version(run, model_id, onnx_sha256)
        if run.drift is None:
            run.drift = entrypoints.drift_tally(profile)
        run.drift.add(batch.columns, batch.n, batch.coded)  # never raises
        ids, probability = entrypoints.score_churn_columns(batch.columns, batch.n,
                                                           onnx_artifact, onnx_sha256,
                                                           batch.coded)
        run.written += write_scores(plpy, run_id, model_id, ids, probability)
        if explain:
            # Only now pandas and the explainer: explain = 0 keeps the lean path of before.
            reasons = entrypoints.explain_churn_columns(batch.columns, batch.n, onnx_artifact,
                                                        onnx_sha256, explain)
            write_reasons(plpy, run_id, reasons)
        if batch.number > 1 or not batch.last:
            plpy.notice(f"sqlml: scored {run.written} rows (batch {batch.number})")
        if batch.last:
            if batch.number > 1:
                _check_unique_ids(plpy, run_id, entrypoints.CHURN_SCORING)
            write_drift(plpy, run_id, model_id, profile, run.drift.rows)
            pg_staging.release(run_id)  # the run ends with this batch
        return run.written, not batch.last


def _same_version(run: StagedRun, model_id: int, onnx_sha256: str) -> None:
    if run.model_id is None:
        run.model_id, run.onnx_sha256 = model_id, onnx_sha256
    if (run.model_id, run.onnx_sha256) != (model_id, onnx_sha256):
        # ops.run_predict holds the version's registry row FOR SHARE, so this is a
        # defect, not a race; still, one run never mixes two versions' scores.
        raise InputError(f"run {run.run_id} began with model id {run.model_id} and would "
                         f"go on with {model_id}: one run scores with one version")


@database_errors
def preview_churn_staged(plpy, run_id: int, onnx_artifact: bytes, onnx_sha256: str,
                         explain: int | None = 0) -> list[tuple]:
    """ops.python_step('preview_churn'): score the staged rows as
    :func:`score_churn_staged` does and hand them back, writing nothing: rows of
    customer_id, churn_probability, reasons (JSON text, NULL for ``explain`` 0)."""
    entrypoints.check_churn_artifact(onnx_artifact, onnx_sha256)
    with pg_staging.ending(run_id):
        batch = staged(run_id)
    if not batch.last:  # what-if scoring is for a few rows: it keeps them all to return
        raise InputError(
            f"ml.score_churn_preview scores at most one batch of rows ({batch.n:,}, the "
            "spec's scoring.batch_rows); score more with ml.score_churn")
    columns, n, coded = batch.columns, batch.n, batch.coded
    ids, probability = entrypoints.score_churn_columns(columns, n, onnx_artifact, onnx_sha256,
                                                       coded)
    reasons: dict[str, list[dict]] = {}
    if explain:
        explained = entrypoints.explain_churn_columns(columns, n, onnx_artifact, onnx_sha256,
                                                      explain)
        for row in explained.sort_values(["customer_id", "rank"]).itertuples(index=False):
            reasons.setdefault(str(row.customer_id), []).append({
                "rank": int(row.rank), "feature": str(row.feature),
                "feature_value": None if row.feature_value is None else str(row.feature_value),
                "contribution": float(row.contribution)})
    return [(customer, float(p),
             json.dumps(reasons.get(customer, [])) if explain else None)
            for customer, p in zip(ids, probability, strict=True)]


@database_errors
def forecast_staged(plpy, run_id: int, onnx_artifact: bytes, onnx_sha256: str,
                    horizon: int | None, *, model_id: int,
                    profile: dict | str | None) -> tuple[int, bool]:
    """ops.python_step('forecast'): forecast the batch of whole series staged for the
    run (adapters/postgres_series.py) and write it to predictions.forecasts; with the
    last batch, the drift of all the run's series against ``profile`` (the version's;
    each series' level and scale kept batch by batch) to ops.run_drift; all in the
    run's transaction, in one crossing into Python per batch. Returns the forecast rows
    written by the run so far, and whether another batch follows."""
    from sqlml.adapters import postgres_series

    with pg_staging.failing(run_id) as run:
        frame, batch = postgres_series.forecast_batch(staged(run_id))
        _same_version(run, model_id, onnx_sha256)
        if run.drift is None:
            run.drift = entrypoints.series_drift_tally(profile)
        run.drift.add(frame)  # never raises: a problem is drift's '*' row
        jit_off(plpy)  # the chosen base may be a statsforecast model, compiled by numba
        out = entrypoints.forecast(frame, onnx_artifact, onnx_sha256, horizon)
        run.written += write_forecasts(plpy, run_id, model_id, out)
        postgres_series.notice_batch(plpy, batch)
        last = batch is None or batch.last
        if last:
            write_drift(plpy, run_id, model_id, profile, lambda: rows(run.drift.frame()))
            pg_staging.release(run_id)  # the run ends with this batch
        return run.written, not last


@database_errors
def evaluate_staged(plpy, run_id: int, kind: str, onnx_artifact: bytes, params: dict
                    ) -> list[tuple]:
    """ops.python_step('evaluate'): one row of the rows compared and the realised
    metrics (JSON) of the caller's rows against one version (``kinds.evaluation``).
    params: onnx_sha256, recorded (the version's validation metrics), spec_input
    (churn); forecasts (the version's latest forecast of each period, as JSON rows)
    and season (forecaster)."""
    import pandas as pd

    with pg_staging.ending(run_id):
        frame = staged(run_id)
    if kind == "churn":
        n, metrics = entrypoints.evaluate_churn(frame, onnx_artifact, params["onnx_sha256"],
                                                params["recorded"], params["spec_input"])
    else:
        forecasts = pd.DataFrame(params.get("forecasts") or [],
                                 columns=["series_id", "period", "forecast", "lower", "upper"])
        n, metrics = entrypoints.evaluate_forecaster(frame, forecasts, params["season"])
    return [(n, json.dumps(metrics))]
