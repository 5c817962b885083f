"""What ``ml.import_model`` checks in an ONNX blob, and what it records of it.

An ONNX graph is data, not code, only while it stays inside the operators ONNX
Runtime ships for the standard domains: a custom domain names a kernel from a
shared library, and external data names files on the server. So a blob is refused,
with an error naming the op, domain, tensor or bound, unless

* it is at most the spec's ``limits.max_model_bytes``;
* every node (subgraphs included) is of domain ``ai.onnx`` or ``ai.onnx.ml``, and so
  is every opset it imports, and it defines no local functions;
* no tensor keeps its data outside the blob;
* ``onnx.checker`` accepts it and ONNX Runtime opens a session on it.

What it records (the version's ``feature_schema``): the task, the id column, how
each graph input is filled from query columns, the output that gives the score
and the one that gives the label, the classes. skl2onnx classifiers end in a
``ZipMap`` (a list of dicts per batch); the graph kept for scoring has it cut off,
so a batch's probabilities come back as one float tensor, and the blob as given is
kept beside it.
"""

from __future__ import annotations

import json

import numpy as np

from sqlml import artifacts
from sqlml.errors import InputError

STANDARD_DOMAINS = ("ai.onnx", "ai.onnx.ml")
TASKS = ("classification", "regression")
OPTIONS = ("task", "id_column", "features", "positive_class", "reference_query", "description")
# Graph input types a query column can fill, and the column each needs.
TEXT_TYPES = {"tensor(string)": "text"}
NUMBER_TYPES = {
    "tensor(float)": np.float32, "tensor(double)": np.float64, "tensor(int64)": np.int64,
    "tensor(int32)": np.int32, "tensor(bool)": np.bool_, "tensor(float16)": np.float16,
}
CLASS_ATTRIBUTES = ("classlabels_int64s", "classlabels_ints", "classlabels_strings")


def _domain(name: str) -> str:
    return name or "ai.onnx"


def parse_options(options: str | dict | None) -> dict:
    """The import's options (JSON text or parsed), unknown keys and wrong types refused."""
    from sqlml.specs import parse_json

    given = parse_json(options, "options of ml.import_model")
    unknown = sorted(set(given) - set(OPTIONS))
    if unknown:
        raise InputError(f"unknown option {unknown[0]!r} for ml.import_model; known options: "
                         + ", ".join(OPTIONS))
    task = given.get("task")
    if task is not None and task not in TASKS:
        raise InputError(f"option 'task' must be \"classification\" or \"regression\"; "
                         f"got {json.dumps(task)}")
    for name in ("id_column", "reference_query", "description"):
        value = given.get(name)
        if value is not None and (not isinstance(value, str) or not value.strip()):
            raise InputError(f"option {name!r} must be a non-empty string; got {json.dumps(value)}")
    features = given.get("features")
    if features is not None and (
        not isinstance(features, list) or not features
        or not all(isinstance(f, str) and f.strip() for f in features)
    ):
        raise InputError("option 'features' must be a non-empty list of column names")
    if features is not None and len({f.lower() for f in features}) != len(features):
        raise InputError("option 'features' names a column twice")
    positive = given.get("positive_class")
    if positive is not None and (isinstance(positive, bool)
                                 or not isinstance(positive, str | int)):
        raise InputError("option 'positive_class' must be a class label (a string or an "
                         f"integer); got {json.dumps(positive)}")
    return {"task": task, "id_column": given.get("id_column") or "id", "features": features,
            "positive_class": positive, "reference_query": given.get("reference_query"),
            "description": given.get("description")}


# --- the refusals ------------------------------------------------------------------


def _graphs(graph):
    """A graph and every subgraph of its nodes (If, Loop, Scan bodies), depth first."""
    from onnx import AttributeProto

    yield graph
    for node in graph.node:
        for attribute in node.attribute:
            if attribute.type == AttributeProto.GRAPH:
                yield from _graphs(attribute.g)
            elif attribute.type == AttributeProto.GRAPHS:
                for sub in attribute.graphs:
                    yield from _graphs(sub)


def _tensors(graph):
    """Every tensor a graph holds: initializers (sparse ones too) and node attributes."""
    from onnx import AttributeProto

    yield from graph.initializer
    for sparse in graph.sparse_initializer:
        yield sparse.values
        yield sparse.indices
    for node in graph.node:
        for attribute in node.attribute:
            if attribute.type == AttributeProto.TENSOR:
                yield attribute.t
            elif attribute.type == AttributeProto.TENSORS:
                yield from attribute.tensors


def refuse_unsafe(model) -> None:
    """The domain and external-data refusals, on a parsed ``onnx.ModelProto``."""
    from onnx import TensorProto

    if len(model.functions):
        function = model.functions[0]
        raise InputError(f"model defines local function {function.name!r} of domain "
                         f"{_domain(function.domain)!r}: only the standard domains "
                         f"{', '.join(STANDARD_DOMAINS)} can be imported")
    for graph in _graphs(model.graph):
        for node in graph.node:
            if _domain(node.domain) not in STANDARD_DOMAINS:
                raise InputError(
                    f"model uses op {node.op_type!r} (node {node.name or '(unnamed)'!r}) of "
                    f"custom domain {node.domain!r}: only the standard domains "
                    f"{', '.join(STANDARD_DOMAINS)} can be imported (a custom domain "
                    "needs a kernel library on the server)")
        for tensor in _tensors(graph):
            if tensor.data_location == TensorProto.EXTERNAL or len(tensor.external_data):
                raise InputError(
                    f"model keeps tensor {tensor.name!r} in external data: save it with "
                    "every tensor inside the file (onnx.save_model(..., "
                    "save_as_external_data=False))")
    for opset in model.opset_import:
        if _domain(opset.domain) not in STANDARD_DOMAINS:
            raise InputError(f"model imports opset of custom domain {opset.domain!r}: only "
                             f"the standard domains {', '.join(STANDARD_DOMAINS)} can be imported")


def parse(blob: bytes, max_bytes: int):
    """The blob as an ``onnx.ModelProto``, after the size bound and before any other check."""
    import onnx

    if blob is None or not len(blob):
        raise InputError("model is empty: pass the bytes of an .onnx file")
    if len(blob) > max_bytes:
        raise InputError(f"model is {len(blob)} bytes, over the bound of {max_bytes} bytes "
                         "(spec imported: limits.max_model_bytes)")
    try:
        return onnx.load_model_from_string(bytes(blob))
    except Exception as exc:  # protobuf's DecodeError and kin
        raise InputError(f"model is not an ONNX model: {type(exc).__name__}: {exc}") from exc


def _check(model) -> None:
    import onnx

    try:
        onnx.checker.check_model(model)
    except onnx.checker.ValidationError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InputError(f"model fails onnx.checker: {first}") from exc


def _session(blob: bytes):
    try:
        return artifacts.onnx_session(blob)
    except Exception as exc:
        raise InputError(f"ONNX Runtime cannot load the model: {exc}") from exc


# --- what is recorded ----------------------------------------------------------------


def _classes(model) -> list | None:
    """The class labels the graph declares: its ZipMap's, else its classifier node's."""
    from onnx import helper

    nodes = list(model.graph.node)
    ordered = [n for n in nodes if n.op_type == "ZipMap"] + [
        n for n in nodes if n.op_type.endswith("Classifier") and n.domain == "ai.onnx.ml"]
    for node in ordered:
        for attribute in node.attribute:
            if attribute.name in CLASS_ATTRIBUTES:
                values = helper.get_attribute_value(attribute)
                return [v.decode() if isinstance(v, bytes) else int(v) for v in values]
    return None


def _cut_zipmap(model):
    """The graph without its ZipMap: the map's input (a float tensor of probabilities,
    one column per class) becomes the graph output. None when it has no ZipMap."""
    from onnx import TensorProto, helper

    outputs = {o.name for o in model.graph.output}
    zipmaps = [n for n in model.graph.node if n.op_type == "ZipMap" and n.output[0] in outputs]
    if not zipmaps:
        return None
    cut = type(model)()
    cut.CopyFrom(model)
    for node in zipmaps:
        kept = [o for o in cut.graph.output if o.name != node.output[0]]
        index = [o.name for o in cut.graph.output].index(node.output[0])
        probabilities = helper.make_tensor_value_info(node.input[0], TensorProto.FLOAT,
                                                      [None, None])
        kept.insert(index, probabilities)
        del cut.graph.output[:]
        cut.graph.output.extend(kept)
        cut.graph.node.remove(next(n for n in cut.graph.node if n.output[0] == node.output[0]))
    return cut


def _shape(shape) -> list:
    return [d if isinstance(d, int) else None for d in shape]


def _inputs(session, features: list[str] | None, constants: set[str]) -> list[dict]:
    """Each graph input and the query columns that fill it. Inputs that are also
    initializers (``constants``: tf2onnx lists a network's constants so) keep their
    stored values: no column fills them."""
    inputs = [i for i in session.get_inputs() if i.name not in constants]
    for graph_input in inputs:
        if graph_input.type not in TEXT_TYPES and graph_input.type not in NUMBER_TYPES:
            raise InputError(f"model input {graph_input.name!r} is of type {graph_input.type}: "
                             "a query column can fill tensor(string), tensor(float), "
                             "tensor(double), tensor(int64), tensor(int32) or tensor(bool)")
    if features is not None:
        if len(inputs) != 1:
            raise InputError(f"option 'features' fills a graph with one input; this graph has "
                             f"{len(inputs)} ({', '.join(i.name for i in inputs)}), matched to "
                             "query columns by name: leave 'features' out")
        [only] = inputs
        width = _shape(only.shape)[-1] if len(only.shape) >= 2 else 1
        if width is not None and width != len(features):
            raise InputError(f"model input {only.name!r} takes {width} values per row; option "
                             f"'features' names {len(features)} column(s)")
        return [{"name": only.name, "type": only.type, "shape": _shape(only.shape),
                 "columns": list(features)}]
    out = []
    for graph_input in inputs:
        shape = _shape(graph_input.shape)
        if len(shape) > 2 or (len(shape) == 2 and shape[1] not in (1, None)):
            raise InputError(
                f"model input {graph_input.name!r} takes {shape[-1]} values per row: name the "
                "query columns that fill it, in order, with option 'features'")
        out.append({"name": graph_input.name, "type": graph_input.type, "shape": shape,
                    "columns": [graph_input.name]})
    return out


def _outputs(session) -> list[dict]:
    return [{"name": o.name, "type": o.type, "shape": _shape(o.shape)}
            for o in session.get_outputs()]


def _roles(outputs: list[dict], task: str | None, classes: list | None
           ) -> tuple[str, str, str | None]:
    """(task, score output, label output) of the scoring graph's outputs."""
    floats = [o for o in outputs if o["type"] in ("tensor(float)", "tensor(double)")]
    labels = [o for o in outputs if o["type"] in ("tensor(int64)", "tensor(string)",
                                                  "tensor(int32)")]
    if task is None:
        task = "classification" if labels or classes else "regression"
    if not floats:
        wanted = "probability" if task == "classification" else "value"
        raise InputError(f"model has no float output to take a {wanted} from "
                         f"(outputs: {', '.join(o['name'] + ' ' + o['type'] for o in outputs)})")
    if task == "regression":
        if labels or classes:
            raise InputError("option 'task' is \"regression\" but the model is a classifier "
                             f"(output {labels[0]['name'] if labels else 'of classes'!r}): "
                             "import it with task \"classification\"")
        return task, floats[0]["name"], None
    return task, floats[0]["name"], labels[0]["name"] if labels else None


def inspect(blob: bytes, options: str | dict | None, spec: dict) -> tuple[bytes, dict, dict]:
    """Check an imported blob: the graph kept for scoring (the blob itself, or the blob
    without its ZipMap), the version's feature schema and its metrics. Raises
    ``InputError`` naming what is refused; nothing here writes anything."""
    limits = spec.get("limits", {})
    resolved = parse_options(options)
    model = parse(blob, int(limits.get("max_model_bytes", 256 * 2**20)))
    refuse_unsafe(model)
    _check(model)
    _session(bytes(blob))
    classes = _classes(model)
    cut = _cut_zipmap(model)
    scoring = cut.SerializeToString() if cut is not None else bytes(blob)
    session = _session(scoring)
    inputs = _inputs(session, resolved["features"], {t.name for t in model.graph.initializer})
    if len(inputs) > int(limits.get("max_inputs", 1024)):
        raise InputError(f"model has {len(inputs)} inputs, over the bound of "
                         f"{limits['max_inputs']} (spec imported: limits.max_inputs)")
    outputs = _outputs(session)
    task, score_output, label_output = _roles(outputs, resolved["task"], classes)
    positive = resolved["positive_class"]
    if task == "classification":
        if classes is None:
            width = next(o["shape"] for o in outputs if o["name"] == score_output)[-1]
            classes = list(range(max(int(width or 2), 2)))
        texts = [str(c) for c in classes]
        if positive is None:
            positive = classes[1] if len(classes) == 2 else None
        elif str(positive) not in texts:
            raise InputError(f"option 'positive_class' {json.dumps(positive)} is not a class of "
                             f"the model (classes: {', '.join(texts)})")
    elif positive is not None:
        raise InputError("option 'positive_class' is for classifiers; this is a regression")
    columns: dict[str, str] = {}
    for graph_input in inputs:
        for column in graph_input["columns"]:
            columns[column] = "text" if graph_input["type"] in TEXT_TYPES else "numeric"
    schema = {
        "kind": "imported", "task": task, "id_column": resolved["id_column"],
        "inputs": inputs, "outputs": outputs, "columns": columns,
        "score_output": score_output, "label_output": label_output,
        "classes": classes if task == "classification" else None,
        "positive_class": positive, "zipmap_removed": cut is not None,
        "description": resolved["description"],
    }
    metrics = {
        "imported": 1, "task": task, "size_bytes": len(blob),
        "producer": " ".join(p for p in (model.producer_name, model.producer_version) if p),
        "opsets": {_domain(o.domain): int(o.version) for o in model.opset_import},
        "inputs": len(inputs), "classes": len(classes) if task == "classification" else None,
    }
    return scoring, schema, metrics
