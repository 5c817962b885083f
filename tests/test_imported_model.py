"""Imported models without a database: what ml.import_model checks and records
(sqlml.kinds.imported.graph) and how ml.predict turns outputs into scores and labels
(sqlml.kinds.imported.predict), on graphs the converters really make."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from onnx import TensorProto, helper

import imported_models as im
from sqlml import entrypoints
from sqlml.errors import InputError
from sqlml.paths import project_root

pytestmark = pytest.mark.unit

SPEC = json.loads((project_root() / "models" / "imported.json").read_text())


def imported(blob, options=None, reference=None):
    return entrypoints.import_model(blob, json.dumps(options or {}), SPEC, reference)


def scores(model, frame):
    reg = model.registration
    return entrypoints.predict(frame, model.onnx_artifact, reg["onnx_sha256"],
                               reg["feature_schema"])


def test_multiclass_string_labels_score_the_predicted_class():
    from skl2onnx import to_onnx
    from skl2onnx.common.data_types import FloatTensorType
    from sklearn.linear_model import LogisticRegression

    frame, _ = im.customers(400, seed=1)
    plan = frame["plan"].to_numpy()
    x = frame[im.NUMERIC].to_numpy(np.float32)
    model = LogisticRegression(max_iter=500).fit(x, plan)
    blob = to_onnx(model, initial_types=[("x", FloatTensorType([None, 3]))],
                   target_opset={"": 17, "ai.onnx.ml": 3}).SerializeToString()
    version = imported(blob, {"id_column": "customer_id", "features": im.NUMERIC})
    schema = version.registration["feature_schema"]
    assert schema["classes"] == ["basic", "plus", "pro"] and schema["positive_class"] is None
    out = scores(version, frame)
    expected = model.predict_proba(x)
    assert out["label"].tolist() == model.predict(x).tolist()
    assert np.abs(out["score"].to_numpy() - expected.max(axis=1)).max() < 1e-4
    assert out["row_id"].tolist() == [str(i) for i in frame["customer_id"]]


def test_binary_string_classes_default_to_the_second_as_positive():
    frame, label = im.customers(300, seed=2)
    text_label = np.where(label == 1, "Yes", "No")
    pipeline, blob = im.sklearn_pipeline(frame, text_label)
    version = imported(blob, {"id_column": "customer_id"})
    assert version.registration["feature_schema"]["positive_class"] == "Yes"
    out = scores(version, frame)
    expected = pipeline.predict_proba(frame[im.TEXT + im.NUMERIC])[:, 1]
    assert np.abs(out["score"].to_numpy() - expected).max() < 1e-4
    with pytest.raises(InputError, match=r"'positive_class' \"Maybe\" is not a class.*No, Yes"):
        imported(blob, {"positive_class": "Maybe"})


def _graph_with(node, *, functions=(), extra_opsets=()):
    graph = helper.make_graph([node], "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, 1])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [None, 1])])
    model = helper.make_model(graph, functions=list(functions), opset_imports=[
        helper.make_opsetid("", 17), *extra_opsets])
    return model.SerializeToString()


def test_a_custom_domain_inside_a_subgraph_is_found_and_named():
    inner = helper.make_graph(
        [helper.make_node("Secret", ["x"], ["z"], domain="com.vendor")], "then", [],
        [helper.make_tensor_value_info("z", TensorProto.FLOAT, [None, 1])])
    other = helper.make_graph([helper.make_node("Identity", ["x"], ["w"])], "else", [],
                              [helper.make_tensor_value_info("w", TensorProto.FLOAT, [None, 1])])
    node = helper.make_node("If", ["c"], ["y"], then_branch=inner, else_branch=other)
    with pytest.raises(InputError, match=r"op 'Secret'.*custom domain 'com\.vendor'"):
        imported(_graph_with(node))


def test_a_local_function_is_refused_by_name():
    function = helper.make_function("com.mine", "Twice", ["a"], ["b"],
                                    [helper.make_node("Add", ["a", "a"], ["b"])],
                                    [helper.make_opsetid("", 17)])
    node = helper.make_node("Identity", ["x"], ["y"])
    with pytest.raises(InputError, match="local function 'Twice' of domain 'com.mine'"):
        imported(_graph_with(node, functions=[function]))


@pytest.mark.parametrize("options, message", [
    ({"task": "ranking"}, "option 'task' must be"),
    ({"features": "tenure"}, "option 'features' must be a non-empty list"),
    ({"features": ["a", "A"]}, "names a column twice"),
    ({"positive_class": True}, "option 'positive_class' must be a class label"),
    ({"id_column": ""}, "option 'id_column' must be a non-empty string"),
])
def test_bad_options_are_named(options, message):
    with pytest.raises(InputError, match=message):
        imported(im.custom_domain_model(), options)


def test_features_must_fill_the_single_input_exactly():
    frame, _ = im.customers(200, seed=3)
    _, blob = im.single_tensor_regressor(frame)
    with pytest.raises(InputError, match="takes 3 values per row; option 'features' names 2"):
        imported(blob, {"features": ["tenure", "support_calls"]})
    with pytest.raises(InputError, match="takes 3 values per row: name the query columns"):
        imported(blob)
    with pytest.raises(InputError, match="is \"regression\" but|is for classifiers"):
        imported(blob, {"features": im.NUMERIC, "positive_class": 1})


def test_predict_refuses_nulls_for_an_integer_input_and_text_for_numbers():
    node = helper.make_node("Cast", ["n"], ["y"], to=TensorProto.FLOAT)
    graph = helper.make_graph([node], "ints",
                              [helper.make_tensor_value_info("n", TensorProto.INT64, [None, 1])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [None, 1])])
    blob = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]
                             ).SerializeToString()
    version = imported(blob)
    assert version.registration["feature_schema"]["task"] == "regression"
    frame = pd.DataFrame({"id": [1, 2], "n": [3.0, np.nan]})
    with pytest.raises(InputError, match="column 'n' has NULLs; model input 'n' takes tensor"):
        scores(version, frame)
    with pytest.raises(InputError, match="column 'n' is text"):
        scores(version, pd.DataFrame({"id": [1], "n": ["3"]}))
    out = scores(version, pd.DataFrame({"ID": [7, 8], "N": [3, 4]}))  # names in any case
    assert out["score"].tolist() == [3.0, 4.0] and out["label"].isna().all()


def test_a_changed_blob_is_refused_before_it_is_loaded():
    frame, label = im.customers(200, seed=4)
    _, blob = im.sklearn_pipeline(frame, label)
    version = imported(blob, {"id_column": "customer_id"})
    reg = version.registration
    with pytest.raises(Exception, match="does not match its recorded sha256"):
        entrypoints.predict(frame, version.onnx_artifact + b"\x00", reg["onnx_sha256"],
                            reg["feature_schema"])
