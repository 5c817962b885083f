"""The input's shape, checked before a row of it is read (issue 22, finding 12).

``ops.stage_input`` describes the caller's query with a LIMIT 0 run (its column names
and types, no row) and, before reading, checks what the run's kind needs of them: the
columns it cannot do without (churn: the id and, for training, the label; scoring:
the version's feature columns; forecasting: series_id, period, value) and the types
it refuses outright (a period with a time zone, a date as a label or a value). A
refusal is the sentence the kind would give after reading, minutes later on a large
input. Reads the run (ops.runs), the spec and the version's schema with the caller's
rights, as the caller's half does everything; what the caller may not read is left
to the later checks.
"""

from __future__ import annotations

import json

from sqlml.adapters import pg_reader, pg_spi
from sqlml.errors import InputError

_RUN = ("SELECT r.run_type, r.model_name, r.params, s.spec"
        " FROM ops.runs AS r JOIN models.specs AS s ON s.kind = CASE"
        " WHEN r.run_type IN ('train_churn_model', 'score_churn') THEN 'churn'"
        " WHEN r.run_type IN ('train_forecaster', 'forecast') THEN 'forecaster' END"
        " WHERE r.run_id = $1")
# The version a scoring run reads with: the one named in its params, else the active one.
_FEATURES = ("SELECT r.feature_schema FROM models.registry AS r"
             " WHERE r.model_name = $1 AND r.kind = 'churn'"
             " AND CASE WHEN $2::integer IS NULL THEN r.status = 'active' ELSE r.version = $2 END")

WHAT = {"train_churn_model": "churn training", "score_churn": "churn scoring",
        "train_forecaster": "forecaster training", "forecast": "forecasting"}


def check(plpy, run_id: int, names: list[str], types: list[int]) -> None:
    """Refuse, naming the column, an input the run's kind cannot take. ``types`` are the
    base type OIDs :func:`pg_reader._describe` gives."""
    run = _read(plpy, _RUN, ["bigint"], [run_id])
    if run is None:
        return
    what = WHAT[run["run_type"]]
    spec = _json(run["spec"])
    columns = {n.lower(): t for n, t in zip(names, types, strict=True)}
    shown = ", ".join(names[:20])
    if run["run_type"] in ("train_forecaster", "forecast"):
        _forecasting(what, spec["input"], columns, shown)
        return
    needed = [spec["input"]["id_column"].lower()]
    if run["run_type"] == "train_churn_model":
        label = spec["input"]["label_column"].lower()
        needed.append(label)
        if label in columns and columns[label] in pg_reader.TIME_OIDS:
            raise InputError(f"column {label!r} is a date or timestamp: labels must be 0 or 1 "
                             "(a boolean or a number)")
    for column in needed:
        if column not in columns:
            raise InputError(f"{what}: input has no {column!r} column (columns: {shown})")
    if run["run_type"] == "score_churn":
        params = _json(run["params"]) or {}
        version = params.get("version") if isinstance(params, dict) else None
        found = _read(plpy, _FEATURES, ["text", "integer"],
                      [run["model_name"], int(version) if isinstance(version, int) else None])
        schema = _json(found["feature_schema"]) if found else None
        if isinstance(schema, dict):
            features = [*schema.get("numeric", []), *schema.get("categorical", {})]
            missing = [f for f in features if f.lower() not in columns]
            if missing:
                raise InputError("input lacks feature column(s) the model needs: "
                                 f"{', '.join(missing)}")


def _forecasting(what: str, spec_input: dict, columns: dict[str, int], shown: str) -> None:
    series, period, value = (spec_input.get(k, d).lower() for k, d in (
        ("series_id_column", "series_id"), ("period_column", "period"),
        ("value_column", "value")))
    for column in (series, period, value):
        if column not in columns:
            raise InputError(f"{what}: input has no {column!r} column (columns: {shown}); "
                             "forecasting rows are series_id, period, value")
    if columns[period] == pg_reader.TIMESTAMPTZ_OID:
        raise InputError(
            f"column {period!r} holds timestamps with a time zone (timestamptz, "
            "datetimeoffset or text with an offset): a period is a calendar value, and an "
            "instant falls in different periods in different time zones; pass it in the "
            f"calendar you mean, e.g. {period}::date or ({period} AT TIME ZONE 'Europe/Berlin')")
    if columns[value] in pg_reader.TIME_OIDS:
        raise InputError(f"column {value!r} is a date or timestamp: values must be numbers")


def _read(plpy, sql: str, types: list[str], args: list):
    """The one row of ``sql``, or None: none, or the caller may not read it."""
    try:
        rows = plpy.execute(pg_spi._plan(plpy, sql, types), args)
    except plpy.SPIError:  # e.g. permission denied: the later checks still hold
        return None
    return rows[0] if rows.nrows() else None


def _json(value):
    if value is None or isinstance(value, dict | list):
        return value
    try:
        return json.loads(value)
    except ValueError:
        return None
