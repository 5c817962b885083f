"""Moving a model version between databases: ``sqlml models export|import``.

An export is one JSON file: the version's registry row (no database-local ids),
both blobs in base64 with their sha256, and its lineage (the source database, model
id, name and version, the export time, and the lineage the version itself came
with). An import registers it in any deployed database of either engine as the next
version of a name there, through that database's own ``ops.register_model``: a new
version number, the target's activation rule and, on PostgreSQL, the blob bound to
its new id, name, version and kind with the target's key (``ops.model_binding``), so
a file cannot carry a binding in. The sha256s are checked before anything is
written, and the blobs registered are the bytes exported, so a churn model or a
forecaster scores and forecasts in the target exactly as in the source.

Both ends need the owner's rights (the DBA's deploy login): a promotion writes the
registry, which operators only do through the ml routines.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
from pathlib import Path

import sqlalchemy as sa

from sqlml import artifacts
from sqlml.errors import InputError, ModelNotFoundError

FORMAT = "sqlml-model-export/1"
KINDS = ("churn", "forecaster", "imported")
ROW_COLUMNS = ("model_name", "version", "kind", "status", "spec", "metrics", "feature_schema",
               "trained_rows", "training_seconds", "device", "created_at", "created_by",
               "artifact_sha256", "onnx_sha256", "lineage")


def _json(value):
    if value is None or isinstance(value, dict | list):
        return value
    return json.loads(value)


def source_name(engine: sa.Engine) -> str:
    """The source database as lineage names it: engine, host and database, no login."""
    url = engine.url
    host = url.host or (url.query.get("host") if url.query else None) or "local"
    return f"{engine.dialect.name}://{host}/{url.database}"


def export(engine: sa.Engine, name: str, version: int | None, out: Path) -> dict:
    """Write version ``version`` of model ``name`` (None: the active one) to ``out``;
    returns the document's lineage."""
    where = "model_name = :name AND " + ("version = :version" if version is not None
                                         else "status = 'active'")
    columns = ", ".join(("model_id", "artifact", "onnx_artifact") + ROW_COLUMNS)
    with engine.connect() as connection:
        rows = connection.execute(sa.text(f"SELECT {columns} FROM models.registry WHERE {where}"),
                                  {"name": name, "version": version}).mappings().all()
    if not rows:
        which = f"version {version}" if version is not None else "active version"
        raise ModelNotFoundError(f"model {name!r} has no {which} to export: list its "
                                 "versions with `sqlml models NAME`")
    row = dict(rows[0])
    blobs = {key: bytes(row.pop(key)) for key in ("artifact", "onnx_artifact")}
    for key, digest in (("artifact", row["artifact_sha256"]),
                        ("onnx_artifact", row["onnx_sha256"])):
        if artifacts.sha256(blobs[key]) != digest.strip().lower():
            raise InputError(f"model {name!r} version {row['version']}: {key} does not match its "
                             "recorded sha256; not exported")
    registry = {key: row[key] for key in ROW_COLUMNS if key != "lineage"}
    for key in ("spec", "metrics", "feature_schema"):
        registry[key] = _json(registry[key])
    registry["created_at"] = str(registry["created_at"])
    registry["artifact_sha256"] = registry["artifact_sha256"].strip().lower()
    registry["onnx_sha256"] = registry["onnx_sha256"].strip().lower()
    lineage = {
        "source": source_name(engine), "model_id": int(row["model_id"]), "model_name": name,
        "version": int(row["version"]), "artifact_sha256": registry["artifact_sha256"],
        "onnx_sha256": registry["onnx_sha256"],
        "exported_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "previous": _json(row["lineage"]),
    }
    document = {
        "format": FORMAT, "registry": registry,
        "blobs": {key: base64.b64encode(blob).decode("ascii") for key, blob in blobs.items()},
        "sha256": {key: artifacts.sha256(blob) for key, blob in blobs.items()},
        "lineage": lineage,
    }
    out.write_text(json.dumps(document, indent=1), encoding="utf-8")
    return lineage


def read(path: Path) -> tuple[dict, dict[str, bytes]]:
    """An export file's document and blobs, every hash checked."""
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(f"{path} is not a sqlml model export (JSON): {exc}") from exc
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        raise InputError(f"{path} is not a sqlml model export (format {FORMAT!r})")
    registry = document["registry"]
    if registry.get("kind") not in KINDS:
        raise InputError(f"{path}: kind {registry.get('kind')!r} is not one of {', '.join(KINDS)}")
    blobs = {key: base64.b64decode(document["blobs"][key]) for key in ("artifact", "onnx_artifact")}
    recorded = {"artifact": registry["artifact_sha256"], "onnx_artifact": registry["onnx_sha256"]}
    for key, blob in blobs.items():
        if artifacts.sha256(blob) != recorded[key] or document["sha256"].get(key) != recorded[key]:
            raise InputError(f"{path}: {key} does not match its sha256; the file was changed "
                             "after export")
    return document, blobs


def _registration(registry: dict) -> str:
    return json.dumps({key: registry[key] for key in (
        "artifact_sha256", "onnx_sha256", "spec", "metrics", "feature_schema", "trained_rows",
        "training_seconds", "device")})


_PG_REGISTER = (
    "SELECT r.model_id, r.version, r.status FROM ops.register_model("
    "CAST(:kind AS text), CAST(:name AS text), :artifact, :onnx_artifact,"
    " CAST(:registration AS jsonb), :activate) AS r"
)
_TSQL_REGISTER = """SET NOCOUNT ON;
SET XACT_ABORT ON;
DECLARE @model_id BIGINT, @version INT, @status NVARCHAR(16), @status_reason NVARCHAR(MAX);
BEGIN TRANSACTION;
EXEC ops.register_model @kind = ?, @model_name = ?, @artifact = ?, @onnx_artifact = ?,
    @registration = ?, @activate = ?, @model_id = @model_id OUTPUT,
    @version = @version OUTPUT, @status = @status OUTPUT,
    @status_reason = @status_reason OUTPUT;
UPDATE models.registry SET lineage = ? WHERE model_id = @model_id;
COMMIT TRANSACTION;
SELECT @model_id AS model_id, @version AS version, @status AS status;"""


def import_export(engine: sa.Engine, path: Path, name: str, activate: bool) -> dict:
    """Register an export file as the next version of ``name``; returns model_id,
    model_name, version, status, lineage."""
    document, blobs = read(path)
    registry = document["registry"]
    lineage = json.dumps(document["lineage"])
    registration = _registration(registry)
    if engine.dialect.name == "mssql":
        from sqlml.routines import execute_tsql

        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            [row] = execute_tsql(connection, _TSQL_REGISTER, [
                registry["kind"], name, blobs["artifact"], blobs["onnx_artifact"],
                registration, bool(activate), lineage])
    else:
        with engine.begin() as connection:
            row = dict(connection.execute(sa.text(_PG_REGISTER), {
                "kind": registry["kind"], "name": name, "artifact": blobs["artifact"],
                "onnx_artifact": blobs["onnx_artifact"], "registration": registration,
                "activate": bool(activate)}).mappings().one())
            connection.execute(sa.text(
                "UPDATE models.registry SET lineage = CAST(:lineage AS jsonb) "
                "WHERE model_id = :model_id"), {"lineage": lineage, "model_id": row["model_id"]})
    return {"model_id": row["model_id"], "model_name": name, "version": row["version"],
            "status": row["status"], "lineage": document["lineage"]}
