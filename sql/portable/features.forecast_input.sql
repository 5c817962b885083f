-- features.forecast_input: the default input of ml.train_forecaster and ml.forecast.
-- One row per series and month: series_id, period (first of the month), value (NULL
-- when unknown). Point input_query elsewhere to forecast other data.
CREATE VIEW features.forecast_input AS
SELECT
    u.series_id,
    u.period,
    u.value
FROM features.monthly_usage AS u;
