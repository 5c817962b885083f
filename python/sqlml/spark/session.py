"""A Spark session for the CLI, the tests and the benchmark: ``local[N]`` unless told
otherwise, with the engine's JDBC jars. On a cluster (spark-submit, Databricks) the
session already exists and its jars come from the cluster's configuration."""

from __future__ import annotations

import os
import sys

from sqlml.spark import jdbc


def local_session(found: jdbc.JdbcTarget | None = None, master: str = "local[2]",
                  app_name: str = "sqlml", extra: dict[str, str] | None = None):
    from pyspark.sql import SparkSession

    # Executors run this interpreter, so they import the same sqlml and its pins.
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    builder = (SparkSession.builder.master(master).appName(app_name)
               .config("spark.ui.enabled", "false")
               .config("spark.sql.session.timeZone", "UTC")
               .config("spark.sql.shuffle.partitions", str(_cores(master)))
               .config("spark.sql.execution.arrow.pyspark.enabled", "true"))
    jars = jdbc.jars(found) if found is not None else []
    if jars:
        builder = builder.config("spark.jars", ",".join(jars))
    for key, value in (extra or {}).items():
        builder = builder.config(key, value)
    return builder.getOrCreate()


def _cores(master: str) -> int:
    inside = master[master.find("[") + 1:master.find("]")] if "[" in master else "2"
    return (os.cpu_count() or 2) if inside == "*" else max(1, int(inside.split(",")[0]))
