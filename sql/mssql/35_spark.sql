-- 35_spark: the role a Spark job publishes with (sqlml.spark, `sqlml spark ...`),
-- and what it may touch. Run by `sqlml deploy` after 30_roles, on every deploy;
-- idempotent. Returns nothing.
--
--   sqlml_spark  a service principal's role: opens a stage (ml.spark_begin, which
--                hands it the model version to score with), appends its executors'
--                rows to staging.churn_scores / staging.forecasts, and publishes or
--                fails the stage (ml.spark_publish, ml.spark_fail). It writes no
--                prediction, run or registry table: the procedures do, through
--                ownership chaining, after their checks. It reads its input query
--                with its own rights, hence SELECT on features.
--
-- 30_roles grants sqlml_operator EXECUTE on the whole ml schema; ml.spark_begin
-- therefore also checks membership of sqlml_spark (or db_owner) itself, since a
-- DENY here would shut out a login that holds both roles. ml.spark_abandon only
-- closes stages as failed runs, so operators may run it too.
SET NOCOUNT ON;

IF DATABASE_PRINCIPAL_ID(N'sqlml_spark') IS NULL
    CREATE ROLE sqlml_spark;

GRANT EXECUTE ON OBJECT::ml.spark_begin TO sqlml_spark;
GRANT EXECUTE ON OBJECT::ml.spark_publish TO sqlml_spark;
GRANT EXECUTE ON OBJECT::ml.spark_fail TO sqlml_spark;
GRANT EXECUTE ON OBJECT::ml.spark_abandon TO sqlml_spark;
-- The job's check of its input query before Spark embeds it (issue 22).
GRANT EXECUTE ON OBJECT::ml.check_input_query TO sqlml_spark;
GRANT SELECT ON SCHEMA::features TO sqlml_spark;
-- Spark's JDBC writer checks that the table exists with a SELECT before it appends.
GRANT SELECT, INSERT ON OBJECT::staging.churn_scores TO sqlml_spark;
GRANT SELECT, INSERT ON OBJECT::staging.forecasts TO sqlml_spark;
