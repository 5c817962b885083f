"""A deterministic synthetic telco: customers and whether they churned.

The churn process is documented here so that tests can hold a model to it:

    logit = -2.0
            + contract effect        month-to-month +1.1, one year -0.4, two year -1.6
            - 0.9 * log1p(tenure_months / 6)
            + 0.55 * fiber internet  + 0.45 * pays by electronic check
            + 0.30 * support_calls   - 0.50 * has tech support
            + 0.015 * (monthly_charges - 65)
            - 0.05 * usage_change_pct (recent change in usage, per cent)
            + 0.25 * paperless billing
            + 1.0 * (month-to-month AND fiber AND tenure < 12)   <- an interaction
            + 0.8 * (support_calls >= 4)                          <- a threshold effect
    churned ~ Bernoulli(sigmoid(logit))

The last two terms are what a linear model cannot represent exactly. The
true probability is returned beside the data (never loaded into the database),
and the AUC of that probability is the best any model can reach on the sample.
``total_charges`` and ``monthly_usage_minutes`` have NULLs, as real extracts do.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

REGIONS = ["north", "south", "east", "west", "central"]
CONTRACTS = ["month-to-month", "one_year", "two_year"]
PAYMENTS = ["electronic_check", "mailed_check", "bank_transfer", "credit_card"]
INTERNET = ["dsl", "fiber", "none"]
CONTRACT_EFFECT = {"month-to-month": 1.1, "one_year": -0.4, "two_year": -1.6}


def customers(n: int, seed: int = 7) -> tuple[pd.DataFrame, np.ndarray]:
    """``n`` customers (with ``churned``) and each one's true churn probability."""
    rng = np.random.default_rng(seed)
    contract = rng.choice(CONTRACTS, n, p=[0.55, 0.25, 0.20])
    min_tenure = np.select([contract == "one_year", contract == "two_year"], [6, 12], 1)
    tenure = np.where(
        contract == "month-to-month",
        np.minimum(rng.geometric(1 / 18, n), 72),
        rng.integers(min_tenure, 73, n),
    ).astype(np.int64)
    internet = rng.choice(INTERNET, n, p=[0.35, 0.45, 0.20])
    online = internet != "none"
    phone = rng.random(n) < 0.9
    streaming = online & (rng.random(n) < 0.45)
    tech_support = online & (rng.random(n) < 0.35)
    payment = rng.choice(PAYMENTS, n, p=[0.34, 0.23, 0.22, 0.21])
    paperless = rng.random(n) < 0.6
    monthly = (20 + 25 * (internet == "dsl") + 50 * (internet == "fiber") + 10 * streaming
               + 5 * tech_support + 5 * phone + rng.normal(0, 5, n)).round(2)
    total = (monthly * tenure * rng.uniform(0.9, 1.05, n)).round(2)
    calls = rng.poisson(0.6 + 1.4 * ((internet == "fiber") & ~tech_support), n)
    usage = rng.gamma(4.0, 90.0, n).round(1) * np.where(online, 1.0, 0.4)
    usage_change = rng.normal(0, 12, n).round(1)
    plan = np.select([monthly < 45, monthly < 80], ["basic", "standard"], "premium")

    logit = (
        -2.0
        + pd.Series(contract).map(CONTRACT_EFFECT).to_numpy()
        - 0.9 * np.log1p(tenure / 6)
        + 0.55 * (internet == "fiber")
        + 0.45 * (payment == "electronic_check")
        + 0.30 * calls
        - 0.50 * tech_support
        + 0.015 * (monthly - 65)
        - 0.05 * usage_change
        + 0.25 * paperless
        + 1.0 * ((contract == "month-to-month") & (internet == "fiber") & (tenure < 12))
        + 0.8 * (calls >= 4)
    )
    probability = 1 / (1 + np.exp(-logit))
    churned = (rng.random(n) < probability).astype(np.int64)

    frame = pd.DataFrame({
        "customer_id": np.arange(1, n + 1, dtype=np.int64),
        "region": rng.choice(REGIONS, n, p=[0.2, 0.25, 0.2, 0.2, 0.15]),
        "plan_tier": plan,
        "contract": contract,
        "tenure_months": tenure,
        "internet_service": internet,
        "phone_service": phone,
        "streaming": streaming,
        "tech_support": tech_support,
        "payment_method": payment,
        "paperless_billing": paperless,
        "monthly_charges": monthly,
        "total_charges": np.where(rng.random(n) < 0.02, np.nan, total),
        "support_calls": calls.astype(np.int64),
        "monthly_usage_minutes": np.where(rng.random(n) < 0.03, np.nan, usage),
        "usage_change_pct": usage_change,
        "churned": churned,
    })
    return frame, probability


def load_customers(engine, n: int, seed: int = 7) -> int:
    """Replace ``features.customers`` with ``n`` synthetic customers."""
    from sqlml.demo.bulk import insert_frame

    frame, _ = customers(n, seed)
    return insert_frame(engine, "features.customers", frame)
