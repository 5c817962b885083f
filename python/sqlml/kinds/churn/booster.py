"""A gradient-boosted member for the churn network, as plain JSON and as ONNX nodes.

Where churn follows thresholds and interactions (a charge above a level, four
service calls or more, an international plan with long calls), boosted trees
still find some rules the network misses on a few thousand rows. Training fits
scikit-learn's ``HistGradientBoostingClassifier`` on the plain columns of the
network's matrix (scaled numbers, was-missing flags, one-hots: not the bins, whose
splits would repeat splits on their number) and, when validation says the blend
is better, stores

    p = w * network(x) + (1 - w) * sigmoid(base + sum of the trees' leaves)

with the network's weight ``w`` at least one half (the network stays the core),
and only when the blend gains at least ``min_auc_gain`` validation AUC over the
network alone.

The trees leave scikit-learn as JSON arrays (no pickle): per tree, for every node
its feature, threshold (go left when ``x <= threshold``), children, and leaf
value. From that JSON :func:`predict_logit` scores them with NumPy (the Keras
bundle's reference) and :func:`attach` adds them to the network's ONNX graph as
one ``TreeEnsembleRegressor`` node, so scoring stays one ONNX Runtime call and
never imports scikit-learn. The inputs are never NULL (preprocessing imputes),
so the trees' missing-value branches are not needed.
"""

from __future__ import annotations

import numpy as np

from sqlml.errors import ArtifactError

BLEND_WEIGHTS = (1.0, 0.75, 0.5)  # the network's share; 1.0: no trees


def fit(x: np.ndarray, y: np.ndarray, seed: int):
    from sklearn.ensemble import HistGradientBoostingClassifier

    return HistGradientBoostingClassifier(random_state=seed).fit(x, y)


def to_json(model) -> dict:
    """The fitted trees as arrays: what :func:`predict_logit` and :func:`attach` read."""
    trees = []
    for (predictor,) in model._predictors:  # one tree per iteration for binary targets
        nodes = predictor.nodes
        if nodes["is_categorical"].any():
            raise ArtifactError("gradient-boosted member has categorical splits; "
                                "expected numeric inputs only")
        trees.append({
            "feature": nodes["feature_idx"].astype(int).tolist(),
            "threshold": nodes["num_threshold"].astype(float).tolist(),
            "left": nodes["left"].astype(int).tolist(),
            "right": nodes["right"].astype(int).tolist(),
            "leaf": nodes["is_leaf"].astype(bool).tolist(),
            "value": nodes["value"].astype(float).tolist(),
        })
    return {"base": float(np.ravel(model._baseline_prediction)[0]), "trees": trees}


def remap(booster: dict, positions: list[int]) -> dict:
    """The trees reading column ``positions[i]`` where they were fitted on column ``i``."""
    index = np.asarray(positions)
    trees = [{**t, "feature": index[np.asarray(t["feature"])].tolist()} for t in booster["trees"]]
    return {**booster, "trees": trees}


def predict_logit(booster: dict, x: np.ndarray) -> np.ndarray:
    """The trees' summed log-odds for each row of ``x``, vectorised over rows."""
    out = np.full(len(x), booster["base"], dtype=np.float64)
    rows = np.arange(len(x))
    for tree in booster["trees"]:
        feature, threshold = np.asarray(tree["feature"]), np.asarray(tree["threshold"])
        left, right = np.asarray(tree["left"]), np.asarray(tree["right"])
        leaf, value = np.asarray(tree["leaf"]), np.asarray(tree["value"])
        node = np.zeros(len(x), dtype=np.int64)
        while True:
            active = ~leaf[node]
            if not active.any():
                break
            r, n = rows[active], node[active]
            go_left = x[r, feature[n]] <= threshold[n]
            node[active] = np.where(go_left, left[n], right[n])
        out += value[node]
    return out


def predict(booster: dict, x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-predict_logit(booster, x)))


def blend(weight: float, p_network: np.ndarray, p_trees: np.ndarray) -> np.ndarray:
    return weight * p_network + (1.0 - weight) * p_trees


def attach(onnx_model: bytes, booster: dict, weight: float) -> bytes:
    """The network's ONNX graph with the trees added and the output blended."""
    import onnx
    from onnx import TensorProto, helper

    model = onnx.load_from_string(onnx_model)
    graph = model.graph
    [source] = graph.input
    [output] = graph.output
    network_out = output.name + "_network"
    for node in graph.node:
        node.output[:] = [network_out if o == output.name else o for o in node.output]

    attrs = {k: [] for k in ("nodes_treeids", "nodes_nodeids", "nodes_featureids",
                             "nodes_modes", "nodes_values", "nodes_truenodeids",
                             "nodes_falsenodeids", "target_treeids", "target_nodeids",
                             "target_ids", "target_weights")}
    for t, tree in enumerate(booster["trees"]):
        for n, is_leaf in enumerate(tree["leaf"]):
            attrs["nodes_treeids"].append(t)
            attrs["nodes_nodeids"].append(n)
            attrs["nodes_featureids"].append(0 if is_leaf else tree["feature"][n])
            attrs["nodes_modes"].append("LEAF" if is_leaf else "BRANCH_LEQ")
            attrs["nodes_values"].append(0.0 if is_leaf else tree["threshold"][n])
            attrs["nodes_truenodeids"].append(0 if is_leaf else tree["left"][n])
            attrs["nodes_falsenodeids"].append(0 if is_leaf else tree["right"][n])
            if is_leaf:
                attrs["target_treeids"].append(t)
                attrs["target_nodeids"].append(n)
                attrs["target_ids"].append(0)
                attrs["target_weights"].append(tree["value"][n])
    nodes = [
        helper.make_node("TreeEnsembleRegressor", [source.name], ["trees_logit"],
                         domain="ai.onnx.ml", n_targets=1, aggregate_function="SUM",
                         base_values=[booster["base"]], post_transform="NONE", **attrs),
        helper.make_node("Sigmoid", ["trees_logit"], ["trees_probability"]),
        helper.make_node("Constant", [], ["network_weight"], value=helper.make_tensor(
            "network_weight", TensorProto.FLOAT, [], [weight])),
        helper.make_node("Constant", [], ["trees_weight"], value=helper.make_tensor(
            "trees_weight", TensorProto.FLOAT, [], [1.0 - weight])),
        helper.make_node("Mul", [network_out, "network_weight"], ["network_part"]),
        helper.make_node("Mul", ["trees_probability", "trees_weight"], ["trees_part"]),
        helper.make_node("Add", ["network_part", "trees_part"], [output.name]),
    ]
    graph.node.extend(nodes)
    if not any(o.domain == "ai.onnx.ml" for o in model.opset_import):
        model.opset_import.append(helper.make_opsetid("ai.onnx.ml", 1))
    onnx.checker.check_model(model)
    return model.SerializeToString()
