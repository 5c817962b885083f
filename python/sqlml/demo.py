"""``sqlml demo``: deploy, then show what a SQL Server team gets, through SQL only."""

from __future__ import annotations

import sqlalchemy as sa

from sqlml.connect import create_engine, engine_name, redact
from sqlml.deploy import deploy

SCHEMAS = ("features", "models", "predictions", "ops", "ml")


def show_schemas(engine: sa.Engine) -> None:
    inspector = sa.inspect(engine)
    print("\nsqlml schemas:")
    for schema in SCHEMAS:
        tables = inspector.get_table_names(schema=schema)
        views = inspector.get_view_names(schema=schema)
        listed = [*tables, *(f"{v} (view)" for v in views)]
        print(f"  {schema:<12} {', '.join(listed) or '-'}")


def run_demo(url: str, skip_deploy: bool = False) -> None:
    if not skip_deploy:
        deploy(url)
    engine = create_engine(url)
    try:
        print(f"\ndemo on {redact(url)} ({engine_name(url)})")
        show_schemas(engine)
    finally:
        engine.dispose()
