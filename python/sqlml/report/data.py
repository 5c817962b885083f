"""What the report reads: only the database, through plain SELECTs on either engine.

Every query here is one a report author could run: the registry (metrics, curves
and backtest points stored at training time), the prediction views, the run log,
the drift view, and the forecaster's input for the actuals. No model is loaded
and no training data is needed.

Each role gets the report its rights allow (docs/report-authors.md): what the
login may read is asked first (``has_table_privilege`` / ``HAS_PERMS_BY_NAME``),
never found out by a failed query. An analyst, who reads only the analyst views,
gets the active versions from ``models.active_models``, the reasons from
``predictions.churn_reasons_latest`` and no run log; an operator gets the run log
but no drift history (``ops.run_drift``). What a role cannot read is named on the
page (``ReportData.omitted``) rather than left out silently.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import pandas as pd
import sqlalchemy as sa

TOP_CUSTOMERS = 15
RECENT_RUNS = 40
FORECAST_SERIES = 6
RUN_COLUMNS = ["run_id", "run_type", "model_name", "status", "rows_in", "rows_out",
               "started_at", "finished_at", "error"]


def parse_json(value):
    """JSON columns: dicts from PostgreSQL's jsonb, text from SQL Server's NVARCHAR."""
    if value is None or isinstance(value, dict | list):
        return value
    return json.loads(value)


@dataclass
class ChurnSection:
    model: dict  # the registry row of the active version (metrics parsed)
    scores: pd.Series  # the latest probability of every customer
    at_risk: pd.DataFrame  # customer_id, churn_probability, model_version, reasons
    scored_at: object = None


@dataclass
class ForecastSection:
    model: dict
    forecasts: pd.DataFrame  # series_id, period, forecast, lower, upper
    actuals: pd.DataFrame  # series_id, period, value


@dataclass
class ReportData:
    database: str
    registry: pd.DataFrame
    runs: pd.DataFrame
    drift: pd.DataFrame  # models.drift
    drift_history: pd.DataFrame  # ops.run_drift with run times
    churn: list[ChurnSection] = field(default_factory=list)
    forecasters: list[ForecastSection] = field(default_factory=list)
    omitted: list[str] = field(default_factory=list)  # what this login could not read, why
    performance: object = None  # report.performance.Performance, read after these


def _frame(connection, sql: str, params: dict | None = None, limit: int | None = None,
           expanding: tuple[str, ...] = ()) -> pd.DataFrame:
    statement = sa.text(sql)
    for name in expanding:
        statement = statement.bindparams(sa.bindparam(name, expanding=True))
    result = connection.execute(statement, params or {})
    rows = result.fetchmany(limit) if limit else result.fetchall()
    return pd.DataFrame([tuple(r) for r in rows], columns=list(result.keys()))


def _has_relation(connection, schema: str, name: str) -> bool:
    inspector = sa.inspect(connection)
    return name in inspector.get_table_names(schema) or name in inspector.get_view_names(schema)


def can_read(connection, relation: str) -> bool:
    """Whether this login may SELECT from ``relation`` (schema.name), asked of the
    engine; False when it does not exist."""
    schema, name = relation.split(".")
    if connection.dialect.name == "mssql":  # NULL when the object is not there
        sql = "SELECT HAS_PERMS_BY_NAME(:relation, 'OBJECT', 'SELECT')"
    else:  # by oid: naming a relation of a schema one may not use is itself refused
        sql = ("SELECT has_schema_privilege(n.oid, 'USAGE') "
               "AND has_table_privilege(c.oid, 'SELECT') "
               "FROM pg_catalog.pg_class AS c "
               "JOIN pg_catalog.pg_namespace AS n ON n.oid = c.relnamespace "
               "WHERE n.nspname = :schema AND c.relname = :name")
    return bool(connection.execute(sa.text(sql), {"relation": relation, "schema": schema,
                                                  "name": name}).scalar())


REGISTRY_COLUMNS = ("model_id, model_name, version, kind, {status}, status_reason, metrics, "
                    "trained_rows, training_seconds, device, created_at, activated_at")


def registry(connection, omitted: list[str] | None = None) -> pd.DataFrame:
    """Every version from models.registry; a login that cannot read it (an analyst)
    gets the active versions from models.active_models."""
    if can_read(connection, "models.registry"):
        source = ("models.registry", "status")
    else:
        source = ("models.active_models", "'active' AS status")
        if omitted is not None:
            omitted.append("Registry history: only the active versions "
                           "(models.active_models); earlier versions are in "
                           "models.registry, which this login cannot read.")
    frame = _frame(connection, f"SELECT {REGISTRY_COLUMNS.format(status=source[1])} "
                               f"FROM {source[0]} ORDER BY model_name, version")
    frame["metrics"] = frame["metrics"].map(parse_json)
    return frame


def runs(connection, omitted: list[str] | None = None) -> pd.DataFrame:
    if not can_read(connection, "ops.runs"):
        if omitted is not None:
            omitted.append("Recent runs: this login cannot read the run log (ops.runs; "
                           "sqlml_operator reads its own runs there).")
        return pd.DataFrame(columns=[*RUN_COLUMNS, "seconds"])
    frame = _frame(connection, f"SELECT {', '.join(RUN_COLUMNS)} FROM ops.runs "
                               "ORDER BY run_id DESC", limit=RECENT_RUNS)
    if frame.empty:
        return pd.DataFrame(columns=[*RUN_COLUMNS, "seconds"])
    started = pd.to_datetime(frame["started_at"], utc=True)
    finished = pd.to_datetime(frame["finished_at"], utc=True)
    frame["seconds"] = (finished - started).dt.total_seconds()
    return frame


def drift(connection, omitted: list[str] | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    if not can_read(connection, "models.drift"):
        if omitted is not None and _has_relation(connection, "models", "drift"):
            omitted.append("Drift: this login cannot read models.drift.")
        return pd.DataFrame(), pd.DataFrame()
    latest = _frame(connection, """
        SELECT model_name, model_version, kind, model_id, run_id, run_type, measured_at,
               feature, psi, flagged, detail
        FROM models.drift ORDER BY model_name, model_version, feature""")
    latest["detail"] = latest["detail"].map(parse_json)
    if not (can_read(connection, "ops.run_drift") and can_read(connection, "ops.runs")
            and can_read(connection, "models.registry")):
        if omitted is not None:
            omitted.append("Drift history: only the latest measurement per feature "
                           "(models.drift); the history is in ops.run_drift, which this "
                           "login cannot read.")
        return latest, pd.DataFrame()
    history = _frame(connection, """
        SELECT d.run_id, d.model_id, d.feature, d.psi, d.flagged, u.started_at,
               r.model_name, r.version AS model_version
        FROM ops.run_drift AS d
        INNER JOIN ops.runs AS u ON d.run_id = u.run_id
        INNER JOIN models.registry AS r ON d.model_id = r.model_id
        ORDER BY d.run_id""")
    return latest, history


def _reasons(connection, model_name: str, customers: list[str]) -> dict[str, str]:
    """Each customer's reasons as one line, from predictions.churn_reasons_latest (the
    latest run that kept reasons), which analysts read too."""
    if not customers or not can_read(connection, "predictions.churn_reasons_latest"):
        return {}
    rows = _frame(connection, "SELECT customer_id, rank, feature, contribution "
                              "FROM predictions.churn_reasons_latest "
                              "WHERE model_name = :name AND customer_id IN :ids "
                              "ORDER BY customer_id, rank",
                  {"name": model_name, "ids": customers}, expanding=("ids",))
    out: dict[str, list[str]] = {}
    for row in rows.itertuples(index=False):
        text = f"{row.feature} ({float(row.contribution):+.3f})"
        out.setdefault(str(row.customer_id), []).append(text)
    return {k: ", ".join(v) for k, v in out.items()}


def churn_section(connection, model: dict) -> ChurnSection:
    scores = _frame(connection, """
        SELECT customer_id, churn_probability, model_version, run_id, scored_at
        FROM predictions.churn_latest WHERE model_name = :name""", {"name": model["model_name"]})
    at_risk = scores.sort_values("churn_probability", ascending=False).head(TOP_CUSTOMERS)
    at_risk = at_risk.reset_index(drop=True)
    reasons = {}
    if not at_risk.empty:
        reasons = _reasons(connection, model["model_name"],
                           at_risk["customer_id"].astype(str).tolist())
    at_risk["reasons"] = at_risk["customer_id"].astype(str).map(reasons)
    return ChurnSection(model=model, scores=scores["churn_probability"].astype(float),
                        at_risk=at_risk,
                        scored_at=scores["scored_at"].max() if len(scores) else None)


def _forecast_input(connection) -> str | None:
    if not can_read(connection, "models.specs"):
        return None
    spec = connection.execute(sa.text(
        "SELECT spec FROM models.specs WHERE kind = 'forecaster'")).scalar()
    spec = parse_json(spec) or {}
    return spec.get("input", {}).get("default_query")


def forecast_section(connection, model: dict,
                     omitted: list[str] | None = None) -> ForecastSection:
    omitted = [] if omitted is None else omitted
    forecasts = _frame(connection, """
        SELECT series_id, period, step, forecast, lower, upper
        FROM predictions.forecast_latest WHERE model_name = :name
        ORDER BY series_id, period""", {"name": model["model_name"]})
    shown = [p["series_id"] for p in model["metrics"].get("backtest_points", [])]
    available = list(pd.unique(forecasts["series_id"])) if len(forecasts) else []
    chosen = [s for s in shown if s in available] or available
    chosen = chosen[:FORECAST_SERIES]
    forecasts = forecasts[forecasts["series_id"].isin(chosen)]
    actuals = pd.DataFrame(columns=["series_id", "period", "value"])
    query = _forecast_input(connection)
    if chosen and query:
        # The default input query reads features with this login's rights; one that
        # may not read them gets the forecasts without the actuals (a savepoint keeps
        # the transaction usable after the refusal).
        try:
            with connection.begin_nested():
                actuals = _frame(connection,
                                 f"SELECT q.series_id, q.period, q.value FROM ({query}) AS q "
                                 "WHERE q.series_id IN :ids ORDER BY q.series_id, q.period",
                                 {"ids": chosen}, expanding=("ids",))
        except sa.exc.DBAPIError as exc:
            if "permission" not in str(exc.orig).lower():
                raise
            omitted.append("Forecast actuals: this login cannot read the forecaster's "
                           "input (features), so the forecasts are drawn alone.")
    elif chosen and omitted is not None and query is None:
        omitted.append("Forecast actuals: this login cannot read models.specs (the "
                       "forecaster's input query), so the forecasts are drawn alone.")
    return ForecastSection(model=model, forecasts=forecasts, actuals=actuals)


def load(engine: sa.Engine, progress=lambda step: None) -> ReportData:
    with engine.connect() as connection:
        omitted: list[str] = []
        progress("registry")
        reg = registry(connection, omitted)
        progress("runs")
        recent = runs(connection, omitted)
        progress("drift")
        latest, history = drift(connection, omitted)
        data = ReportData(database=_describe(engine), registry=reg, runs=recent,
                          drift=latest, drift_history=history, omitted=omitted)
        active = reg[reg["status"] == "active"]
        for row in active.to_dict("records"):
            progress(f"{row['kind']} {row['model_name']}")
            if row["kind"] == "churn":
                data.churn.append(churn_section(connection, row))
            elif row["kind"] == "forecaster":
                data.forecasters.append(forecast_section(connection, row, omitted))
    return data


def _describe(engine: sa.Engine) -> str:
    url = engine.url
    return f"{url.get_backend_name()} database {url.database or ''}".strip()
