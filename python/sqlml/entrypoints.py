"""What the database calls: plain functions ``DataFrame (+ params) -> DataFrame``.

One exception, for speed: :func:`score_churn_columns` takes one NumPy array per
column, so the PostgreSQL adapter scores without importing pandas at all.

These know nothing of PL/Python or ``sp_execute_external_script``; the engine
adapters (``sqlml.adapters.postgres``, ``sqlml.adapters.mssql``) read the
caller's data, call one of these, and hand the frame back to SQL.
"""

from __future__ import annotations

import platform
from collections.abc import Mapping
from typing import TYPE_CHECKING

import sqlml
from sqlml import kinds

# What the adapters' readers hand over with their columns, named here so that an adapter
# needs this module alone: text columns coded as they are read, and the key types.
from sqlml.kinds.churn.encode import Coded  # noqa: F401
from sqlml.kinds.keys import ACCEPTED as KEY_TYPES  # noqa: F401

if TYPE_CHECKING:  # pandas costs a third of a second to import; the lean path never needs it
    import numpy as np
    import pandas as pd

    from sqlml.kinds import TrainedModel
    from sqlml.kinds.drift_columns import Tally as DriftTally

# What the in-database code imports; reported without importing (TensorFlow
# alone takes seconds to import).
RUNTIME_PACKAGES = ("numpy", "pandas", "onnxruntime", "onnx", "tensorflow", "keras", "tf2onnx",
                    "scikit-learn")


def runtime_info() -> pd.DataFrame:
    from importlib import metadata

    import pandas as pd

    rows = [("python", platform.python_version()), ("sqlml", sqlml.__version__)]
    for package in RUNTIME_PACKAGES:
        try:
            rows.append((package, metadata.version(package)))
        except metadata.PackageNotFoundError:
            rows.append((package, None))
    return pd.DataFrame(rows, columns=["component", "version"])


def train_model(kind: str, frame: pd.DataFrame, spec: dict, options: str | dict | None,
                progress=lambda message: None, interrupt=None,
                champion: dict | None = None) -> TrainedModel:
    """Training rows -> a trained model of ``kind`` (``models/<kind>.json``): its two
    bundles and its registry row. The one entry point that returns no frame: a model
    is not a table, and both engines hand its parts to ``ops.register_model``.

    ``interrupt``: the engine's hook, called about every half second while a network
    trains; it raises when the caller cancelled (PostgreSQL: a pending cancel or
    statement timeout). Training also stops at the spec's ``limits.max_training_seconds``.

    ``champion``: the active version (model_id, version, onnx_artifact, onnx_sha256),
    given when training may activate; it is then measured on the new version's own
    held-out rows, and the figures go into the metrics as ``same_rows``
    (``kinds.champion``), which the activation rule compares.
    """
    from sqlml.kinds import champion as same_rows
    from sqlml.kinds import training

    limit = spec.get("limits", {}).get("max_training_seconds")
    with training.watched(interrupt, limit):
        trained = kinds.trainer(kind)(frame, spec, options, progress)
    if champion and champion.get("onnx_artifact") is not None:
        compared = same_rows.compare(kind, frame, spec, trained.registration, champion)
        trained.registration["metrics"]["same_rows"] = compared
        progress(same_rows.describe(compared))
    return trained


def check_options(kind: str, spec: dict, options: str | dict | None) -> None:
    """The options of a training call, checked as training checks them (JSON, known
    names, types, the spec's limits), without reading a row: both engines call it
    before the input, so a bad option costs nothing (issue 22)."""
    from sqlml.specs import resolve_options

    resolve_options(spec, options, f"{kind} training")


def score_churn(frame: pd.DataFrame, onnx_artifact: bytes, onnx_sha256: str) -> pd.DataFrame:
    """Scoring rows -> ``customer_id``, ``churn_probability``, one row per input row."""
    from sqlml.kinds.churn import model as churn

    return churn.score(frame, onnx_artifact, onnx_sha256)


def explain_churn(frame: pd.DataFrame, onnx_artifact: bytes, onnx_sha256: str,
                  k: int) -> pd.DataFrame:
    """Scoring rows -> ``customer_id``, ``rank``, ``feature``, ``feature_value``,
    ``contribution``: each customer's ``k`` strongest reasons for churn risk
    (``sqlml.kinds.churn.explain`` documents the method); nothing for ``k`` = 0."""
    from sqlml.kinds.churn import explain

    return explain.explain(frame, onnx_artifact, onnx_sha256, k)


def explain_churn_columns(columns: Mapping[str, np.ndarray], n: int, onnx_artifact: bytes,
                          onnx_sha256: str, k: int) -> pd.DataFrame:
    """:func:`explain_churn` for the columns :func:`score_churn_columns` reads, so an
    adapter explains the rows it scored without reading them again."""
    from sqlml.kinds.churn import explain

    return explain.explain_scoring_columns(dict(columns), n, onnx_artifact, onnx_sha256, k)


def score_churn_columns(columns: Mapping[str, np.ndarray], n: int, onnx_artifact: bytes,
                        onnx_sha256: str, coded: Mapping[str, Coded] | None = None
                        ) -> tuple[list[str], np.ndarray]:
    """The lean form of :func:`score_churn` for adapters that read columns, not frames:
    ``n`` rows as one NumPy array per column -> customer ids and churn probabilities,
    in input order. Imports NumPy and ONNX Runtime only (no pandas); the model
    version is loaded once per process and found again by its sha256. ``coded``: text
    columns the adapter coded while reading them (``kinds.churn.encode.Coded``)."""
    from sqlml.kinds.churn import scoring

    return scoring.score_columns(columns, n, scoring.scorer(onnx_artifact, onnx_sha256),
                                 coded)


def check_churn_artifact(onnx_artifact: bytes, onnx_sha256: str) -> None:
    """Raise when a churn version's ONNX bundle is not what its hash says (before any
    row is used); the scorer it builds stays cached per process by sha256."""
    from sqlml.kinds.churn import scoring

    scoring.scorer(onnx_artifact, onnx_sha256)


# What a churn scoring error names (the id column's check across batches included).
CHURN_SCORING = "churn scoring"


def forecast(frame: pd.DataFrame, onnx_artifact: bytes, onnx_sha256: str,
             horizon: int | None = None) -> pd.DataFrame:
    """Series rows -> ``series_id``, ``period``, ``step``, ``forecast``, ``lower``,
    ``upper``: ``horizon`` rows per series (NULL: the model's horizon)."""
    import pandas as pd

    from sqlml.kinds.forecaster import model as forecaster

    if horizon is not None and not pd.isna(horizon):
        horizon = int(horizon)
    else:
        horizon = None
    return forecaster.forecast(frame, onnx_artifact, onnx_sha256, horizon)


def drift(frame: pd.DataFrame, profile: dict | str | None) -> pd.DataFrame:
    """A run's input against its model's training profile (``feature_schema.profile``)
    -> ``feature``, ``psi``, ``flagged``, ``detail``: one row per profiled feature.
    Never raises: an unusable input or profile is a row that says so."""
    from sqlml.kinds import drift as input_drift

    return input_drift.drift(frame, profile)


def drift_columns(columns: Mapping[str, np.ndarray], n: int,
                  profile: dict | str | None) -> pd.DataFrame:
    """:func:`drift` for adapters that read columns (``n`` rows, one NumPy array per
    column, as :func:`score_churn_columns` takes them), so that one read of the
    input can serve scoring and drift. The same rows as :func:`drift_column_rows`."""
    import pandas as pd

    from sqlml.kinds.drift import COLUMNS

    return pd.DataFrame(drift_column_rows(columns, n, profile), columns=COLUMNS)


def drift_column_rows(columns: Mapping[str, np.ndarray], n: int,
                      profile: dict | str | None,
                      coded: Mapping[str, Coded] | None = None) -> list[tuple]:
    """A churn scoring run's drift on its columns, as tuples of ``feature``, ``psi``,
    ``flagged``, ``detail``, on NumPy alone (no pandas on the scoring path)."""
    from sqlml.kinds import drift_columns as lean

    return lean.drift_rows(columns, n, profile, coded)


def drift_tally(profile: dict | str | None) -> DriftTally:
    """:func:`drift_column_rows` for a run whose rows arrive in batches: ``add`` each
    batch's columns, then ``rows()``. Holds counts, never rows; never raises."""
    from sqlml.kinds.drift_columns import Tally

    return Tally(profile)


def series_drift_tally(profile: dict | str | None):
    """Forecasting's drift for a run whose series arrive in batches: ``add`` each batch's
    frame, then ``frame()``. Holds each series' level and scale, never its rows; never
    raises (kinds/drift_series.py)."""
    from sqlml.kinds.drift_series import SeriesTally

    return SeriesTally(profile)


def drift_threshold(profile: dict | str | None) -> float:
    """The PSI past which a profile's feature is flagged (the default when the profile
    names none, or is unusable)."""
    import json

    from sqlml.kinds.drift_columns import PSI_THRESHOLD

    try:
        if not isinstance(profile, dict):
            profile = json.loads(profile or "{}")
        return float(profile.get("threshold", PSI_THRESHOLD))
    except (TypeError, ValueError, AttributeError):
        return PSI_THRESHOLD


# --- imported models (ml.import_model, ml.predict): sqlml.kinds.imported -------------


def import_model(model: bytes, options: str | dict | None, spec: dict,
                 reference: pd.DataFrame | None = None) -> TrainedModel:
    """ONNX bytes trained elsewhere -> the version to register: the blob as given
    (``artifact``), the graph scoring runs (``onnx_artifact``: the same, without a
    ZipMap) and the registration (feature schema, metrics). ``reference``: the rows
    of ``options.reference_query``, whose profile later runs' drift is measured
    against. Raises ``InputError`` naming the op, domain, input or bound it refuses."""
    import time

    from sqlml.kinds import TrainedModel
    from sqlml.kinds.imported import graph
    from sqlml.kinds.imported import predict as imported

    started = time.perf_counter()
    scoring, schema, metrics = graph.inspect(model, options, spec)
    rows = 0
    if reference is not None:
        columns, rows = frame_columns(reference)
        imported.feeds(columns, rows, schema)  # the reference rows must fit the graph
        schema["profile"] = imported.profile(columns, rows, schema)
    resolved = graph.parse_options(options)
    return TrainedModel.build(keras_blob=bytes(model), onnx_blob=scoring, spec=spec,
                              options=resolved, metrics=metrics, feature_schema=schema,
                              trained_rows=rows, started=started, device="imported")


def frame_columns(frame: pd.DataFrame, exact: str | None = None
                  ) -> tuple[dict[str, np.ndarray], int]:
    """A DataFrame as the columns :func:`predict_columns` takes: numbers (and booleans)
    as float64 with NaN for NULL, anything else as an object array of ``str`` with None.
    The integer column named ``exact`` (the id column) as text, every digit kept."""
    import numpy as np
    import pandas as pd

    columns = {}
    for name in frame.columns:
        values = frame[name]
        if (exact is not None and str(name).lower() == exact.lower()
                and pd.api.types.is_integer_dtype(values)):
            columns[str(name)] = np.array([str(int(v)) for v in values], dtype=object)
        elif pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values):
            columns[str(name)] = values.to_numpy(dtype=np.float64, na_value=np.nan)
        else:
            objects = values.astype(object).to_numpy()
            columns[str(name)] = np.array(
                [None if v is None or (isinstance(v, float) and v != v) or v is pd.NA
                 else str(v) for v in objects], dtype=object)
    return columns, len(frame)


def check_imported_artifact(onnx_artifact: bytes, onnx_sha256: str,
                            feature_schema: dict) -> None:
    """Raise when an imported version's graph is not what its hash says (before any
    row is used); cached per process."""
    from sqlml.kinds.imported import predict as imported

    imported.predictor(onnx_artifact, onnx_sha256, feature_schema)


def predict_columns(columns: Mapping[str, np.ndarray], n: int, onnx_artifact: bytes,
                    onnx_sha256: str, feature_schema: dict | str
                    ) -> tuple[list[str], np.ndarray, list | None]:
    """An imported model's scores for ``n`` rows (one array per column): row ids as
    text, scores, labels (None for a regression), in input order. NumPy and ONNX
    Runtime only."""
    import json

    from sqlml.kinds.imported import predict as imported

    if isinstance(feature_schema, str):
        feature_schema = json.loads(feature_schema)
    return imported.predict_columns(columns, n, onnx_artifact, onnx_sha256, feature_schema)


def predict(frame: pd.DataFrame, onnx_artifact: bytes, onnx_sha256: str,
            feature_schema: dict | str) -> pd.DataFrame:
    """Input rows -> ``row_id``, ``score``, ``label``: one row per input row."""
    import json

    import pandas as pd

    if isinstance(feature_schema, str):
        feature_schema = json.loads(feature_schema)
    columns, n = frame_columns(frame, exact=feature_schema["id_column"])
    ids, scores, labels = predict_columns(columns, n, onnx_artifact, onnx_sha256,
                                          feature_schema)
    return pd.DataFrame({"row_id": pd.Series(ids, dtype=object), "score": scores,
                         "label": pd.Series(labels if labels is not None else [None] * n,
                                            dtype=object)})


def input_profile(columns: Mapping[str, np.ndarray], n: int,
                  feature_schema: dict | str) -> dict:
    """The drift profile of an imported model's first scored rows, for a version
    imported without ``reference_query``."""
    import json

    from sqlml.kinds.imported import predict as imported

    if isinstance(feature_schema, str):
        feature_schema = json.loads(feature_schema)
    return imported.profile(columns, n, feature_schema)
def evaluate_churn(frame: pd.DataFrame, onnx_artifact: bytes, onnx_sha256: str,
                   recorded: dict, spec_input: dict) -> tuple[int, dict]:
    """Labelled rows (customer_id, churned, features) scored by one version -> rows
    and realised metrics (``kinds.evaluation`` says which)."""
    from sqlml.kinds import evaluation

    return evaluation.churn(frame, onnx_artifact, onnx_sha256, recorded, spec_input)


def evaluate_forecaster(actuals: pd.DataFrame, forecasts: pd.DataFrame,
                        season: int) -> tuple[int, dict]:
    """Actuals against one version's latest forecasts of those periods -> points
    compared and realised metrics (MASE, sMAPE, interval coverage)."""
    from sqlml.kinds import evaluation

    return evaluation.forecaster(actuals, forecasts, season)
