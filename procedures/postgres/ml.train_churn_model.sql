-- ml.train_churn_model(model_name, input_query, options, activate): train a churn
-- classifier inside the database and register it as the model's next version.
-- Called by ML engineers, `sqlml`, and the weekly retraining job.
--   input_query  NULL: the spec's default (features.churn_features); runs with the
--                caller's rights; needs customer_id, churned (0/1) and feature columns
--   options      JSON text overriding models/churn.json options; unknown keys are errors
--   activate     activate the new version if it beats (or ties) the active one's AUC
-- Returns one row: model_id, model_name, version, status, metrics (JSON text).
-- Every call is a run in ops.runs; on any error nothing is registered. The work is
-- ops.call's (ops.run_train), shared by every model kind.
CREATE OR REPLACE FUNCTION ml.train_churn_model(
    model_name text,
    input_query text DEFAULT NULL,
    options text DEFAULT NULL,
    activate boolean DEFAULT TRUE
)
RETURNS SETOF ml.trained_model
LANGUAGE sql
AS $$
SELECT * FROM jsonb_populate_record(NULL::ml.trained_model, ops.call(
    'train_churn_model', train_churn_model.model_name,
    jsonb_build_object('input_query', train_churn_model.input_query,
        'options', train_churn_model.options, 'activate', train_churn_model.activate),
    ops.input_or_default('churn', train_churn_model.input_query)
));
$$;
REVOKE ALL ON FUNCTION ml.train_churn_model(text, text, text, boolean) FROM public;
GRANT EXECUTE ON FUNCTION ml.train_churn_model(text, text, text, boolean) TO sqlml_operator;
