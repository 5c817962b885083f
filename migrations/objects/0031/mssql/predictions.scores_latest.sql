-- predictions.scores_latest: each row's most recent score from an imported model
-- (ml.import_model, ml.predict), per model name. Read by analysts and reports
-- (SELECT ... WHERE model_name = 'x' AND score > 0.7).
-- Returns one row per (model_name, row_id) with the model version that scored it:
-- score (the positive class's probability, the predicted class's, or the value),
-- label (the predicted class as text; NULL for a regression), scored_at.
CREATE OR ALTER VIEW predictions.scores_latest AS
WITH ranked AS (
    SELECT
        r.model_name,
        r.version,
        s.row_id,
        s.score,
        s.label,
        s.scored_at,
        ROW_NUMBER() OVER (
            PARTITION BY r.model_name, s.row_id ORDER BY s.run_id DESC
        ) AS recency
    FROM predictions.model_scores AS s
    INNER JOIN models.registry AS r ON s.model_id = r.model_id
)

SELECT
    model_name,
    version,
    row_id,
    score,
    label,
    scored_at
FROM ranked
WHERE recency = 1;
