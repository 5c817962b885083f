"""The PostgreSQL adapter's write path: a scoring batch's scores and reasons inserted
by one prepared INSERT each, in the caller's transaction, so a run that fails has
neither.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np

from sqlml import entrypoints
from sqlml.adapters.pg_spi import _plan
from sqlml.adapters.text_payload import SEPARATOR
from sqlml.errors import InputError

if TYPE_CHECKING:
    import pandas as pd

# --- the write of a scoring batch -------------------------------------------------

# PL/Python turns each element of a list it hands to SQL into text and parses it
# again (str(), then the type's input function), so two arrays of 200,000 values
# cost about 220 ms; two text payloads split by string_to_table cost a third of
# that. The scores travel as decimal text of their float32 values (see
# float4_text), which float4 input reads back to the very same number.
_SCORES_FROM_TEXT = (
    "INSERT INTO predictions.churn_scores (run_id, model_id, customer_id, churn_probability)"
    " SELECT $1, $2, u.customer_id, u.churn_probability::pg_catalog.float4::pg_catalog.float8"
    " FROM ROWS FROM (pg_catalog.string_to_table($3, E'\\x1f'),"
    " pg_catalog.string_to_table($4, E'\\x1f')) AS u (customer_id, churn_probability)"
)
_SCORES_FROM_ARRAYS = (
    "INSERT INTO predictions.churn_scores (run_id, model_id, customer_id, churn_probability)"
    " SELECT $1, $2, u.customer_id, u.churn_probability"
    " FROM ROWS FROM (pg_catalog.unnest($3::pg_catalog.text[]),"
    " pg_catalog.unnest($4::pg_catalog.float8[])) AS u (customer_id, churn_probability)"
)
# With the native payload functions (procedures/postgres/native/payloads.c): the ids
# as the same text payload, the scores as 8 bytes each, both turned back into rows
# in the SELECT list, a value per call, with no tuplestore and no score printed and
# parsed (200,000 rows: about 0.07 s less). Each function ends with its payload, so
# payloads of unequal length would pad with NULL, which the NOT NULL columns refuse.
_SCORES_FROM_PAYLOADS = (
    "INSERT INTO predictions.churn_scores (run_id, model_id, customer_id, churn_probability)"
    " SELECT $1, $2, ops.payload_texts($3), ops.payload_float8s($4)"
)
_NATIVE_WRITER = (
    "SELECT pg_catalog.to_regprocedure('ops.payload_float8s(bytea)') IS NOT NULL"
    " AND pg_catalog.to_regprocedure('ops.payload_texts(text)') IS NOT NULL AS usable"
)

def float4_text(values: np.ndarray) -> str | None:
    """Probabilities as decimal text joined by SEPARATOR, each read back by float4
    input as exactly the float32 it came from (then widened to float8 exactly, as
    ``Scorer.predict`` widens it), formatted by NumPy in a few milliseconds where
    ``repr`` per value takes a hundred. None when a value is not a float32 in [0, 1]
    (the caller then sends arrays).

    Each value is written as an integer of 9 to 11 significant digits times a power
    of ten: ``m e-NN``. Nine digits are within 5e-9 of the value, relative; normal
    float32 values are at least 6e-8 apart, relative (subnormal ones further), so the
    correctly rounded float4 input comes back to the same float32 whatever the float64
    arithmetic here adds (about 1e-16). tests/test_churn_postgres.py checks it on the
    server, powers of ten and their neighbours included.
    """
    v = np.asarray(values, dtype=np.float64)
    n = len(v)
    if n == 0:
        return ""
    if not (np.all(v >= 0.0) and np.all(v <= 1.0)):  # NaN fails both
        return None
    if not np.array_equal(v.astype(np.float32).astype(np.float64), v):
        return None
    positive = v > 0.0
    safe = np.where(positive, v, 1.0)
    # floor(log10) may be off by one at a power of ten: then the integer has 9 or
    # 11 digits instead of 10, still enough, and the width below holds 11.
    exp10 = np.floor(np.log10(safe)).astype(np.int64)
    mantissa = np.rint(safe * 10.0 ** (9 - exp10)).astype(np.int64)
    power = 9 - exp10  # the value is mantissa * 10 ** -power; power is 8 .. 55
    mantissa[~positive] = 0
    power[~positive] = 0
    digits = 11
    out = np.empty((n, digits + 5), dtype=np.uint8)
    rest = mantissa.copy()
    for i in range(digits - 1, -1, -1):
        out[:, i] = rest % 10 + 48
        rest //= 10
    out[:, digits] = ord("e")
    out[:, digits + 1] = ord("-")
    out[:, digits + 2] = power // 10 + 48
    out[:, digits + 3] = power % 10 + 48
    out[:, digits + 4] = ord(SEPARATOR)
    return out.tobytes()[:-1].decode("ascii")


def write_scores(plpy, run_id: int, model_id: int, ids: list[str],
                 probability: np.ndarray) -> int:
    """INSERT one scoring batch into predictions.churn_scores, in the caller's
    transaction; returns the rows written."""
    id_text = SEPARATOR.join(ids)
    # Text payloads when they split back into the same rows: no id holds the
    # separator (read_columns' plain fallback lets such ids through), and one empty
    # id is not an empty payload.
    as_text = id_text.count(SEPARATOR) == max(len(ids) - 1, 0) and (id_text or not ids)
    if as_text and id_text and plpy.execute(_NATIVE_WRITER)[0]["usable"]:
        plan = _plan(plpy, _SCORES_FROM_PAYLOADS, ["bigint", "bigint", "text", "bytea"])
        values = np.ascontiguousarray(probability, dtype=np.float64).tobytes()
        result = plpy.execute(plan, [run_id, model_id, id_text, values])
    elif as_text and (scores := float4_text(probability)) is not None:
        plan = _plan(plpy, _SCORES_FROM_TEXT, ["bigint", "bigint", "text", "text"])
        result = plpy.execute(plan, [run_id, model_id, id_text, scores])
    else:
        plan = _plan(plpy, _SCORES_FROM_ARRAYS, ["bigint", "bigint", "text[]", "float8[]"])
        result = plpy.execute(plan, [run_id, model_id, ids, probability.tolist()])
    return result.nrows()


_REASONS_FROM_ARRAYS = (
    "INSERT INTO predictions.churn_reasons"
    " (run_id, customer_id, rank, feature, feature_value, contribution)"
    " SELECT $1, u.customer_id, u.rank, u.feature, u.feature_value, u.contribution"
    " FROM ROWS FROM (pg_catalog.unnest($2::pg_catalog.text[]),"
    " pg_catalog.unnest($3::pg_catalog.int4[]), pg_catalog.unnest($4::pg_catalog.text[]),"
    " pg_catalog.unnest($5::pg_catalog.text[]), pg_catalog.unnest($6::pg_catalog.float8[]))"
    " AS u (customer_id, rank, feature, feature_value, contribution)"
)


def write_reasons(plpy, run_id: int, reasons: pd.DataFrame) -> int:
    """INSERT a scoring run's reasons into predictions.churn_reasons, in the caller's
    transaction; returns the rows written. Arrays, not text payloads: explaining a row
    costs hundreds of model evaluations, so converting its k reasons is noise."""
    if reasons.empty:
        return 0
    plan = _plan(plpy, _REASONS_FROM_ARRAYS,
                 ["bigint", "text[]", "int4[]", "text[]", "text[]", "float8[]"])
    return plpy.execute(plan, [
        run_id, reasons["customer_id"].tolist(), reasons["rank"].tolist(),
        reasons["feature"].tolist(), reasons["feature_value"].tolist(),
        reasons["contribution"].tolist()]).nrows()



_DUPLICATE_IDS = (
    "SELECT s.customer_id, pg_catalog.count(*) OVER () AS ids FROM predictions.churn_scores AS s"
    " WHERE s.run_id = $1 GROUP BY s.customer_id HAVING pg_catalog.count(*) > 1 LIMIT 1"
)


def _check_unique_ids(plpy, run_id: int, what: str) -> None:
    """Each customer once per run, across batches too (each batch checks its own rows
    as it is scored); the run's rows are counted in SQL, whose hash aggregate spills
    to disk past work_mem, so the check holds no set of the table's ids."""
    plan = _plan(plpy, _DUPLICATE_IDS, ["bigint"])
    found = plpy.execute(plan, [run_id])
    if found.nrows():
        first = found[0]["customer_id"]
        raise InputError(f"{what}: column 'customer_id' has duplicates ({first!r} and "
                         f"{int(found[0]['ids']) - 1} more) across batches; each customer "
                         "is scored once per run")



# --- a run's input drift ----------------------------------------------------------

_FORECASTS_FROM_ARRAYS = (
    "INSERT INTO predictions.forecasts"
    " (run_id, model_id, series_id, period, step, forecast, lower, upper)"
    " SELECT $1, $2, u.series_id, u.period::pg_catalog.timestamp(0), u.step, u.forecast,"
    " u.lower, u.upper"
    " FROM ROWS FROM (pg_catalog.unnest($3::pg_catalog.text[]),"
    " pg_catalog.unnest($4::pg_catalog.text[]), pg_catalog.unnest($5::pg_catalog.int4[]),"
    " pg_catalog.unnest($6::pg_catalog.float8[]), pg_catalog.unnest($7::pg_catalog.float8[]),"
    " pg_catalog.unnest($8::pg_catalog.float8[]))"
    " AS u (series_id, period, step, forecast, lower, upper)"
)


def write_forecasts(plpy, run_id: int, model_id: int, out: pd.DataFrame) -> int:
    """INSERT a batch's forecasts into predictions.forecasts, in the run's transaction;
    returns the rows written. Periods cross as ISO text (calendar values, no time
    zone), read by timestamp input as they were written."""
    if out.empty:
        return 0
    plan = _plan(plpy, _FORECASTS_FROM_ARRAYS,
                 ["bigint", "bigint", "text[]", "text[]", "int4[]", "float8[]", "float8[]",
                  "float8[]"])
    periods = out["period"].dt.strftime("%Y-%m-%d %H:%M:%S")

    def floats(column: str) -> list:
        return [None if v != v else float(v) for v in out[column].tolist()]  # NaN: NULL

    return plpy.execute(plan, [
        run_id, model_id, out["series_id"].astype(str).tolist(), periods.tolist(),
        [int(v) for v in out["step"].tolist()], floats("forecast"), floats("lower"),
        floats("upper")]).nrows()


_DRIFT_FROM_ARRAYS = (
    "INSERT INTO ops.run_drift (run_id, model_id, feature, psi, flagged, detail)"
    " SELECT $1, $2, u.feature, u.psi, u.flagged, u.detail::pg_catalog.jsonb"
    " FROM ROWS FROM (pg_catalog.unnest($3::pg_catalog.text[]),"
    " pg_catalog.unnest($4::pg_catalog.float8[]), pg_catalog.unnest($5::pg_catalog.bool[]),"
    " pg_catalog.unnest($6::pg_catalog.text[])) AS u (feature, psi, flagged, detail)"
)
_DRIFT_TYPES = ["bigint", "bigint", "text[]", "float8[]", "bool[]", "text[]"]
QUERY_CANCELED = "57014"


def write_drift(plpy, run_id: int, model_id: int, profile: dict | str | None,
                measure: Callable[[], list[tuple]]) -> None:
    """Measure a run's input drift (``measure``: rows of feature, psi, flagged, detail
    as JSON text) and INSERT it into ops.run_drift, in the run's transaction, so a run
    that fails has none. Never fails the run: a problem measuring or writing it is a
    WARNING and one '*' row saying so (each INSERT in a subtransaction, so a failed one
    leaves the run's transaction usable). A cancel or statement timeout still stops
    the run."""
    try:
        out = measure()
        with plpy.subtransaction():
            plpy.execute(_plan(plpy, _DRIFT_FROM_ARRAYS, _DRIFT_TYPES), [
                run_id, model_id, [r[0] for r in out], [r[1] for r in out],
                [bool(r[2]) for r in out], [r[3] for r in out]])
    except Exception as exc:
        if getattr(exc, "sqlstate", None) == QUERY_CANCELED:
            raise
        message = str(exc)
        plpy.warning(f"sqlml: input drift not measured: {message}")
        detail = json.dumps({"error": f"drift could not be measured: {message}"})
        try:
            with plpy.subtransaction():
                plpy.execute(_plan(plpy, _DRIFT_FROM_ARRAYS, _DRIFT_TYPES),
                             [run_id, model_id, ["*"], [None], [False], [detail]])
        except Exception as again:
            if getattr(again, "sqlstate", None) == QUERY_CANCELED:
                raise
            plpy.warning(f"sqlml: input drift not recorded: {again}")
        return
    flagged = [feature for feature, _, is_flagged, _ in out if is_flagged]
    if flagged:
        plpy.notice(f"sqlml: input drift past PSI {entrypoints.drift_threshold(profile)} in: "
                    f"{', '.join(flagged)} (see models.drift)")
