-- ops.begin_run(run_type, model_name, params): open a row in ops.runs; returns its run_id.
-- Called first inside the guarded block of every ml procedure, so that a failure
-- rolls the row back before ops.fail_run records the run from its own transaction.
CREATE OR REPLACE FUNCTION ops.begin_run(run_type text, model_name text, params jsonb)
RETURNS bigint
LANGUAGE sql
AS $$
INSERT INTO ops.runs (run_type, model_name, params)
VALUES ($1, $2, $3)
RETURNING run_id;
$$;
