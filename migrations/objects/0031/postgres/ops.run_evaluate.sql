-- ops.run_evaluate(run_id, model_name, params): the owner's half of ml.evaluate. Scores
-- the rows the caller staged (churn) or compares them with the version's latest
-- forecasts of their periods (forecaster), in the embedded Python
-- (sqlml/kinds/evaluation.py); writes models.evaluations and the run's outcome in this
-- transaction. params: version (NULL: the active one). Called by ops.run_call, with
-- the owner's rights. Returns {run_id, model_id, version, rows, metrics}.
CREATE OR REPLACE FUNCTION ops.run_evaluate(run_id bigint, model_name text, params jsonb)
RETURNS jsonb
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_kind text;
    v_model record;
    v_recorded jsonb;
    v_step jsonb;
    v_result record;
BEGIN
    SELECT min(r.kind) INTO v_kind FROM models.registry AS r
    WHERE r.model_name = run_evaluate.model_name;
    SELECT * INTO v_model FROM ops.model_version(coalesce(v_kind, 'churn'),
        run_evaluate.model_name, (run_evaluate.params ->> 'version')::integer);
    SELECT r.metrics INTO v_recorded FROM models.registry AS r
    WHERE r.model_id = v_model.model_id;
    v_step := jsonb_build_object('kind', v_kind, 'onnx_sha256', v_model.onnx_sha256,
        'recorded', v_recorded - 'curves' - 'feature_importance' - 'backtest_points');
    IF v_kind = 'churn' THEN
        v_step := v_step || jsonb_build_object('spec_input',
            (SELECT s.spec -> 'input' FROM models.specs AS s WHERE s.kind = 'churn'));
    ELSE
        -- The version's latest forecast of each period (a later run supersedes an
        -- earlier one's forecast of the same period).
        v_step := v_step || jsonb_build_object(
            'season', round(coalesce((v_recorded ->> 'season')::numeric, 1)),
            'forecasts', coalesce((
                SELECT jsonb_agg(jsonb_build_object('series_id', f.series_id,
                    'period', to_char(f.period, 'YYYY-MM-DD HH24:MI:SS'),
                    'forecast', f.forecast, 'lower', f.lower, 'upper', f.upper))
                FROM (
                    SELECT DISTINCT ON (p.series_id, p.period) p.*
                    FROM predictions.forecasts AS p
                    WHERE p.model_id = v_model.model_id
                    ORDER BY p.series_id, p.period, p.run_id DESC
                ) AS f
            ), '[]'::jsonb));
    END IF;
    SELECT * INTO v_result
    FROM ops.python_step('evaluate', run_evaluate.run_id, v_step, v_model.onnx_artifact)
        AS e (rows bigint, metrics jsonb);
    INSERT INTO models.evaluations (run_id, model_id, model_name, version, rows, metrics,
        created_by)
    VALUES (run_evaluate.run_id, v_model.model_id, run_evaluate.model_name, v_model.version,
        v_result.rows, v_result.metrics, session_user);
    UPDATE ops.runs AS r SET outcome = v_result.metrics WHERE r.run_id = run_evaluate.run_id;
    PERFORM ops.finish_run(run_evaluate.run_id, v_model.model_id, v_result.rows, 1);
    RETURN jsonb_build_object('run_id', run_evaluate.run_id, 'model_id', v_model.model_id,
        'version', v_model.version, 'rows', v_result.rows, 'metrics', v_result.metrics);
END;
$$;
REVOKE ALL ON FUNCTION ops.run_evaluate(bigint, text, jsonb) FROM public;
