-- 30_roles: the two roles sqlml's users are granted, and what each may touch.
-- Run by `sqlml deploy` after the migrations, on every deploy; idempotent.
-- Returns nothing.
--
--   sqlml_analyst   reads the three analyst views: predictions.churn_latest,
--                   predictions.forecast_latest, models.active_models. No features,
--                   no registry table (model blobs), no procedures.
--   sqlml_operator  runs the ml routines (train, score, forecast, activate) and so
--                   needs what those SECURITY INVOKER routines touch: the features
--                   it reads, the registry, ops.runs and the prediction tables.
--
-- Both are NOLOGIN group roles: a DBA grants them to login roles
-- (GRANT sqlml_analyst TO alice). Roles are cluster-wide while grants are per
-- database, so every database sqlml is deployed to re-grants its own objects here;
-- routines and tables added by later migrations are covered by the next deploy.

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
GRANT SELECT ON predictions.churn_latest, predictions.forecast_latest, models.active_models,
models.drift TO sqlml_analyst;

-- Operators: everything the ml routines do with the caller's rights. An
-- input_query also runs with the caller's rights, hence SELECT on features.
GRANT USAGE ON SCHEMA features, models, predictions, ops, ml TO sqlml_operator;
GRANT EXECUTE ON ALL ROUTINES IN SCHEMA ml, ops TO sqlml_operator;
GRANT SELECT ON ALL TABLES IN SCHEMA features, models, predictions TO sqlml_operator;
GRANT SELECT, INSERT, UPDATE ON
models.registry, ops.runs, predictions.churn_scores, predictions.forecasts
TO sqlml_operator;
