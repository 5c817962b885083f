-- predictions.forecast_latest: the newest forecast of each series, per model name.
-- Read by analysts and reports. Returns one row per (model_name, series_id, period)
-- from the latest run that forecast that series, with the model version and interval.
CREATE OR REPLACE VIEW predictions.forecast_latest AS
WITH latest AS (
    SELECT
        r.model_name,
        f.series_id,
        MAX(f.run_id) AS run_id
    FROM predictions.forecasts AS f
    INNER JOIN models.registry AS r ON f.model_id = r.model_id
    -- A shadow run (ml.forecast with the version of a challenger, or of a retired
    -- version) is for comparing, not for planning with: the active version's stay.
    INNER JOIN ops.runs AS u ON f.run_id = u.run_id
    WHERE u.shadow_of IS NULL
    GROUP BY r.model_name, f.series_id
)

SELECT
    f.series_id,
    f.period,
    f.step,
    f.forecast,
    f.lower,
    f.upper,
    l.model_name,
    r.version AS model_version,
    f.model_id,
    f.run_id
FROM predictions.forecasts AS f
INNER JOIN models.registry AS r ON f.model_id = r.model_id
INNER JOIN latest AS l
    ON
        r.model_name = l.model_name
        AND f.series_id = l.series_id
        AND f.run_id = l.run_id;
