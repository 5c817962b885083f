"""Model artifacts: serialise, hash, and load safely. No pickle anywhere.

A model version is stored as two self-contained bundles, each a zip archive:

* ``artifact``: ``model.keras`` (Keras 3, loaded with ``safe_mode=True``) for
  retraining, inspection and parity checks;
* ``onnx_artifact``: ``model.onnx`` for scoring on ONNX Runtime, which imports in
  a fraction of TensorFlow's time.

Both also carry ``preprocessing.json`` (scales, vocabularies, unseen-category
handling: everything scoring needs besides the network) and ``manifest.json``
(format version, model kind, and the sha256 of every member). The sha256 of the
whole blob is stored beside it in ``models.registry`` and checked before a byte
of it is parsed; the members' hashes are checked after unzipping.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import tempfile
import warnings
import zipfile
from dataclasses import dataclass

import numpy as np

from sqlml.errors import ArtifactError

FORMAT = "sqlml-bundle/1"
MODEL_MEMBERS = {"model.keras", "model.onnx"}
JSON_MEMBERS = {"preprocessing.json"}


def sha256(blob: bytes) -> str:
    return hashlib.sha256(blob).hexdigest()


@dataclass(frozen=True)
class Bundle:
    kind: str
    member: str  # the model's file in the bundle: "model.keras" or "model.onnx"
    model_bytes: bytes
    preprocessing: dict


def pack(kind: str, model_member: str, model_bytes: bytes, preprocessing: dict) -> bytes:
    if model_member not in MODEL_MEMBERS:
        raise ArtifactError(f"unknown model member {model_member!r}")
    members = {
        model_member: model_bytes,
        "preprocessing.json": json.dumps(preprocessing, sort_keys=True).encode(),
    }
    manifest = {
        "format": FORMAT,
        "kind": kind,
        "members": {name: sha256(data) for name, data in members.items()},
    }
    buffer = io.BytesIO()
    # ZIP_STORED for the model (already compact), deflate the JSON; fixed
    # timestamps so that the same model gives the same bytes and the same hash.
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in [("manifest.json", json.dumps(manifest, sort_keys=True).encode()),
                           *members.items()]:
            info = zipfile.ZipInfo(name, date_time=(2020, 1, 1, 0, 0, 0))
            deflate = name.endswith(".json")
            info.compress_type = zipfile.ZIP_DEFLATED if deflate else zipfile.ZIP_STORED
            archive.writestr(info, data)
    return buffer.getvalue()


def unpack(blob: bytes, expected_sha256: str, what: str = "artifact") -> Bundle:
    """Check the blob's hash, then its manifest and members; never executes anything."""
    if blob is None:
        raise ArtifactError(f"{what} is missing")
    blob = bytes(blob)
    actual = sha256(blob)
    if actual != (expected_sha256 or "").strip().lower():
        raise ArtifactError(
            f"{what} does not match its recorded sha256 (recorded {expected_sha256}, "
            f"actual {actual}): the blob was altered or truncated; retrain or restore it"
        )
    try:
        with zipfile.ZipFile(io.BytesIO(blob)) as archive:
            manifest = json.loads(archive.read("manifest.json"))
            if manifest.get("format") != FORMAT:
                raise ArtifactError(f"{what} has unknown format {manifest.get('format')!r}")
            members = {}
            for name, digest in manifest["members"].items():
                if name not in MODEL_MEMBERS | JSON_MEMBERS:
                    raise ArtifactError(f"{what} contains an unexpected member {name!r}")
                data = archive.read(name)
                if sha256(data) != digest:
                    raise ArtifactError(f"{what} member {name} does not match its manifest hash")
                members[name] = data
    except (zipfile.BadZipFile, KeyError, json.JSONDecodeError) as exc:
        raise ArtifactError(f"{what} is not a sqlml bundle: {exc}") from exc
    model_member = next((n for n in members if n in MODEL_MEMBERS), None)
    if model_member is None or "preprocessing.json" not in members:
        raise ArtifactError(f"{what} lacks a model or its preprocessing")
    return Bundle(
        kind=manifest["kind"],
        member=model_member,
        model_bytes=members[model_member],
        preprocessing=json.loads(members["preprocessing.json"]),
    )


# --- Keras and ONNX ------------------------------------------------------------


def keras_bytes(model) -> bytes:
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "model.keras")
        model.save(path)
        with open(path, "rb") as fh:
            return fh.read()


def load_keras(model_bytes: bytes):
    """A Keras model from ``.keras`` bytes; ``safe_mode`` refuses serialised lambdas."""
    import keras

    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "model.keras")
        with open(path, "wb") as fh:
            fh.write(model_bytes)
        return keras.saving.load_model(path, safe_mode=True, compile=False)


def onnx_bytes(model) -> bytes:
    """Keras 3's own ONNX export (tf2onnx under the hood, driven by Keras)."""
    import contextlib

    import numpy as np

    # The exporter refuses a model that has never been called (one loaded or
    # refit for zero epochs); one call on zeros traces it.
    dummy = [np.zeros([1 if d is None else d for d in t.shape], dtype="float32")
             for t in model.inputs]
    model(dummy if len(dummy) > 1 else dummy[0])
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "model.onnx")
        # The exporter prints a line per export; keep procedure output clean.
        with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)  # tf2onnx on NumPy 2
            model.export(path, format="onnx", verbose=False)
        with open(path, "rb") as fh:
            return fh.read()


def onnx_session(model_bytes: bytes):
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 3  # errors only: warnings would land in SQL messages
    # Inside a database server the intra-op threads must not spin-wait between runs:
    # spinning burns cores that other sessions need, and on a busy 2-core host it
    # made 200,000 rows score 1.8x slower than threads that sleep (issue 11).
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return ort.InferenceSession(model_bytes, sess_options=options,
                                providers=ort.get_available_providers())


def onnx_predict(session, x: np.ndarray) -> np.ndarray:
    """The graph's first output for ``x``, as float64 (one row per input row)."""
    name = session.get_inputs()[0].name
    return session.run(None, {name: x.astype(np.float32)})[0].astype(np.float64)


def onnx_bytes_checked(model, x: np.ndarray, expected: np.ndarray,
                       tolerance: float, extend=None) -> tuple[bytes, float]:
    """The ONNX export of ``model``, held to the Keras model it came from: its
    outputs for ``x`` must be within ``tolerance`` of ``expected`` (Keras's).
    ``extend`` (ONNX bytes -> ONNX bytes), when given, adds to the graph what the
    Keras model does not hold (churn's gradient-boosted member) before the check."""
    exported = onnx_bytes(model)
    if extend is not None:
        exported = extend(exported)
    got = onnx_predict(onnx_session(exported), x)
    diff = float(np.max(np.abs(got - expected.reshape(got.shape)))) if len(x) else 0.0
    if diff > tolerance:
        raise ArtifactError(f"ONNX export differs from the Keras model by {diff:.2e}")
    return exported, diff
