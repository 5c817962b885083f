"""``sqlml demo``: what a SQL Server team gets, driven through the public SQL interface.

Deploys, loads the synthetic telco, trains the churn model and the forecaster
through their procedures, scores (keeping three reasons per customer) and
forecasts, and prints what analysts read with plain SQL from the prediction views:
the ten customers most at risk with their top three reasons.
"""

from __future__ import annotations

import json

import sqlalchemy as sa

from sqlml import routines
from sqlml.connect import create_engine, engine_name, redact
from sqlml.demo import churn_data
from sqlml.demo import forecast as demo_forecast
from sqlml.demo.reasons import print_top_reasons
from sqlml.deploy import deploy

SCHEMAS = ("features", "models", "predictions", "ops", "ml")
CUSTOMERS = 20_000


def show_schemas(engine: sa.Engine) -> None:
    inspector = sa.inspect(engine)
    print("\nsqlml schemas:")
    for schema in SCHEMAS:
        tables = inspector.get_table_names(schema=schema)
        views = inspector.get_view_names(schema=schema)
        listed = [*tables, *(f"{v} (view)" for v in views)]
        print(f"  {schema:<12} {', '.join(listed) or '-'}")


def _progress(message: str) -> None:
    if message.startswith("epoch") and not message.startswith(("epoch 1/", "epoch 5/")):
        return  # a few epochs are enough to show that it trains
    print(f"    {message}")


def churn_demo(engine: sa.Engine) -> None:
    print(f"\n1. churn: loading {CUSTOMERS} synthetic customers into features.customers")
    churn_data.load_customers(engine, CUSTOMERS)

    print("2. churn: ml.train_churn_model(model_name => 'churn')")
    [trained] = routines.call(engine, "train_churn_model", _progress, model_name="churn")
    metrics = json.loads(trained["metrics"])
    print(f"   version {trained['version']}: {trained['status']}")
    print(f"   {'metric':<10} {'network':>9} {'logistic regression':>20}")
    for key in ("auc", "pr_auc", "log_loss", "brier", "accuracy"):
        print(f"   {key:<10} {metrics[key]:>9.4f} {metrics['baseline'][key]:>20.4f}")

    print("3. churn: ml.score_churn(model_name => 'churn', explain => 3)")
    [scored] = routines.call(engine, "score_churn", model_name="churn", explain=3)
    print(f"   run {scored['run_id']}: {scored['rows_scored']} customers scored "
          f"with version {scored['version']}, three reasons each")

    print("4. the ten customers most at risk and why, from predictions.churn_reasons_latest:")
    print_top_reasons(engine, "churn", customers=10, reasons=3)


def write_demo_report(engine: sa.Engine) -> None:
    from sqlml.paths import state_dir
    from sqlml.report import figure_count, write_report

    path = write_report(engine, state_dir() / "report.html")
    count = figure_count(path.read_text(encoding="utf-8"))
    print(f"\n6. report: the models, forecasts, runs and drift as pictures ({count} figures);"
          " open it in a browser:")
    print(f"   {path}")


def run_demo(url: str, skip_deploy: bool = False) -> None:
    if not skip_deploy:
        deploy(url)
    engine = create_engine(url)
    try:
        print(f"\ndemo on {redact(url)} ({engine_name(url)})")
        show_schemas(engine)
        churn_demo(engine)
        print("\n5. forecaster: monthly usage series -> ml.train_forecaster -> ml.forecast")
        demo_forecast.run_forecast_demo(engine)
        write_demo_report(engine)
    finally:
        engine.dispose()
