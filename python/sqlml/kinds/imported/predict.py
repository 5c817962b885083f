"""Scoring an imported model on NumPy and ONNX Runtime alone (no pandas, no onnx).

The query's columns arrive as one NumPy array per column (float64 with NaN for
NULL, or an object array of ``str`` with None for NULL), the way both adapters
read them. Each graph input is filled from the columns ``feature_schema`` names
for it; a missing column, or a text column where the graph takes numbers (or the
reverse), is an error naming both. The session is kept per process under the
scoring graph's sha256, as churn scoring keeps its own.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from sqlml import artifacts
from sqlml.errors import ArtifactError, InputError
from sqlml.kinds.imported.graph import NUMBER_TYPES, TEXT_TYPES

CACHE_SIZE = 8
# Rows per ONNX Runtime call: bounds the memory of a batch's tensors, not the run's.
CHUNK_ROWS = 65_536
MAX_LABEL_LENGTH = 256


@dataclass(frozen=True)
class Predictor:
    sha256: str
    session: object
    schema: dict


_cache: dict[str, object] = {}  # sha256 -> onnxruntime.InferenceSession


def predictor(onnx_artifact: bytes, onnx_sha256: str, schema: dict) -> Predictor:
    if onnx_artifact is None:
        raise ArtifactError("onnx_artifact is missing")
    blob = bytes(onnx_artifact)
    recorded = (onnx_sha256 or "").strip().lower()
    if artifacts.sha256(blob) != recorded:
        raise ArtifactError("onnx_artifact does not match its recorded sha256: the blob "
                            "was changed after it was imported")
    # Only the session is cached: one graph may be imported twice with other options
    # (id column, positive class), so the schema is always the caller's version's.
    session = _cache.get(recorded)
    if session is None:
        if len(_cache) >= CACHE_SIZE:
            _cache.pop(next(iter(_cache)))
        session = _cache[recorded] = artifacts.onnx_session(blob)
    return Predictor(recorded, session, schema)


def _column(columns: Mapping[str, np.ndarray], lowered: dict[str, str], name: str,
            graph_input: str) -> np.ndarray:
    found = name if name in columns else lowered.get(name.lower())
    if found is None:
        raise InputError(f"input_query has no column {name!r}, which model input "
                         f"{graph_input!r} takes")
    return np.asarray(columns[found])


def _is_text(values: np.ndarray) -> bool:
    return values.dtype == object or values.dtype.kind in "US"


def _feed(values: list[np.ndarray], names: list[str], graph_input: dict, n: int) -> np.ndarray:
    kind = graph_input["type"]
    if kind in TEXT_TYPES:
        for name, column in zip(names, values, strict=True):
            if not _is_text(column):
                raise InputError(f"column {name!r} is numeric; model input "
                                 f"{graph_input['name']!r} takes text ({kind}): cast it in "
                                 "the query")
        # NULL text becomes the empty string: a category the model has not seen. The
        # readers hand text over as str already; only NULLs are replaced (a vectorised
        # compare, not a Python loop per value: 100,000 rows x 9 columns, 0.1 s less).
        matrix = np.empty((n, len(values)), dtype=object)
        for j, column in enumerate(values):
            text = np.asarray(column[:n], dtype=object)
            nulls = text == None  # noqa: E711 (elementwise on an object array)
            if nulls.any():
                text = text.copy()
                text[nulls] = ""
            matrix[:, j] = text
    else:
        dtype = NUMBER_TYPES[kind]
        matrix = np.empty((n, len(values)), dtype=np.float64)
        for j, (name, column) in enumerate(zip(names, values, strict=True)):
            if _is_text(column):
                raise InputError(f"column {name!r} is text; model input "
                                 f"{graph_input['name']!r} takes numbers ({kind}): cast it "
                                 "in the query")
            matrix[:, j] = column[:n].astype(np.float64)
        if np.dtype(dtype).kind in "iub":
            missing = np.isnan(matrix).any(axis=0)
            if missing.any():
                name = names[int(np.argmax(missing))]
                raise InputError(f"column {name!r} has NULLs; model input "
                                 f"{graph_input['name']!r} takes {kind}, which has no NULL")
        matrix = matrix.astype(dtype)
    rank = len(graph_input["shape"]) or 1
    return matrix.reshape(n) if rank == 1 else matrix


def feeds(columns: Mapping[str, np.ndarray], n: int, schema: dict) -> dict[str, np.ndarray]:
    """The graph's inputs for ``n`` rows, checked against the recorded schema."""
    lowered = {name.lower(): name for name in columns}
    out = {}
    for graph_input in schema["inputs"]:
        names = graph_input["columns"]
        values = [_column(columns, lowered, name, graph_input["name"]) for name in names]
        out[graph_input["name"]] = _feed(values, names, graph_input, n)
    return out


def _labels_text(values: np.ndarray) -> np.ndarray:
    flat = np.asarray(values).reshape(-1)
    if flat.dtype == object or flat.dtype.kind in "US":
        return np.array([str(v) for v in flat], dtype=object)
    return flat.astype(np.int64).astype(str).astype(object)


def _score_chunk(predictor: Predictor, part: dict[str, np.ndarray], n: int
                 ) -> tuple[np.ndarray, np.ndarray | None]:
    schema = predictor.schema
    wanted = [schema["score_output"]] + ([schema["label_output"]] if schema["label_output"]
                                          else [])
    results = predictor.session.run(wanted, part)
    raw = np.asarray(results[0], dtype=np.float64).reshape(n, -1)
    if schema["task"] == "regression":
        if raw.shape[1] != 1:
            raise InputError(f"model output {schema['score_output']!r} gives {raw.shape[1]} "
                             "values per row; ml.predict stores one per row")
        return raw[:, 0], None
    classes = [str(c) for c in schema["classes"]]
    probabilities = np.hstack([1.0 - raw, raw]) if raw.shape[1] == 1 else raw
    if probabilities.shape[1] != len(classes):
        raise InputError(f"model output {schema['score_output']!r} gives "
                         f"{probabilities.shape[1]} probabilities per row for "
                         f"{len(classes)} classes")
    if schema["label_output"]:
        labels = _labels_text(results[1])
        # Each distinct label looked up once, not once per row.
        distinct, inverse = np.unique(labels.astype(str), return_inverse=True)
        index = {c: i for i, c in enumerate(classes)}
        chosen = np.array([index.get(label, -1) for label in distinct],
                          dtype=np.int64)[inverse.reshape(-1)]
        argmax = probabilities.argmax(axis=1)
        chosen = np.where(chosen < 0, argmax, chosen)
    else:
        chosen = probabilities.argmax(axis=1)
        labels = np.asarray(classes, dtype=object)[chosen]
    if len(classes) == 2 and schema.get("positive_class") is not None:
        score = probabilities[:, classes.index(str(schema["positive_class"]))]
    else:
        score = probabilities[np.arange(n), chosen]
    return score, labels


def _id_text(values: np.ndarray) -> list[str]:
    """Keys as text, as they went in: a number read as float64 (an INT column through
    SQL Server's bridge) without a trailing '.0' when it is whole."""
    if values.dtype.kind == "f":
        whole = np.all(values == np.round(values)) and np.all(np.abs(values) < 2.0**53)
        if whole:
            return values.astype(np.int64).astype(str).tolist()
        return [repr(float(v)) for v in values]
    return [str(v) for v in values]


def predict_columns(columns: Mapping[str, np.ndarray], n: int, onnx_artifact: bytes,
                    onnx_sha256: str, schema: dict) -> tuple[list[str], np.ndarray,
                                                            list | None]:
    """``n`` rows as one array per column -> row ids (text, as they went in), scores
    (float64) and labels (text; None for a regression), in input order."""
    model = predictor(onnx_artifact, onnx_sha256, schema)
    id_column = schema["id_column"]
    lowered = {name.lower(): name for name in columns}
    ids_raw = _column(columns, lowered, id_column, "(the id column, option id_column)")
    if any(v is None for v in ids_raw[:n]) or (ids_raw.dtype.kind == "f"
                                                and np.isnan(ids_raw[:n]).any()):
        raise InputError(f"id column {id_column!r} has NULLs: every row needs its key")
    ids = _id_text(ids_raw[:n])
    if len(set(ids)) != len(ids):
        raise InputError(f"id column {id_column!r} repeats a value: each row needs its own key")
    too_long = next((v for v in ids if len(v) > MAX_LABEL_LENGTH), None)
    if too_long is not None:
        raise InputError(f"id column {id_column!r} has a value of {len(too_long)} characters; "
                         f"at most {MAX_LABEL_LENGTH}")
    all_feeds = feeds(columns, n, schema)
    scores = np.empty(n, dtype=np.float64)
    labels: list | None = None if schema["task"] == "regression" else []
    for start in range(0, n, CHUNK_ROWS):
        stop = min(start + CHUNK_ROWS, n)
        part = {name: value[start:stop] for name, value in all_feeds.items()}
        score, label = _score_chunk(model, part, stop - start)
        scores[start:stop] = score
        if labels is not None:
            labels.extend(label.tolist())
    if not np.isfinite(scores).all():
        bad = ids[int(np.argmax(~np.isfinite(scores)))]
        raise InputError(f"model gives no finite score for row {bad!r} of id column "
                         f"{id_column!r}: check that row's inputs")
    return ids, scores, labels


def profile(columns: Mapping[str, np.ndarray], n: int, schema: dict) -> dict:
    """The drift profile of these rows' feature columns (as churn's training profile),
    which later runs are compared with. Imports pandas: once per version."""
    import pandas as pd

    from sqlml.kinds import drift

    lowered = {name.lower(): name for name in columns}
    numeric, categorical, frame = [], [], {}
    for name, kind in schema["columns"].items():
        found = name if name in columns else lowered.get(name.lower())
        if found is None:
            continue
        values = np.asarray(columns[found])[:n]
        frame[name] = pd.Series(values, dtype=object if _is_text(values) else "float64")
        (categorical if kind == "text" else numeric).append(name)
    return drift.feature_profile(pd.DataFrame(frame), numeric, categorical)
