-- features.churn_features: the default input of ml.train_churn_model and ml.score_churn.
-- One row per customer: customer_id, the feature columns, and churned (0/1, NULL when
-- unknown). Scoring ignores churned. Point input_query elsewhere to use other data.
CREATE VIEW features.churn_features AS
SELECT
    c.customer_id,
    c.region,
    c.plan_tier,
    c.contract,
    c.tenure_months,
    c.internet_service,
    c.phone_service,
    c.streaming,
    c.tech_support,
    c.payment_method,
    c.paperless_billing,
    c.monthly_charges,
    c.total_charges,
    c.support_calls,
    c.monthly_usage_minutes,
    c.usage_change_pct,
    c.churned
FROM features.customers AS c;
