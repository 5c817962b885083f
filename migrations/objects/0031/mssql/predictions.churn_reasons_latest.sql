-- predictions.churn_reasons_latest: why each customer got their churn score, per model
-- name: the reasons of the latest scoring run that kept reasons for the customer
-- (ml.score_churn with explain > 0), so a later run without explain (the nightly job)
-- does not empty it. Read by analysts and retention reports
-- (... ORDER BY churn_probability DESC, rank).
-- Returns one row per (model_name, customer_id, rank): the input column, the
-- customer's value of it as text, and its contribution (change in churn probability
-- this value accounts for; positive raises the risk), with the score, run and model
-- version those reasons belong to (compare run_id with predictions.churn_latest's to
-- see whether a newer score exists). Built on the tables, not on churn_latest, so
-- that either view can be replaced alone.
CREATE OR ALTER VIEW predictions.churn_reasons_latest AS
WITH explained AS (
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
    WHERE u.shadow_of IS NULL AND EXISTS (
        SELECT 1 FROM predictions.churn_reasons AS k
        WHERE k.run_id = s.run_id AND k.customer_id = s.customer_id
    )
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
FROM explained AS l
INNER JOIN predictions.churn_reasons AS x
    ON l.run_id = x.run_id AND l.customer_id = x.customer_id
WHERE l.recency = 1;
