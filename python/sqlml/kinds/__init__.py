"""The model kinds, one folder each, and the one shape a trained model takes.

A kind is a folder ``kinds/<kind>/`` whose ``model`` module has
``train(frame, spec, options, progress) -> TrainedModel``, a spec
``models/<kind>.json``, and its procedures and views per engine. The registry
below is the only list of kinds in the package: the training procedure names a kind
(``ops.run_train`` on both engines),
and the adapters reach its trainer through :func:`trainer`.
"""

from __future__ import annotations

import importlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass

from sqlml import artifacts
from sqlml.errors import InputError

# kind -> the module that trains it; imported on first use, because TensorFlow is
# behind every trainer and scoring must not pay for it.
KINDS = {
    "churn": "sqlml.kinds.churn.model",
    "forecaster": "sqlml.kinds.forecaster.model",
}


@dataclass(frozen=True)
class TrainedModel:
    """What training hands to the registry: the two bundles and the registry row.

    ``registration`` holds every column of ``models.registry`` that is not a blob
    (hashes, spec with resolved options, metrics, feature schema, rows, seconds,
    device); ``ops.register_model`` reads it by these names on both engines.
    """

    artifact: bytes
    onnx_artifact: bytes
    registration: dict

    @classmethod
    def build(cls, *, keras_blob: bytes, onnx_blob: bytes, spec: dict, options: dict,
              metrics: dict, feature_schema: dict, trained_rows: int, started: float,
              device: str) -> TrainedModel:
        """``started``: the ``time.perf_counter()`` reading when training began."""
        return cls(keras_blob, onnx_blob, {
            "artifact_sha256": artifacts.sha256(keras_blob),
            "onnx_sha256": artifacts.sha256(onnx_blob),
            "spec": {**spec, "options": options},
            "metrics": metrics,
            "feature_schema": feature_schema,
            "trained_rows": int(trained_rows),
            "training_seconds": round(time.perf_counter() - started, 3),
            "device": device,
        })

    def registration_json(self) -> str:
        return json.dumps(self.registration)


Trainer = Callable[..., TrainedModel]


def trainer(kind: str) -> Trainer:
    """The ``train`` function of a kind, or an error listing the kinds there are."""
    module = KINDS.get(kind)
    if module is None:
        raise InputError(f"no model kind {kind!r}; kinds: {', '.join(KINDS)}")
    return importlib.import_module(module).train
