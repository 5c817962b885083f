-- ops.stage_input(run_id, input_query, id_column, batched): the caller's half of a
-- call. Reads the input query with the CALLER's rights (SECURITY INVOKER) and keeps
-- the rows in this session's memory for the run (sqlml.adapters.postgres). An error
-- reading it goes to ops.call's handler, which keeps no data value of it in ops.runs.
-- id_column (scoring): read the lean way, one array per column, that column as exact
-- text; batched (ml.score_churn): a batch at a time through a cursor
-- (adapters/postgres_batches.py), else (ml.predict) at once; NULL: ml.forecast a
-- batch of whole series at a time (adapters/postgres_series.py), training as a
-- DataFrame. input_query NULL: the next batch of the run's scoring or forecasting
-- input (ops.call's loop).
-- Called by ops.call between ops.begin_run and ops.run_call. Returns nothing.
-- Executable by sqlml_operator: alone, it reads what the caller may read, for the caller.
CREATE OR REPLACE FUNCTION ops.stage_input(
    run_id bigint, input_query text, id_column text, batched boolean DEFAULT false
)
RETURNS void
LANGUAGE plpython3u
SECURITY INVOKER
AS $$
plpy.execute("SELECT ops.use_python_runtime()")
from sqlml.adapters import postgres
postgres.stage_input(plpy, run_id, input_query, id_column, batched)
$$;
REVOKE ALL ON FUNCTION ops.stage_input(bigint, text, text, boolean) FROM public;
GRANT EXECUTE ON FUNCTION ops.stage_input(bigint, text, text, boolean) TO sqlml_operator;
