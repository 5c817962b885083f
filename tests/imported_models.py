"""Models the imported-model tests import: built with the converters (dev extra only).

Each returns the fitted model, its ONNX bytes and the frame it scores, so a test can
compare the database's scores with the source framework's.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

TEXT = ["plan", "region"]
NUMERIC = ["tenure", "monthly_charges", "support_calls"]


def customers(n: int, seed: int) -> tuple[pd.DataFrame, np.ndarray]:
    """Customers with text and numeric columns and a churn label that needs both."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({
        "customer_id": np.arange(1, n + 1, dtype=np.int64),
        "plan": rng.choice(["basic", "plus", "pro"], n, p=[0.5, 0.3, 0.2]),
        "region": rng.choice(["north", "south", "east", "west"], n),
        "tenure": rng.integers(0, 72, n).astype(np.float64),
        "monthly_charges": np.round(rng.normal(65, 20, n), 2),
        "support_calls": rng.poisson(1.5, n).astype(np.int64),
    })
    logit = (-1.0 + 1.2 * (frame.plan == "basic") - 0.04 * frame.tenure
             + 0.5 * frame.support_calls + 0.01 * (frame.monthly_charges - 65)
             + 0.4 * (frame.region == "south"))
    label = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(np.int64)
    return frame, label


def sklearn_pipeline(frame: pd.DataFrame, label: np.ndarray, zipmap: bool = True):
    """One-hot text columns and scaled numeric ones into a logistic regression, as skl2onnx
    converts it: one graph input per column, text as tensor(string) [N, 1]."""
    from skl2onnx import to_onnx
    from skl2onnx.common.data_types import FloatTensorType, StringTensorType
    from sklearn.compose import ColumnTransformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    pipeline = Pipeline([
        ("columns", ColumnTransformer([
            ("text", OneHotEncoder(handle_unknown="ignore"), TEXT),
            ("numeric", StandardScaler(), NUMERIC),
        ])),
        ("classifier", LogisticRegression(max_iter=500)),
    ]).fit(frame[TEXT + NUMERIC], label)
    types = [(c, StringTensorType([None, 1])) for c in TEXT] + [
        (c, FloatTensorType([None, 1])) for c in NUMERIC]
    options = None if zipmap else {id(pipeline): {"zipmap": False}}
    onx = to_onnx(pipeline, initial_types=types, options=options,
                  target_opset={"": 17, "ai.onnx.ml": 3})
    return pipeline, onx.SerializeToString()


def single_tensor_regressor(frame: pd.DataFrame):
    """Gradient boosting on the numeric columns as one float tensor [N, 3]: the graph
    ``options.features`` fills, in order."""
    from skl2onnx import to_onnx
    from skl2onnx.common.data_types import FloatTensorType
    from sklearn.ensemble import GradientBoostingRegressor

    x = frame[NUMERIC].to_numpy(np.float32)
    model = GradientBoostingRegressor(n_estimators=30, max_depth=3, random_state=0).fit(
        x, frame["monthly_charges"].to_numpy() * 0.5 + frame["tenure"].to_numpy())
    onx = to_onnx(model, initial_types=[("x", FloatTensorType([None, len(NUMERIC)]))],
                  target_opset={"": 17, "ai.onnx.ml": 3})
    return model, onx.SerializeToString()


def custom_domain_model() -> bytes:
    """A valid graph whose one node is an op of a custom domain (a kernel library)."""
    from onnx import TensorProto, helper

    node = helper.make_node("MysteryOp", ["x"], ["y"], domain="com.acme", name="mystery")
    graph = helper.make_graph([node], "custom",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, 1])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [None, 1])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17),
                                                    helper.make_opsetid("com.acme", 1)])
    return model.SerializeToString()


def external_data_model(folder) -> bytes:
    """A graph whose initializer 'weights' lives in a file beside it, as saved."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    weights = numpy_helper.from_array(np.ones((1, 1), dtype=np.float32), "weights")
    node = helper.make_node("MatMul", ["x", "weights"], ["y"])
    graph = helper.make_graph([node], "external",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, 1])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [None, 1])],
                              initializer=[weights])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    path = folder / "external.onnx"
    onnx.save_model(model, str(path), save_as_external_data=True, all_tensors_to_one_file=True,
                    location="external.bin", size_threshold=0)
    return onnx.load(str(path), load_external_data=False).SerializeToString()
