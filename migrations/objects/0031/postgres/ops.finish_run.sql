-- ops.finish_run(run_id, model_id, rows_in, rows_out): mark a run succeeded.
-- Called last by ops.run_train, ops.run_score_churn, ops.run_forecast and
-- ops.run_activate, in the same
-- transaction as the rows it counts. Returns nothing.
CREATE OR REPLACE FUNCTION ops.finish_run(
    run_id bigint, model_id bigint, rows_in bigint, rows_out bigint
)
RETURNS void
LANGUAGE sql
SET search_path = pg_catalog, pg_temp
AS $$
UPDATE ops.runs AS r
SET
    status = 'succeeded',
    model_id = $2,
    rows_in = $3,
    rows_out = $4,
    finished_at = clock_timestamp()
WHERE r.run_id = $1;
$$;
REVOKE ALL ON FUNCTION ops.finish_run(bigint, bigint, bigint, bigint) FROM public;
