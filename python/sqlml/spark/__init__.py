"""sqlml on Apache Spark: the registry's models, scored where the data is too big for
one database host, published to the same prediction tables and run log.

    from sqlml import spark as sqlml_spark
    run = sqlml_spark.score(spark, url, "churn", "SELECT * FROM features.churn_features",
                            partitioning=sqlml_spark.Partitioning("customer_id", partitions=64))

Needs ``pip install 'sqlml[spark]'`` (pyspark, pyarrow), Java 17 and the engine's
JDBC driver on the class path (see docs/spark.md). The CLI: ``sqlml spark score``.
"""

from sqlml.spark.jdbc import JdbcTarget, target
from sqlml.spark.job import Partitioning, SparkRun, forecast, score, verify_model
from sqlml.spark.session import local_session

__all__ = ["JdbcTarget", "Partitioning", "SparkRun", "forecast", "local_session", "score",
           "target", "verify_model"]
