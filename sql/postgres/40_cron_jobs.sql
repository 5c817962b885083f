-- 40_cron_jobs: the scheduled runs, as pg_cron jobs calling the public ml routines.
-- Run by `sqlml deploy` after the migrations, on every deploy; idempotent.
-- Returns nothing; says with a NOTICE when it schedules nothing, and why.
--
--   sqlml-score-churn    nightly  02:00  ml.score_churn(model_name => 'churn')
--   sqlml-retrain-churn  weekly   Sun 03:00  ml.train_churn_model(..., activate => true)
--   sqlml-forecast       monthly  1st 04:00  ml.forecast(model_name => 'forecast')
--   sqlml-retrain-check  weekly   Mon 03:00  ops.retrain_check(model_name => 'churn', ...):
--                        retrains only on evidence (realised metric on the latest
--                        labelled window, drift flagged N runs in a row, the version's
--                        age; docs/agent-jobs.md); created INACTIVE, for a DBA to set
--                        its window and margins and enable in place of sqlml-retrain-churn
--   sqlml-sweep-runs     every 5 minutes    ops.sweep_runs(): runs whose session died
--                                           become 'abandoned' (each call sweeps too)
--
-- Times are pg_cron's (GMT unless cron.timezone says otherwise). Failures: each ml
-- routine records its own failed run in ops.runs, and pg_cron keeps the error in
-- cron.job_run_details.
--
-- pg_cron lives in one database per server (cron.database_name, which must be in
-- shared_preload_libraries to be set); every other database, such as the ones the
-- test suite deploys into, gets no jobs. Re-deploying keeps a job's active flag,
-- so a DBA's cron.alter_job(job_id, active => false) survives it, and unschedules
-- sqlml-* jobs this file no longer defines.

DO $$
DECLARE
    v_cron_database text := current_setting('cron.database_name', true);
    v_job record;
    v_active boolean;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'pg_cron') THEN
        RAISE NOTICE 'sqlml: pg_cron is not installed on this server, so no jobs are scheduled'
            USING HINT = 'install it (Debian: postgresql-15-cron) and preload it to schedule runs';
        RETURN;
    END IF;
    IF v_cron_database IS NULL THEN
        RAISE NOTICE 'sqlml: pg_cron is not preloaded, so no jobs are scheduled'
            USING HINT = 'add pg_cron to shared_preload_libraries and set cron.database_name';
        RETURN;
    END IF;
    IF v_cron_database <> current_database() THEN
        RAISE NOTICE 'sqlml: no jobs scheduled in database %: pg_cron runs in %',
            quote_ident(current_database()), quote_ident(v_cron_database);
        RETURN;
    END IF;

    BEGIN
        CREATE EXTENSION IF NOT EXISTS pg_cron;
    EXCEPTION WHEN insufficient_privilege THEN
        RAISE NOTICE 'sqlml: no jobs scheduled: % cannot create the pg_cron extension',
            quote_ident(current_user)
            USING HINT = 'a superuser runs CREATE EXTENSION pg_cron once, then deploy again';
        RETURN;
    END;

    FOR v_job IN
        SELECT * FROM (VALUES
            ('sqlml-score-churn', '0 2 * * *',
             'SELECT * FROM ml.score_churn(model_name => ''churn'')', true),
            ('sqlml-retrain-churn', '0 3 * * 0',
             'SELECT * FROM ml.train_churn_model(model_name => ''churn'', activate => true)', true),
            ('sqlml-forecast', '0 4 1 * *',
             'SELECT * FROM ml.forecast(model_name => ''forecast'')', true),
            ('sqlml-sweep-runs', '*/5 * * * *', 'SELECT ops.sweep_runs()', true),
            ('sqlml-retrain-check', '0 3 * * 1',
             'SELECT * FROM ops.retrain_check(model_name => ''churn'', evaluate_query => '
             '''SELECT * FROM features.churn_features'', max_drop => 0.02, drift_runs => 3,'
             ' max_age_days => 28)', false)
        ) AS j (job_name, schedule, command, active_at_first)
    LOOP
        SELECT j.active INTO v_active
        FROM cron.job AS j
        WHERE j.jobname = v_job.job_name AND j.username = current_user;
        -- schedule_in_database updates the job of that name and user when it exists.
        PERFORM cron.schedule_in_database(
            v_job.job_name, v_job.schedule, v_job.command,
            current_database(), current_user, coalesce(v_active, v_job.active_at_first)
        );
    END LOOP;

    FOR v_job IN
        SELECT j.jobname FROM cron.job AS j
        WHERE
            j.jobname LIKE 'sqlml-%'
            AND j.username = current_user
            AND j.jobname NOT IN (
                'sqlml-score-churn', 'sqlml-retrain-churn', 'sqlml-forecast', 'sqlml-sweep-runs',
                'sqlml-retrain-check'
            )
    LOOP
        PERFORM cron.unschedule(v_job.jobname);
    END LOOP;
END;
$$;
