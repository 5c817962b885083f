"""Score and forecast on Apache Spark with the registry, artifacts and entry points
the procedures use, publishing one run atomically.

1. ``ml.spark_begin`` (owner's rights) resolves the model version as the procedures
   do and opens the run (``ops.begin_run``) and its stage; the driver checks the
   blob's hash and identity before any executor starts, and every executor checks
   them again inside the entry point.
2. The input query is read through Spark's JDBC source in parallel partitions
   (a numeric/date partition column with bounds, or a list of predicates).
3. Executors score Arrow batches with ``mapInPandas`` (churn: any batch of rows) or
   whole series per group with ``applyInPandas`` (forecasts), calling
   ``sqlml.entrypoints.score_churn`` / ``forecast``, and append to the stage.
4. ``ml.spark_publish`` dedupes what retried tasks wrote twice, checks the counts
   against the job's own, and in one transaction writes the predictions, finishes
   the run (``ops.finish_run``) and drops the stage. Any failure after step 1 fails
   the run and drops the stage with ``ml.spark_fail``.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from sqlml import artifacts
from sqlml.errors import InputError, SqlmlError
from sqlml.spark import jdbc
from sqlml.spark.routines import JdbcSession, Stage, database_error

STAGE_TABLES = {"churn": "staging.churn_scores", "forecaster": "staging.forecasts"}
CHURN_SCHEMA = "run_id long, customer_id string, churn_probability double"
FORECAST_SCHEMA = ("run_id long, series_id string, period date, step int, forecast double, "
                   "lower double, upper double")


@dataclass(frozen=True)
class Partitioning:
    """How Spark splits the input query's read: by ``column`` between bounds (found
    with one min/max query when not given), or by ``predicates`` (one partition each,
    e.g. ``customer_id % 4 = 0``, ...), else one partition."""

    column: str | None = None
    lower: int | str | None = None
    upper: int | str | None = None
    partitions: int | None = None
    predicates: Sequence[str] | None = None


@dataclass(frozen=True)
class SparkRun:
    run_id: int
    model_id: int
    version: int
    rows_in: int
    rows_out: int
    seconds: float  # end to end, begin to publish
    publish_seconds: float  # ml.spark_publish alone: the serial part of a run


def score(spark, url: str, model_name: str, query: str, version: int | None = None,
          partitioning: Partitioning | None = None, user: str | None = None,
          password: str | None = None, progress: Callable[[str], None] = lambda m: None
          ) -> SparkRun:
    """Churn probabilities for every row of ``query`` (``customer_id`` and the model's
    features), published to ``predictions.churn_scores`` as one run."""
    return _run(spark, "churn", url, model_name, query, version, None,
                partitioning or Partitioning(), user, password, progress)


def forecast(spark, url: str, model_name: str, query: str, version: int | None = None,
             horizon: int | None = None, partitioning: Partitioning | None = None,
             user: str | None = None, password: str | None = None,
             progress: Callable[[str], None] = lambda m: None) -> SparkRun:
    """``horizon`` steps for every series of ``query`` (``series_id``, ``period``,
    ``value``), published to ``predictions.forecasts`` as one run."""
    return _run(spark, "forecaster", url, model_name, query, version, horizon,
                partitioning or Partitioning(), user, password, progress)


def _run(spark, kind, url, model_name, query, version, horizon, partitioning, user, password,
         progress) -> SparkRun:
    if not query or not query.strip():
        raise InputError("sqlml spark: --query is required (the rows to score)")
    found = jdbc.target(url, user, password)
    started = time.perf_counter()
    params = {"input_query": query, "engine": "spark", "spark_version": spark.version,
              "spark_master": spark.sparkContext.master}
    if horizon is not None:
        params["horizon"] = horizon
    with JdbcSession(spark, found) as session:
        try:
            stage = session.begin(kind, model_name, version, horizon, params)
        except Exception as exc:  # nothing to close: no run was opened
            raise database_error(exc) from exc
        progress(f"sqlml spark: run {stage.run_id} for {model_name!r} version "
                 f"{stage.version} ({found.engine})")
        try:
            steps = verify_model(stage, kind, horizon)
            query = _one_query(session, query)
            frame = _read(spark, found, session, query, partitioning, _key_column(stage, kind))
            if kind == "churn":
                rows_in = frame.count()
                rows_expected = rows_in
                out = _score_churn(spark, frame, stage)
            else:
                rows_in = frame.select("series_id").distinct().count()
                rows_expected = rows_in * steps
                out = _forecast(spark, frame, stage, horizon, partitioning)
            progress(f"sqlml spark: {rows_in} input {'rows' if kind == 'churn' else 'series'}"
                     f" in {frame.rdd.getNumPartitions()} partition(s); scoring")
            (out.write.format("jdbc").mode("append")
             .option("url", found.url).option("dbtable", STAGE_TABLES[kind])
             .options(**found.properties).save())
            publish_started = time.perf_counter()
            published = session.publish(stage.run_id, rows_in, rows_expected)
            publish_seconds = time.perf_counter() - publish_started
        except Exception as exc:
            error = database_error(exc) if _is_java(exc) else exc
            try:
                session.fail(stage.run_id, _failure(error))
            except Exception as closing:  # keep the first error; ml.spark_abandon cleans up
                progress(f"sqlml spark: could not fail run {stage.run_id}: {closing}")
            if isinstance(error, SqlmlError):
                raise error from exc
            raise SqlmlError(f"sqlml spark: {type(exc).__name__}: {exc}") from exc
    seconds = time.perf_counter() - started
    progress(f"sqlml spark: run {published.run_id} wrote {published.rows_written} rows "
             f"in {seconds:.1f} s")
    return SparkRun(published.run_id, published.model_id, published.version, rows_in,
                    published.rows_written, seconds, publish_seconds)


def verify_model(stage: Stage, kind: str, horizon: int | None) -> int:
    """The driver's check of the version before any executor starts: the blob's
    sha256 and manifest (:func:`sqlml.artifacts.unpack`, as the procedures do) and
    that it holds a ``kind`` ONNX model. Returns the steps a forecast writes."""
    bundle = artifacts.unpack(stage.onnx_artifact, stage.onnx_sha256, "onnx_artifact")
    if bundle.kind != kind or bundle.member != "model.onnx":
        raise SqlmlError(f"model version {stage.version} (model_id {stage.model_id}) holds a "
                         f"{bundle.kind} {bundle.member}, not a {kind} ONNX model")
    if kind != "forecaster":
        return 1
    trained = int(bundle.preprocessing["scaling"]["horizon"])
    return trained if horizon is None else int(horizon)


def _key_column(stage: Stage, kind: str) -> str:
    """The column that keys the predictions: the churn version's id column, or series_id."""
    if kind == "forecaster":
        return "series_id"
    bundle = artifacts.unpack(stage.onnx_artifact, stage.onnx_sha256, "onnx_artifact")
    return str(bundle.preprocessing["id_column"])


def _one_query(session: JdbcSession, query: str) -> str:
    """The query as Spark will embed it, once the database's parser has found it to be
    exactly one query (``ml.check_input_query``): Spark's JDBC source runs it inside
    ``SELECT ... FROM (<query>) AS sqlml_input``, where a query that closes that
    parenthesis itself would run statements of its own (issue 22). A trailing
    semicolon is dropped, as the procedures' readers drop it."""
    body = re.sub(r"[;\s]+$", "", query.strip())
    try:
        session.check_query(body)
    except Exception as exc:
        raise database_error(exc) from exc
    return body


def _read(spark, found: jdbc.JdbcTarget, session: JdbcSession, query: str,
          partitioning: Partitioning, key: str):
    # On lines of their own, as ml.check_input_query checked it: a trailing line
    # comment ends before the closing parenthesis.
    table = f"(\n{query}\n) AS sqlml_input"
    reader = spark.read.format("jdbc").option("url", found.url).options(**found.properties)
    if partitioning.predicates:
        frame = spark.read.jdbc(found.url, table, predicates=list(partitioning.predicates),
                                properties=dict(found.properties))
    elif partitioning.column:
        lower, upper = partitioning.lower, partitioning.upper
        if lower is None or upper is None:
            low, high = session.bounds(query, partitioning.column)
            lower = low if lower is None else lower
            upper = high if upper is None else upper
        partitions = partitioning.partitions or spark.sparkContext.defaultParallelism
        frame = (reader.option("dbtable", table)
                 .option("partitionColumn", partitioning.column)
                 .option("lowerBound", str(lower)).option("upperBound", str(upper))
                 .option("numPartitions", str(partitions)).load())
    else:
        frame = reader.option("dbtable", table).load()
    return _as_the_procedures_read(frame, key)


def _as_the_procedures_read(frame, key: str):
    """NUMERIC/DECIMAL feature columns as float64, as the engine adapters hand them to
    the entry points (Arrow would otherwise give pandas Python Decimals); a DECIMAL
    key column as its exact digits (as float64 a 19-digit key is rounded, and the
    rounded key can be another customer's): a whole value without the zeros of the
    scale Spark's JDBC source gives an unconstrained NUMERIC (38, 18)."""
    from pyspark.sql import functions as F
    from pyspark.sql.types import DecimalType

    def column(f):
        col = frame[f.name]
        if not isinstance(f.dataType, DecimalType):
            return col
        if f.name.lower() != key.lower():
            return col.cast("double").alias(f.name)
        if f.dataType.scale == 0:
            return col.cast("string").alias(f.name)
        whole = col.cast(DecimalType(38, 0))
        fraction = F.regexp_replace(col.cast("string"), r"0+$", "")
        return F.when(col == whole, whole.cast("string")).otherwise(fraction).alias(f.name)

    return frame.select(*[column(f) for f in frame.schema.fields])


def _score_churn(spark, frame, stage: Stage):
    blob = spark.sparkContext.broadcast(stage.onnx_artifact)
    sha, run_id = stage.onnx_sha256, stage.run_id

    def score_batches(batches):
        from sqlml import entrypoints

        for batch in batches:
            scores = entrypoints.score_churn(batch, blob.value, sha)
            scores.insert(0, "run_id", run_id)
            yield scores

    return frame.mapInPandas(score_batches, CHURN_SCHEMA)


def _forecast(spark, frame, stage: Stage, horizon: int | None, partitioning: Partitioning):
    """Each series must reach the entry point whole: rows are grouped by a hash
    bucket of ``series_id`` (one ONNX session per bucket, not per series)."""
    from pyspark.sql import functions as F

    blob = spark.sparkContext.broadcast(stage.onnx_artifact)
    sha, run_id = stage.onnx_sha256, stage.run_id
    buckets = partitioning.partitions or spark.sparkContext.defaultParallelism

    def forecast_bucket(rows):
        import pandas as pd

        from sqlml import entrypoints

        out = entrypoints.forecast(rows.drop(columns=["sqlml_bucket"]), blob.value, sha, horizon)
        out.insert(0, "run_id", run_id)
        out["period"] = pd.to_datetime(out["period"]).dt.date
        return out

    bucket = F.pmod(F.hash(F.col("series_id").cast("string")), F.lit(buckets))
    return (frame.withColumn("sqlml_bucket", bucket).groupBy("sqlml_bucket")
            .applyInPandas(forecast_bucket, FORECAST_SCHEMA))


def _failure(error: Exception) -> str:
    """The run's error: sqlml's own sentence as is, else the exception's class and text
    (Spark's start with the class name already)."""
    text = str(error).strip()
    if text.startswith("sqlml: ") or isinstance(error, SqlmlError):
        return text if text.startswith("sqlml: ") else f"sqlml: {text}"
    return f"{type(error).__name__}: {text}"


def _is_java(exc: Exception) -> bool:
    return type(exc).__module__.startswith("py4j")
