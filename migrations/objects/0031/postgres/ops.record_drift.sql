-- ops.record_drift(run_id, model_id): measure the input drift of the rows staged for
-- a run against the version's training profile and write it to ops.run_drift. Called
-- by ops.run_score_churn and ops.run_forecast, in their transaction, before the
-- scoring or forecasting step takes the staged rows. It never fails the run: a problem measuring it is a
-- WARNING and a '*' row saying so. Returns nothing.
CREATE OR REPLACE FUNCTION ops.record_drift(run_id bigint, model_id bigint)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_message text;
BEGIN
    INSERT INTO ops.run_drift (run_id, model_id, feature, psi, flagged, detail)
    SELECT record_drift.run_id, record_drift.model_id, d.feature, d.psi, d.flagged, d.detail
    FROM ops.python_step('drift', record_drift.run_id, jsonb_build_object('profile', (
        SELECT r.feature_schema -> 'profile' FROM models.registry AS r
        WHERE r.model_id = record_drift.model_id
    ))) AS d (feature text, psi double precision, flagged boolean, detail jsonb);
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS v_message = MESSAGE_TEXT;
    RAISE WARNING 'sqlml: input drift not measured: %', v_message;
    INSERT INTO ops.run_drift (run_id, model_id, feature, psi, flagged, detail)
    VALUES (record_drift.run_id, record_drift.model_id, '*', NULL, false,
        jsonb_build_object('error', 'drift could not be measured: ' || v_message));
END;
$$;
REVOKE ALL ON FUNCTION ops.record_drift(bigint, bigint) FROM public;
