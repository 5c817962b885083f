"""The demo's last churn step: the customers most at risk and why, from the analyst view.

Reads ``predictions.churn_reasons_latest`` (what a scoring run with ``explain => 3``
wrote) exactly as an analyst would, and prints each customer's score with their
reasons: the input column, the customer's value, and the change in churn
probability that value accounts for.
"""

from __future__ import annotations

import sqlalchemy as sa

# The customers with the highest latest score, then their reasons in rank order.
# Plain SQL both engines run: no LIMIT/TOP in the ranking, a window instead.
TOP_REASONS = """
SELECT customer_id, churn_probability, model_version, rank, feature, feature_value,
       contribution
FROM (
    SELECT r.*, DENSE_RANK() OVER (ORDER BY r.churn_probability DESC, r.customer_id) AS place
    FROM predictions.churn_reasons_latest AS r
    WHERE r.model_name = :model_name AND r.rank <= :reasons
) AS ranked
WHERE place <= :customers
ORDER BY place, rank
"""


def top_reasons(engine: sa.Engine, model_name: str = "churn", customers: int = 10,
                reasons: int = 3) -> list:
    with engine.connect() as connection:
        return connection.execute(sa.text(TOP_REASONS), {
            "model_name": model_name, "customers": customers, "reasons": reasons}).all()


def print_top_reasons(engine: sa.Engine, model_name: str = "churn", customers: int = 10,
                      reasons: int = 3) -> int:
    """Print the ``customers`` most at risk with up to ``reasons`` reasons each; returns
    how many customers were printed (0 when the latest run kept no reasons)."""
    rows = top_reasons(engine, model_name, customers, reasons)
    if not rows:
        print("   no reasons yet: score with explain => 3 to keep three per customer")
        return 0
    print(f"   {'customer_id':>12} {'churn':>6}  reasons (feature = value: change in probability)")
    shown, current = 0, None
    for row in rows:
        if row.customer_id != current:
            current, shown = row.customer_id, shown + 1
            print(f"   {row.customer_id:>12} {row.churn_probability:>6.3f}", end="")
            lead = "  "
        else:
            lead = " " * 23
        value = "NULL" if row.feature_value is None else row.feature_value
        print(f"{lead}{row.rank}. {row.feature} = {value}: {row.contribution:+.3f}")
    return shown
