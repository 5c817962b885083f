"""What the report reads: only the database, through plain SELECTs on either engine.

Every query here is one a report author could run: the registry (metrics, curves
and backtest points stored at training time), the prediction views, the run log,
the drift view, and the forecaster's input for the actuals. No model is loaded
and no training data is needed.
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


def registry(connection) -> pd.DataFrame:
    frame = _frame(connection, """
        SELECT model_id, model_name, version, kind, status, status_reason, metrics,
               trained_rows, training_seconds, device, created_at, activated_at
        FROM models.registry ORDER BY model_name, version""")
    frame["metrics"] = frame["metrics"].map(parse_json)
    return frame


def runs(connection) -> pd.DataFrame:
    frame = _frame(connection, f"SELECT {', '.join(RUN_COLUMNS)} FROM ops.runs "
                               "ORDER BY run_id DESC", limit=RECENT_RUNS)
    if frame.empty:
        return pd.DataFrame(columns=[*RUN_COLUMNS, "seconds"])
    started = pd.to_datetime(frame["started_at"], utc=True)
    finished = pd.to_datetime(frame["finished_at"], utc=True)
    frame["seconds"] = (finished - started).dt.total_seconds()
    return frame


def drift(connection) -> tuple[pd.DataFrame, pd.DataFrame]:
    if not _has_relation(connection, "ops", "run_drift"):
        return pd.DataFrame(), pd.DataFrame()
    latest = _frame(connection, """
        SELECT model_name, model_version, kind, model_id, run_id, run_type, measured_at,
               feature, psi, flagged, detail
        FROM models.drift ORDER BY model_name, model_version, feature""")
    latest["detail"] = latest["detail"].map(parse_json)
    history = _frame(connection, """
        SELECT d.run_id, d.model_id, d.feature, d.psi, d.flagged, u.started_at,
               r.model_name, r.version AS model_version
        FROM ops.run_drift AS d
        INNER JOIN ops.runs AS u ON d.run_id = u.run_id
        INNER JOIN models.registry AS r ON d.model_id = r.model_id
        ORDER BY d.run_id""")
    return latest, history


def _reasons(connection, run_id, customers: list[str]) -> dict[str, str]:
    """Each customer's reasons as one line, from predictions.churn_reasons (issue 13)
    when the table is there; its columns are read by name, not assumed."""
    if not customers or not _has_relation(connection, "predictions", "churn_reasons"):
        return {}
    rows = _frame(connection, "SELECT * FROM predictions.churn_reasons "
                              "WHERE run_id = :run_id AND customer_id IN :ids",
                  {"run_id": run_id, "ids": customers}, expanding=("ids",))
    if rows.empty or "feature" not in rows:
        return {}
    order = [c for c in ("rank", "reason_rank", "position") if c in rows]
    if order:
        rows = rows.sort_values(order[0])
    weight = next((c for c in ("contribution", "impact", "shap_value", "weight", "value")
                   if c in rows), None)
    out: dict[str, list[str]] = {}
    for row in rows.itertuples(index=False):
        text = str(row.feature)
        if weight is not None and pd.notna(getattr(row, weight)):
            try:
                text += f" ({float(getattr(row, weight)):+.3f})"
            except (TypeError, ValueError):
                text += f" ({getattr(row, weight)})"
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
        reasons = _reasons(connection, int(at_risk["run_id"].max()),
                           at_risk["customer_id"].astype(str).tolist())
    at_risk["reasons"] = at_risk["customer_id"].astype(str).map(reasons)
    return ChurnSection(model=model, scores=scores["churn_probability"].astype(float),
                        at_risk=at_risk,
                        scored_at=scores["scored_at"].max() if len(scores) else None)


def _forecast_input(connection) -> str | None:
    spec = connection.execute(sa.text(
        "SELECT spec FROM models.specs WHERE kind = 'forecaster'")).scalar()
    spec = parse_json(spec) or {}
    return spec.get("input", {}).get("default_query")


def forecast_section(connection, model: dict) -> ForecastSection:
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
        actuals = _frame(connection,
                         f"SELECT q.series_id, q.period, q.value FROM ({query}) AS q "
                         "WHERE q.series_id IN :ids ORDER BY q.series_id, q.period",
                         {"ids": chosen}, expanding=("ids",))
    return ForecastSection(model=model, forecasts=forecasts, actuals=actuals)


def load(engine: sa.Engine, progress=lambda step: None) -> ReportData:
    with engine.connect() as connection:
        progress("registry")
        reg = registry(connection)
        progress("runs")
        recent = runs(connection)
        progress("drift")
        latest, history = drift(connection)
        data = ReportData(database=_describe(engine), registry=reg, runs=recent,
                          drift=latest, drift_history=history)
        active = reg[reg["status"] == "active"]
        for row in active.to_dict("records"):
            progress(f"{row['kind']} {row['model_name']}")
            if row["kind"] == "churn":
                data.churn.append(churn_section(connection, row))
            elif row["kind"] == "forecaster":
                data.forecasters.append(forecast_section(connection, row))
    return data


def _describe(engine: sa.Engine) -> str:
    url = engine.url
    return f"{url.get_backend_name()} database {url.database or ''}".strip()
