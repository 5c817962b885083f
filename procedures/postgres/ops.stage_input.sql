-- ops.stage_input(run_id, input_query, id_column): the caller's half of a call. Reads the input
-- query with the CALLER's rights (SECURITY INVOKER) and keeps the rows in this
-- session's memory for the run (sqlml.adapters.postgres). An error reading it goes
-- to ops.call's handler, which keeps no data value of it in ops.runs.
-- id_column (scoring): read the lean way, one array per column, that column as exact
-- text, a batch at a time through a cursor (adapters/postgres_batches.py); NULL
-- (training, forecasting): as a DataFrame. input_query NULL: the next batch of the
-- run's scoring input (ops.call's loop).
-- Called by ops.call between ops.begin_run and ops.run_call. Returns nothing.
-- Executable by sqlml_operator: alone, it reads what the caller may read, for the caller.
CREATE OR REPLACE FUNCTION ops.stage_input(run_id bigint, input_query text, id_column text)
RETURNS void
LANGUAGE plpython3u
SECURITY INVOKER
AS $$
plpy.execute("SELECT ops.use_python_runtime()")
from sqlml.adapters import postgres
postgres.stage_input(plpy, run_id, input_query, id_column)
$$;
REVOKE ALL ON FUNCTION ops.stage_input(bigint, text, text) FROM public;
GRANT EXECUTE ON FUNCTION ops.stage_input(bigint, text, text) TO sqlml_operator;
