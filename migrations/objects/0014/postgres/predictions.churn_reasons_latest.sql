-- predictions.churn_reasons_latest: why each customer got their latest churn score,
-- per model name: the reasons written by the run behind predictions.churn_latest.
-- Read by analysts and retention reports (... ORDER BY churn_probability DESC, rank).
-- Returns one row per (model_name, customer_id, rank): the input column, the
-- customer's value of it as text, and its contribution (change in churn probability
-- this value accounts for; positive raises the risk), with the score and model version.
-- A customer whose latest run was scored without explain has no rows here.
CREATE OR REPLACE VIEW predictions.churn_reasons_latest AS
SELECT
    l.customer_id,
    x.rank,
    x.feature,
    x.feature_value,
    x.contribution,
    l.churn_probability,
    l.model_name,
    l.model_version,
    l.model_id,
    l.run_id,
    l.scored_at
FROM predictions.churn_latest AS l
INNER JOIN predictions.churn_reasons AS x
    ON l.run_id = x.run_id AND l.customer_id = x.customer_id;
