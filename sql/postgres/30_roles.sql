-- 30_roles: the two roles sqlml's users are granted, and what each may touch.
-- Run by `sqlml deploy` after the migrations, on every deploy; idempotent.
-- Returns nothing.
--
--   sqlml_analyst   reads the six analyst views: predictions.churn_latest,
--                   predictions.churn_reasons_latest, predictions.forecast_latest,
--                   predictions.scores_latest, models.active_models, models.drift.
--                   No features,
--                   no registry table (model blobs), no procedures.
--   sqlml_operator  runs the ml routines (train, score, forecast, activate); reads
--                   features (the default input queries run with the caller's
--                   rights), models and predictions, and its own runs in ops.runs
--                   (row-level security). It writes no table itself: the routines
--                   write with the owner's rights (see docs/trust.md).
--
-- Both are NOLOGIN group roles: a DBA grants them to login roles
-- (GRANT sqlml_analyst TO alice). Roles are cluster-wide while grants are per
-- database, so every database sqlml is deployed to re-grants its own objects here.
-- EXECUTE on routines is not granted here: each routine's object file revokes it
-- from PUBLIC and grants it where needed, so migrations alone keep it right.

DO $$
BEGIN
    -- Two deploys into two databases of one cluster may race to create the role.
    BEGIN
        CREATE ROLE sqlml_analyst NOLOGIN;
    EXCEPTION WHEN duplicate_object THEN
        NULL;
    END;
    BEGIN
        CREATE ROLE sqlml_operator NOLOGIN;
    EXCEPTION WHEN duplicate_object THEN
        NULL;
    END;
END;
$$;

-- Analysts: the views only. The views run with their owner's rights, so no
-- privilege on the tables behind them is needed (or given).
GRANT USAGE ON SCHEMA predictions, models TO sqlml_analyst;
GRANT SELECT ON predictions.churn_latest, predictions.churn_reasons_latest,
predictions.forecast_latest, models.active_models, models.drift, models.performance
TO sqlml_analyst;
GRANT SELECT ON predictions.scores_latest TO sqlml_analyst;

-- Operators: read, and call the routines. An input_query (the default ones
-- included) runs with the caller's rights, hence SELECT on features. No write on
-- any table (revoked too, for databases deployed before revision 0010).
GRANT USAGE ON SCHEMA features, models, predictions, ops, ml TO sqlml_operator;
GRANT SELECT ON ALL TABLES IN SCHEMA features, models, predictions TO sqlml_operator;
GRANT SELECT ON ops.runs TO sqlml_operator;
REVOKE INSERT, UPDATE, DELETE, TRUNCATE ON ALL TABLES IN SCHEMA features, models, predictions, ops
FROM sqlml_operator;
