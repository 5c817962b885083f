-- 35_spark: the role a Spark job publishes with (sqlml.spark, `sqlml spark ...`),
-- and what it may touch. Run by `sqlml deploy` after 30_roles, on every deploy;
-- idempotent. Returns nothing.
--
--   sqlml_spark  a service principal's group role: opens a stage (ml.spark_begin,
--                which hands it the model version to score with), appends its
--                executors' rows to staging.churn_scores / staging.forecasts, and
--                publishes or fails the stage (ml.spark_publish, ml.spark_fail).
--                It writes no prediction, run or registry table: the publishing
--                routines do, with the owner's rights, after their checks. It
--                reads its input query with its own rights, hence SELECT on
--                features, as sqlml_operator has.
--
-- The routines are the owner's (SECURITY DEFINER); each object file revokes EXECUTE
-- from PUBLIC and grants it to sqlml_spark (ml.spark_abandon, which only fails runs
-- that will never be published, to sqlml_operator too). Publishing predictions
-- computed outside the database is a right of its own, given by a DBA (GRANT
-- sqlml_spark TO the job's login). Revoked here from sqlml_operator as well, for
-- deploys whose 30_roles grants it every ml routine.

DO $$
BEGIN
    BEGIN
        CREATE ROLE sqlml_spark NOLOGIN;
    EXCEPTION WHEN duplicate_object THEN
        NULL;
    END;
END;
$$;

REVOKE ALL ON FUNCTION
ml.spark_begin(text, text, integer, integer, jsonb),
ml.spark_publish(bigint, bigint, bigint),
ml.spark_fail(bigint, text),
ops.close_spark_stage(ops.spark_stages, text, text)
FROM sqlml_operator;

GRANT USAGE ON SCHEMA ml, staging, features TO sqlml_spark;
GRANT SELECT ON ALL TABLES IN SCHEMA features TO sqlml_spark;
-- Spark's JDBC writer checks that the table exists with a SELECT before it appends.
GRANT SELECT, INSERT ON staging.churn_scores, staging.forecasts TO sqlml_spark;
