"""Churn scoring on NumPy and ONNX Runtime alone: no pandas, no scikit-learn, no TensorFlow.

What a scoring call imports is its cold-start latency (SQL Server starts a new
Python process for every ``sp_execute_external_script``; PostgreSQL pays it once
per session), so this module and what it imports stay lean; a test holds the
module names to that.

A model version is loaded once per process: the blob's sha256 is checked on
every call (a fraction of a millisecond), and the unpacked preprocessing and
the ONNX Runtime session are kept under that hash, so a changed or tampered
blob can never be served from the cache.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from sqlml import artifacts
from sqlml.errors import ArtifactError, InputError
from sqlml.kinds import keys
from sqlml.kinds.churn import encode

SCORING = "churn scoring"
MAX_ID_LENGTH = 64
# Model versions kept per process; a session rarely scores with more than one or two.
CACHE_SIZE = 8
# Rows encoded and run through the network at a time: the float32 matrix (about
# 4 MB at 120 inputs) and the network's activations stay in the processor's cache;
# 200,000 rows encode and score a third faster than in chunks of 65,536.
CHUNK_ROWS = 8_192


@dataclass(frozen=True)
class Scorer:
    """One churn model version, ready to score."""

    sha256: str
    id_column: str
    features: dict  # Preprocessor.to_json()
    session: object  # onnxruntime.InferenceSession
    input_name: str

    def predict(self, x: np.ndarray) -> np.ndarray:
        if not len(x):
            return np.zeros(0, dtype=np.float64)
        out = self.session.run(None, {self.input_name: x.astype(np.float32, copy=False)})[0]
        return out.astype(np.float64).reshape(-1)


_scorers: dict[str, Scorer] = {}


def scorer(onnx_artifact: bytes, onnx_sha256: str) -> Scorer:
    """The scorer of a churn ONNX bundle, from this process's cache when its hash is there."""
    if onnx_artifact is None:
        raise ArtifactError("onnx_artifact is missing")
    blob = bytes(onnx_artifact)
    recorded = (onnx_sha256 or "").strip().lower()
    cached = _scorers.get(recorded)
    if cached is not None and artifacts.sha256(blob) == recorded:
        return cached
    bundle = artifacts.unpack(blob, onnx_sha256, "onnx_artifact")  # checks the hash
    if bundle.kind != "churn" or bundle.member != "model.onnx":
        raise ArtifactError(f"onnx_artifact holds a {bundle.kind} {bundle.member}, "
                            "not a churn ONNX model")
    session = artifacts.onnx_session(bundle.model_bytes)
    loaded = Scorer(recorded, bundle.preprocessing["id_column"],
                    bundle.preprocessing["features"], session, session.get_inputs()[0].name)
    while len(_scorers) >= CACHE_SIZE:
        _scorers.pop(next(iter(_scorers)))
    _scorers[recorded] = loaded
    return loaded


def customer_ids(values: np.ndarray, column: str) -> list[str]:
    """Ids as text, the key of ``predictions.churn_scores``, exactly as they went in
    (``kinds.keys``): no NULLs, at most 64 characters, each once."""
    ids = keys.key_texts(values.tolist(), column, MAX_ID_LENGTH)
    if len(set(ids)) != len(ids):
        seen: set[str] = set()
        duplicated = [i for i in ids if i in seen or seen.add(i)]
        raise InputError(
            f"{SCORING}: column {column!r} has duplicates ({duplicated[0]!r} and "
            f"{len(duplicated) - 1} more); each customer is scored once per run"
        )
    return ids


def score_columns(columns: Mapping[str, np.ndarray], n: int, model: Scorer,
                  coded: Mapping[str, encode.Coded] | None = None
                  ) -> tuple[list[str], np.ndarray]:
    """Scoring rows as columns (names in any case) -> ids and churn probabilities.
    ``coded``: text columns the adapter has already coded (``encode.Coded``), by name."""
    lowered = encode.by_lower_name(columns)
    if model.id_column not in lowered:
        shown = ", ".join(list(lowered)[:20]) or "none"
        raise InputError(f"{SCORING}: input has no {model.id_column!r} column "
                         f"(columns: {shown})")
    ids = customer_ids(lowered[model.id_column], model.id_column)
    for col in model.features["numeric"]:  # whole columns, so an error counts every row
        if col["name"] in lowered:
            lowered[col["name"]] = encode.numeric_values(lowered[col["name"]], col["name"])
    coded = encode.by_lower_name(coded or {})
    slots = {col["name"]: encode.category_slots(lowered[col["name"]], col["vocabulary"],
                                                coded.get(col["name"]))
             for col in model.features["categorical"] if col["name"] in lowered}
    probability = np.empty(n, dtype=np.float64)
    for start in range(0, n, CHUNK_ROWS):
        stop = min(n, start + CHUNK_ROWS)
        chunk = {name: values[start:stop] for name, values in lowered.items()}
        x = encode.transform(model.features, chunk, stop - start, numeric_ready=True,
                             slots={name: s[start:stop] for name, s in slots.items()})
        probability[start:stop] = model.predict(x)
    if n == 0:  # still checks that the input has the model's columns
        encode.transform(model.features, lowered, 0, numeric_ready=True)
    return ids, probability
