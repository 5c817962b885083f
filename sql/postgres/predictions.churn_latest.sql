-- predictions.churn_latest: each customer's most recent churn score, per model name.
-- Read by analysts and reports (SELECT ... WHERE churn_probability > 0.7).
-- Returns one row per (model_name, customer_id) with the model version that scored it.
CREATE OR REPLACE VIEW predictions.churn_latest AS
SELECT DISTINCT ON (r.model_name, s.customer_id)
    s.customer_id,
    s.churn_probability,
    r.model_name,
    r.version AS model_version,
    s.model_id,
    s.run_id,
    s.scored_at
FROM predictions.churn_scores AS s
INNER JOIN models.registry AS r ON s.model_id = r.model_id
ORDER BY r.model_name ASC, s.customer_id ASC, s.run_id DESC;
