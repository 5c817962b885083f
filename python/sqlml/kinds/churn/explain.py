"""Why a customer's churn probability is what it is: one contribution per input column.

Method: interventional Shapley values (Janzing et al., 2020) estimated by
permutation sampling (Strumbelj and Kononenko, 2014) against a background
sample of training rows stored in the ONNX bundle.

For a customer x, a background customer b and an order of the input columns,
start from b's row and switch the columns one at a time, in that order, to x's
values; the change in the model's churn probability at each switch is that
column's contribution along this walk. A column's contribution is the average
over the walks: every walk pairs a random order with a background row, and each
order is also walked backwards (antithetic sampling, which cancels much of the
order's noise). Properties a reader can rely on:

* a contribution is in probability units and signed: positive when this
  customer's value of the column raises the churn probability compared with
  training customers' values, negative when it lowers it;
* along every walk the contributions add up to f(x) - f(b) exactly, so they sum
  to the customer's score minus the mean score of the background rows used;
* a column the model does not use gets exactly 0;
* interactions are shared between the columns that take part in them, as
  Shapley values share them.

A column is switched as a whole: its scaled value, was-missing flag and bins,
or its whole one-hot block, so contributions name the input columns a user
knows, never the network's internal slots. Everything is vectorised: the
switched rows of many customers and walks are stacked into one matrix per ONNX
Runtime call (at most ``MAX_ROWS`` rows), so explaining costs
``customers * walks * (columns + 1)`` model evaluations and nothing else; no
TensorFlow or scikit-learn is imported.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from sqlml import artifacts
from sqlml.errors import ArtifactError, InputError
from sqlml.kinds.churn import encode, scoring
from sqlml.kinds.churn.preprocessing import Preprocessor, as_category
from sqlml.kinds.columns import as_numeric, normalise_columns, refuse_unsupported

BACKGROUND_ROWS = 100  # training rows kept in the bundle to explain against
PERMUTATIONS = 16  # random column orders per explanation, each also walked backwards
IMPORTANCE_ROWS = 400  # validation rows behind a version's global importance
MAX_ROWS = 65536  # rows per ONNX Runtime call (about 100 MB at 400 inputs)
SEED = 0  # the same customer and model always get the same explanation


def background_sample(features: pd.DataFrame, pre: Preprocessor, seed: int) -> dict:
    """Up to ``BACKGROUND_ROWS`` training rows, column by column, as JSON values: numbers
    (None for NULL) for the columns ``pre`` treats as numeric, text for the others."""
    n = min(BACKGROUND_ROWS, len(features))
    rows = np.sort(np.random.default_rng(seed).choice(len(features), n, replace=False))
    sample = features.iloc[rows]
    out = {}
    for col in pre.numeric:
        values = as_numeric(sample[col.name], col.name, strict=False)
        out[col.name] = [None if pd.isna(v) else float(v) for v in values]
    for col in pre.categorical:
        out[col.name] = [None if pd.isna(v) else str(v) for v in as_category(sample[col.name])]
    return out


def background_columns(background: dict, features: dict) -> tuple[dict, int]:
    """The stored background as ``encode.transform``'s columns, and its row count."""
    numeric = {c["name"] for c in features["numeric"]}
    columns = {name: (np.array([np.nan if v is None else v for v in values], dtype=np.float64)
                      if name in numeric else np.array(values, dtype=object))
               for name, values in background.items()}
    return columns, len(next(iter(background.values()), []))


def contributions(x: np.ndarray, background: np.ndarray, blocks: list[slice], predict,
                  permutations: int = PERMUTATIONS, seed: int = SEED) -> np.ndarray:
    """Shapley estimates, shape (customers, columns), for the encoded customers ``x``
    against the encoded ``background`` rows; ``blocks[j]`` is column j's slice of the
    matrix and ``predict`` maps a float32 matrix to probabilities."""
    n, width = x.shape
    n_cols = len(blocks)
    phi = np.zeros((n, n_cols))
    if n == 0 or n_cols == 0:
        return phi
    column_of = np.empty(width, dtype=np.int64)
    for j, block in enumerate(blocks):
        column_of[block] = j
    rng = np.random.default_rng(seed)
    picks = rng.permutation(len(background))
    walks = []
    for p in range(permutations):
        order = rng.permutation(n_cols)
        b = background[picks[p % len(picks)]]
        walks += [(order, b), (order[::-1], b)]
    steps = np.arange(n_cols + 1)[:, None]
    # masks[w][k, i]: whether matrix column i holds the customer's value at step k
    # of walk w (the first k columns of the walk's order are switched).
    masks, backs = [], []
    for order, b in walks:
        position = np.empty(n_cols, dtype=np.int64)
        position[order] = np.arange(n_cols)
        masks.append(position[column_of][None, :] < steps)
        backs.append(b)
    masks, backs = np.stack(masks), np.stack(backs)  # (walks, steps, width), (walks, width)
    per_customer = len(walks) * (n_cols + 1)
    chunk = max(1, MAX_ROWS // per_customer)
    for start in range(0, n, chunk):
        xc = x[start:start + chunk]
        c = len(xc)
        # (walks, steps, customers, width): the customer where the mask says, else b.
        stacked = np.where(masks[:, :, None, :], xc[None, None, :, :],
                           backs[:, None, None, :]).astype(np.float32)
        p = predict(stacked.reshape(-1, width)).reshape(len(walks), n_cols + 1, c)
        deltas = np.diff(p, axis=1)  # (walks, columns in walk order, customers)
        for w, (order, _) in enumerate(walks):
            phi[start:start + c, order] += deltas[w].T
    return phi / len(walks)


def session_predict(session):
    return lambda m: artifacts.onnx_predict(session, m).reshape(-1)


def explain_columns(columns: dict, n: int, features: dict, predict, background: dict,
                    permutations: int = PERMUTATIONS) -> tuple[list[str], np.ndarray]:
    """Contributions (``n`` rows by feature) for scoring columns (lower-case names,
    numbers as float64); ``features`` is the bundle's preprocessing JSON."""
    names = [c["name"] for c in features["numeric"]] + [c["name"] for c in features["categorical"]]
    for col in features["numeric"]:
        if col["name"] in columns:
            columns = {**columns, col["name"]: encode.numeric_values(columns[col["name"]],
                                                                     col["name"])}
    x = encode.transform(features, columns, n, numeric_ready=True)
    bg_columns, bg_rows = background_columns(background, features)
    bg = encode.transform(features, bg_columns, bg_rows, numeric_ready=True)
    spans = encode.blocks(features)
    return names, contributions(x, bg, [spans[c] for c in names], predict, permutations)


def importance(frame: pd.DataFrame, pre: Preprocessor, onnx_model: bytes,
               background: dict) -> list[dict]:
    """Each input column's mean absolute contribution on (up to ``IMPORTANCE_ROWS``
    of) ``frame``, most important first: a version's global importance."""
    if len(frame) > IMPORTANCE_ROWS:
        rows = np.random.default_rng(SEED).choice(len(frame), IMPORTANCE_ROWS, replace=False)
        frame = frame.iloc[np.sort(rows)]
    columns = {c.name: as_numeric(frame[c.name], c.name, strict=True).to_numpy()
               for c in pre.numeric}
    columns.update({c.name: frame[c.name].to_numpy(dtype=object) for c in pre.categorical})
    names, phi = explain_columns(columns, len(frame), pre.to_json(),
                                 session_predict(artifacts.onnx_session(onnx_model)), background)
    mean_abs = np.abs(phi).mean(axis=0)
    order = np.argsort(-mean_abs, kind="stable")
    return [{"feature": names[j], "importance": float(mean_abs[j])} for j in order]


def frame_columns(frame: pd.DataFrame, id_column: str) -> dict:
    """A scoring frame as the columns ``scoring`` reads: lower-case names, numbers as
    float64 (NaN for NULL), the id and text as object arrays."""
    frame = normalise_columns(frame)
    refuse_unsupported(frame, scoring.SCORING)
    columns = {}
    for name in frame.columns:
        values = frame[name]
        if name == id_column:
            columns[name] = values.astype(object).where(values.notna(), None).to_numpy()
        elif (pd.api.types.is_bool_dtype(values) or pd.api.types.is_numeric_dtype(values)
              or pd.api.types.is_datetime64_any_dtype(values)):
            columns[name] = as_numeric(values, name, strict=True).to_numpy()
        else:
            columns[name] = values.to_numpy(dtype=object)
    return columns


def check_explain(k) -> int:
    """``k`` as a number of reasons per customer: a whole number, 0 or more. (The
    procedures also bound it by the spec's ``limits.max_explain`` before scoring.)"""
    whole = isinstance(k, int | np.integer | float | np.floating) and not isinstance(k, bool) \
        and not pd.isna(k) and float(k).is_integer()
    if not whole or k < 0:
        raise InputError(f"{scoring.SCORING}: explain must be a non-negative integer "
                         f"(reasons per customer); got {k!r}")
    return int(k)


def explain(frame: pd.DataFrame, onnx_artifact: bytes, onnx_sha256: str,
            k: int) -> pd.DataFrame:
    """The ``k`` input columns that raise each customer's churn probability most:
    ``customer_id``, ``rank`` (1 first), ``feature``, ``feature_value`` (text),
    ``contribution`` (change in probability). ONNX Runtime, NumPy and pandas only."""
    k = check_explain(k)
    model = scoring.scorer(onnx_artifact, onnx_sha256)  # checks the hash and the kind
    return explain_scoring_columns(frame_columns(frame, model.id_column), len(frame),
                                   onnx_artifact, onnx_sha256, k)


def explain_scoring_columns(columns: dict, n: int, onnx_artifact: bytes, onnx_sha256: str,
                            k: int) -> pd.DataFrame:
    """:func:`explain` for the columns scoring reads (``frame_columns``, or the
    PostgreSQL adapter's lean reader: numbers as float64, text and the id as object
    arrays), so a procedure explains the very rows it scored, read once."""
    k = check_explain(k)
    model = scoring.scorer(onnx_artifact, onnx_sha256)
    # Names in any case, as scoring takes them (it refuses two that differ only so).
    columns = {str(name).strip().lower(): values for name, values in columns.items()}
    if model.id_column not in columns:
        shown = ", ".join(list(columns)[:20]) or "none"
        raise InputError(f"{scoring.SCORING}: input has no {model.id_column!r} column "
                         f"(columns: {shown})")
    ids = pd.Series(scoring.customer_ids(columns[model.id_column], model.id_column),
                    dtype=object)
    names = ([c["name"] for c in model.features["numeric"]]
             + [c["name"] for c in model.features["categorical"]])
    if k == 0:
        # No reasons, but the same errors for a column the model needs and lacks.
        encode.transform(model.features, {c: v[:0] for c, v in columns.items()}, 0)
        return top_reasons(ids, columns, names, np.zeros((len(ids), len(names))), 0)
    background = artifacts.unpack(onnx_artifact, onnx_sha256,
                                  "onnx_artifact").preprocessing.get("background")
    if not background:
        raise ArtifactError("this churn model version was trained before explanations "
                            "existed (its bundle has no background sample); retrain it "
                            "to explain its scores")
    names, phi = explain_columns(columns, n, model.features, model.predict, background)
    return top_reasons(ids, columns, names, phi, k)


def value_text(value) -> str | None:
    """A feature value as the text an analyst reads: 3 not 3.0, NULL as NULL."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, float | np.floating):
        return str(int(value)) if float(value).is_integer() else repr(float(value))
    if isinstance(value, np.bool_ | bool):
        return str(bool(value)).lower()
    return str(value)


def top_reasons(ids: pd.Series, frame: dict, columns: list[str], phi: np.ndarray,
                k: int) -> pd.DataFrame:
    """The ``k`` largest contributions per customer, the most risk-raising first."""
    k = min(k, len(columns))
    names = ["customer_id", "rank", "feature", "feature_value", "contribution"]
    if k <= 0 or len(ids) == 0:
        return pd.DataFrame({n: pd.Series(dtype=object if n in ("customer_id", "feature",
                                                              "feature_value") else
                                          "int64" if n == "rank" else "float64")
                             for n in names})
    order = np.argsort(-phi, axis=1, kind="stable")[:, :k]  # (customers, k)
    rows = np.repeat(np.arange(len(ids)), k)
    cols = order.reshape(-1)
    raw = [np.asarray(frame[c], dtype=object) for c in columns]
    values = [value_text(raw[c][r]) for r, c in zip(rows, cols, strict=True)]
    return pd.DataFrame({
        "customer_id": ids.to_numpy(dtype=object)[rows],
        "rank": np.tile(np.arange(1, k + 1), len(ids)).astype(np.int64),
        "feature": np.asarray(columns, dtype=object)[cols],
        "feature_value": np.asarray(values, dtype=object),
        "contribution": phi[rows, cols].astype(np.float64),
    })
