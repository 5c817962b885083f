"""The churn network: wide-and-deep, started from logistic regression.

Tabular churn data is often nearly linear, and a plain multilayer network
regularly loses to logistic regression on it. So the network is

    p = sigmoid(wide(x) + deep(x))

where ``wide`` is one linear unit initialised with a logistic regression fitted
on the training rows, and ``deep``'s last layer starts at zero. Before the first
step the network *is* that logistic regression; training then lets the deep
part learn interactions the linear part cannot, and early stopping on
validation AUC (compared against the starting point too) keeps whichever is
better; the deep part is kept only when it gains at least ``min_auc_gain``
validation AUC over the start, since smaller gains are within validation noise.
The result can be exported as one ONNX graph.

Class weighting ("balanced") re-weights the loss so the minority class is not
ignored; it also shifts the logits by log(w1/w0), which is subtracted from the
wide bias after training so the scores stay calibrated probabilities.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score

from sqlml.kinds.device import training_device
from sqlml.kinds.training import Progress, progress_callback, seed_everything


def class_weights(y: np.ndarray, balanced: bool) -> dict[int, float]:
    if not balanced:
        return {0: 1.0, 1: 1.0}
    counts = np.bincount(y, minlength=2).astype(float)
    return {c: float(len(y) / (2 * counts[c])) for c in (0, 1)}


def logistic_regression(x: np.ndarray, y: np.ndarray, opts: dict,
                        balanced: bool) -> LogisticRegression:
    # sklearn's C is the inverse of the L2 strength on the summed log-loss; C=1
    # is its default and the baseline a reader would fit by hand.
    model = LogisticRegression(C=1.0, max_iter=2000,
                               class_weight="balanced" if balanced else None)
    return model.fit(x.astype(np.float64), y)


def build(width: int, opts: dict, name: str = "churn_wide_and_deep"):
    import keras
    from keras import layers, regularizers

    inputs = keras.Input(shape=(width,), name="features")
    wide = layers.Dense(1, name="wide")(inputs)
    h = inputs
    for i, units in enumerate(opts["hidden_units"]):
        h = layers.Dense(units, activation="relu", name=f"deep_{i}",
                         kernel_regularizer=regularizers.l2(opts["l2"]))(h)
        if opts["dropout"] > 0:
            h = layers.Dropout(opts["dropout"], name=f"dropout_{i}")(h)
    deep = layers.Dense(1, name="deep_out", kernel_initializer="zeros")(h)
    logit = layers.Add(name="logit")([wide, deep])
    outputs = layers.Activation("sigmoid", name="churn_probability")(logit)
    model = keras.Model(inputs, outputs, name=name)
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=opts["learning_rate"]),
        loss="binary_crossentropy",
    )
    return model


def predict(model, x: np.ndarray) -> np.ndarray:
    return model.predict(x, batch_size=8192, verbose=0).reshape(-1).astype(np.float64)


@dataclass
class Fitted:
    model: object
    best_epoch: int  # 0: the logistic-regression start was never beaten
    epochs_run: int
    device: str


def _start(x, y, opts: dict, balanced: bool, member: int = 0, wide_inputs=None):
    """The network, initialised so that it computes the logistic regression of (x, y),
    fitted on the columns ``wide_inputs`` only when given (the others start at 0)."""
    seed_everything(opts["seed"] + member)
    columns = np.arange(x.shape[1]) if wide_inputs is None else np.asarray(wide_inputs)
    start = logistic_regression(x[:, columns], y, opts, balanced)
    kernel = np.zeros((x.shape[1], 1), dtype=np.float32)
    kernel[columns, 0] = start.coef_[0]
    model = build(x.shape[1], opts, name=f"member_{member}")
    model.get_layer("wide").set_weights([kernel, start.intercept_.astype(np.float32)])
    return model


def choose_start(x_train, y_train, x_valid, y_valid, opts: dict, plain_inputs) -> dict:
    """Which logistic regression the networks start from: over every column (numbers,
    their bins, one-hots: an additive model that already draws thresholds) or over
    the plain columns only (``plain_inputs``), whichever validates better. On nearly
    linear churn the bins' extra freedom can cost validation AUC, and the network
    must never start below the logistic regression a reader would fit."""
    balanced = opts["class_weight"] == "balanced"
    aucs = {}
    for name, columns in (("binned", np.arange(x_train.shape[1])), ("plain", plain_inputs)):
        if name == "plain" and len(columns) == x_train.shape[1]:
            continue  # no bins: the two are the same
        fitted = logistic_regression(x_train[:, columns], y_train, opts, balanced)
        aucs[name] = float(roc_auc_score(y_valid, fitted.predict_proba(x_valid[:, columns])[:, 1]))
    chosen = max(aucs, key=lambda k: (aucs[k], k == "plain"))
    return {"start": chosen, "start_valid_auc": aucs}


def fit(x_train, y_train, x_valid, y_valid, opts: dict, progress: Progress,
        member: int = 0, wide_inputs=None) -> Fitted:
    """Train with early stopping on validation AUC, counting the starting point."""
    import keras

    device = training_device()
    balanced = opts["class_weight"] == "balanced"
    weights = class_weights(y_train, balanced)
    model = _start(x_train, y_train, opts, balanced, member, wide_inputs)
    start_auc, start_weights = roc_auc_score(y_valid, predict(model, x_valid)), model.get_weights()
    best = {"auc": start_auc, "epoch": 0, "weights": start_weights}
    progress(f"device {device}; start (logistic regression) validation AUC {best['auc']:.4f}")

    class KeepBest(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            auc = roc_auc_score(y_valid, predict(self.model, x_valid))
            logs["val_auc"] = auc
            if auc > best["auc"] + 1e-5:
                best.update(auc=auc, epoch=epoch + 1, weights=self.model.get_weights())
            elif epoch + 1 - best["epoch"] >= opts["patience"]:
                self.model.stop_training = True

    history = model.fit(
        x_train, y_train.astype(np.float32),
        batch_size=opts["batch_size"], epochs=opts["epochs"], shuffle=True,
        class_weight=weights, verbose=0,
        callbacks=[KeepBest(), progress_callback(progress, opts["epochs"], ("loss", "val_auc"))],
    )
    if best["epoch"] and best["auc"] - start_auc < opts["min_auc_gain"]:
        # A gain smaller than validation noise is not evidence the deep part
        # generalises: keep the logistic-regression start.
        progress(f"deep part gained {best['auc'] - start_auc:.4f} validation AUC "
                 f"(< {opts['min_auc_gain']}): keeping the logistic-regression start")
        best.update(epoch=0, weights=start_weights)
    model.set_weights(best["weights"])
    if balanced:
        _undo_class_weight_shift(model, weights)
    return Fitted(model=model, best_epoch=best["epoch"],
                  epochs_run=len(history.history.get("loss", [])), device=device)


def refit(x, y, opts: dict, epochs: int, progress: Progress, member: int = 0,
          wide_inputs=None):
    """Train on every row for the number of epochs validation chose: the stored model
    learns from all the data, while its metrics stay those measured on validation."""
    balanced = opts["class_weight"] == "balanced"
    weights = class_weights(y, balanced)
    model = _start(x, y, opts, balanced, member, wide_inputs)
    if epochs > 0:
        progress(f"refit on all {len(y)} rows for {epochs} epoch(s)")
        model.fit(x, y.astype(np.float32), batch_size=opts["batch_size"], epochs=epochs,
                  shuffle=True, class_weight=weights, verbose=0,
                  callbacks=[progress_callback(progress, epochs, ("loss",))])
    if balanced:
        _undo_class_weight_shift(model, weights)
    return model


def _undo_class_weight_shift(model, weights: dict[int, float]) -> None:
    kernel, bias = model.get_layer("wide").get_weights()
    bias = bias - np.float32(math.log(weights[1] / weights[0]))
    model.get_layer("wide").set_weights([kernel, bias])


def average(members: list):
    """One graph whose output is the mean of the members' probabilities: a seed
    ensemble exports to one ONNX model and scores in one call. A mean of
    calibrated probabilities stays calibrated on average, and it varies less
    than any one member, whose deep part depends on its random start."""
    import keras
    from keras import layers

    if len(members) == 1:
        return members[0]
    # Uncompiled copies: the saved ensemble carries no optimizer state per member.
    copies = []
    for m in members:
        copy = keras.models.clone_model(m)
        copy.set_weights(m.get_weights())
        copies.append(copy)
    inputs = keras.Input(shape=(members[0].input_shape[-1],), name="features")
    outputs = layers.Average(name="churn_probability")([m(inputs) for m in copies])
    return keras.Model(inputs, outputs, name="churn_ensemble")
