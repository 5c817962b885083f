-- predictions.churn_reasons_latest: why each customer got their latest churn score,
-- per model name: the reasons written by the run behind predictions.churn_latest.
-- Read by analysts and retention reports (... ORDER BY churn_probability DESC, rank).
-- Returns one row per (model_name, customer_id, rank): the input column, the
-- customer's value of it as text, and its contribution (change in churn probability
-- this value accounts for; positive raises the risk), with the score and model version.
-- A customer whose latest run was scored without @explain has no rows here. Built on
-- the tables, not on churn_latest, so that either view can be replaced alone.
CREATE OR ALTER VIEW predictions.churn_reasons_latest AS
WITH latest AS (
    SELECT
        s.customer_id,
        s.churn_probability,
        r.model_name,
        r.version AS model_version,
        s.model_id,
        s.run_id,
        s.scored_at,
        ROW_NUMBER() OVER (
            PARTITION BY r.model_name, s.customer_id ORDER BY s.run_id DESC
        ) AS recency
    FROM predictions.churn_scores AS s
    INNER JOIN models.registry AS r ON s.model_id = r.model_id
    -- A shadow run (ml.score_churn with the version of a challenger, or of a retired
    -- version) is for comparing, not for acting on: the active version's scores stay.
    INNER JOIN ops.runs AS u ON s.run_id = u.run_id
    WHERE u.shadow_of IS NULL
)

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
FROM latest AS l
INNER JOIN predictions.churn_reasons AS x
    ON l.run_id = x.run_id AND l.customer_id = x.customer_id
WHERE l.recency = 1;
