"""A deterministic synthetic calling-plan churn set whose churn is thresholds and interactions.

Modelled on the public telecom "churn in calling plans" sets (per-period minutes,
calls and charges by time of day, an international plan, a voice-mail plan,
customer-service calls), where gradient boosting clearly beats logistic
regression because churn follows rules rather than a linear trend:

    logit = -4.8
            + 5.2 * (day_charge + eve_charge > 62 AND no voice-mail plan)   high spenders
            + 2.2 * (day_charge > 44)                                       a day-charge threshold
            + 4.6 * (service_calls >= 4 AND day_charge < 31)                unhappy, low usage
            + 1.4 * (service_calls >= 4 AND day_charge >= 31)
            + 6.0 * (international plan AND (intl_minutes > 13 OR intl_calls < 3))
            + 0.8 * international plan
            + 0.02 * (day_charge - 30)                                      a weak linear trend
    churned ~ Bernoulli(sigmoid(logit))

Charges are minutes times a fixed rate, as in the real sets, so the charge and
minute columns are collinear. ``state`` is a high-cardinality categorical with no
effect; ``account_length`` and ``area_code`` are noise too.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

STATES = [f"S{i:02d}" for i in range(51)]


def customers(n: int, seed: int = 13) -> tuple[pd.DataFrame, np.ndarray]:
    """``n`` customers (with ``churned``) and each one's true churn probability."""
    rng = np.random.default_rng(seed)
    intl_plan = rng.random(n) < 0.10
    vmail_plan = rng.random(n) < 0.27
    vmail_messages = np.where(vmail_plan, np.clip(rng.normal(29, 8, n), 1, 52), 0).round()
    day_min = np.clip(rng.normal(180, 54, n), 0, 351).round(1)
    eve_min = np.clip(rng.normal(201, 51, n), 0, 364).round(1)
    night_min = np.clip(rng.normal(201, 51, n), 23, 395).round(1)
    intl_min = np.clip(rng.normal(10.2, 2.8, n), 0, 20).round(1)
    day_charge, eve_charge = (day_min * 0.17).round(2), (eve_min * 0.085).round(2)
    night_charge, intl_charge = (night_min * 0.045).round(2), (intl_min * 0.27).round(2)
    intl_calls = rng.poisson(4.5, n)
    service_calls = rng.poisson(1.56, n)

    logit = (
        -4.8
        + 5.2 * ((day_charge + eve_charge > 62) & ~vmail_plan)
        + 2.2 * (day_charge > 44)
        + 4.6 * ((service_calls >= 4) & (day_charge < 31))
        + 1.4 * ((service_calls >= 4) & (day_charge >= 31))
        + 6.0 * (intl_plan & ((intl_min > 13) | (intl_calls < 3)))
        + 0.8 * intl_plan
        + 0.02 * (day_charge - 30)
    )
    probability = 1 / (1 + np.exp(-logit))
    churned = (rng.random(n) < probability).astype(np.int64)
    frame = pd.DataFrame({
        "customer_id": [f"C{i:06d}" for i in range(1, n + 1)],
        "state": rng.choice(STATES, n),
        "account_length": np.clip(rng.normal(101, 40, n), 1, 243).round().astype(np.int64),
        "area_code": rng.choice([408, 415, 510], n, p=[0.25, 0.5, 0.25]),
        "international_plan": np.where(intl_plan, "yes", "no"),
        "voice_mail_plan": np.where(vmail_plan, "yes", "no"),
        "number_vmail_messages": vmail_messages.astype(np.int64),
        "total_day_minutes": day_min,
        "total_day_calls": rng.poisson(100, n),
        "total_day_charge": day_charge,
        "total_eve_minutes": eve_min,
        "total_eve_calls": rng.poisson(100, n),
        "total_eve_charge": eve_charge,
        "total_night_minutes": night_min,
        "total_night_calls": rng.poisson(100, n),
        "total_night_charge": night_charge,
        "total_intl_minutes": intl_min,
        "total_intl_calls": intl_calls,
        "total_intl_charge": intl_charge,
        "customer_service_calls": service_calls,
        "churned": churned,
    })
    return frame, probability
