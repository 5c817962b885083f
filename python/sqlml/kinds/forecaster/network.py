"""The forecaster's network: an ensemble of small LSTMs that correct a base forecast.

Each member reads a window (``lookback`` periods x ``windows.channels``)
through ``layers`` stacked LSTMs and a dense layer that outputs ``horizon``
corrections to the base forecast (Theta or seasonal naive, see ``windows``
and ``base``). That last layer starts at zero, so before the first step
every member *is* the base method; early stopping on the validation windows,
which also counts that starting point, keeps a member's weights only when they
beat it. The same idea starts the churn
network from logistic regression.

Members differ only in their random initialisation. They train side by side in
one Keras model (one pass over the data per epoch for all of them, each with
its own loss term, so their gradients do not mix) and each keeps its own best
epoch. The model that is stored and exported averages the members' outputs: one
``.keras`` file and one ONNX graph.

LSTM settings stay cuDNN-compatible (tanh, sigmoid, no recurrent dropout, not
unrolled, with bias), so a GPU trains them with the fused kernel; dropout is a
separate layer after the LSTMs for the same reason.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sqlml.kinds.device import training_device
from sqlml.kinds.training import Progress, progress_callback, seed_everything

MIN_IMPROVEMENT = 1e-4


def _member(inputs, horizon: int, opts: dict, index: int):
    from keras import layers

    h = inputs
    for depth in range(opts["layers"]):
        h = layers.LSTM(
            opts["units"], activation="tanh", recurrent_activation="sigmoid",
            recurrent_dropout=0.0, unroll=False, use_bias=True,
            return_sequences=depth < opts["layers"] - 1, name=f"member{index}_lstm{depth}",
        )(h)
    if opts["dropout"] > 0:
        h = layers.Dropout(opts["dropout"], name=f"member{index}_dropout")(h)
    delta = layers.Dense(horizon, kernel_initializer="zeros", bias_initializer="zeros",
                         name=f"member{index}_delta")(h)
    return delta


def build(lookback: int, channels: int, horizon: int, opts: dict):
    """(training model with output (members, horizon), averaging model, member layers)."""
    import keras
    from keras import layers

    inputs = keras.Input(shape=(lookback, channels), name="window")
    deltas = [_member(inputs, horizon, opts, i) for i in range(opts["ensemble"])]
    stacked = layers.Concatenate(axis=1, name="members")(
        [layers.Reshape((1, horizon), name=f"member{i}_row")(d) for i, d in enumerate(deltas)]
    )
    training = keras.Model(inputs, stacked, name="forecaster_members")
    training.compile(
        optimizer=keras.optimizers.Adam(learning_rate=opts["learning_rate"], clipnorm=1.0),
        loss="mean_absolute_error",
    )
    output = deltas[0] if len(deltas) == 1 else layers.Average(name="delta")(deltas)
    averaged = keras.Model(inputs, output, name="lstm_forecaster")
    members = [[layer for layer in training.layers if layer.name.startswith(f"member{i}_")]
               for i in range(len(deltas))]
    return training, averaged, members


def predict(model, x: np.ndarray) -> np.ndarray:
    if len(x) == 0:
        return np.zeros((0,) + tuple(model.output.shape[1:]), dtype=np.float64)
    return model.predict(x, batch_size=4096, verbose=0).astype(np.float64)


@dataclass
class Fitted:
    model: object  # the averaging model
    best_epochs: list[int]  # per member; 0: the base was never beaten
    epochs_run: int
    device: str
    valid_mae: float | None  # of the averaged model, in units of s
    start_mae: float | None  # the base method's, same units


def _snapshot(member_layers) -> list:
    return [layer.get_weights() for layer in member_layers]


def _restore(member_layers, weights) -> None:
    for layer, w in zip(member_layers, weights, strict=True):
        layer.set_weights(w)


def fit(x_train, y_train, x_valid, y_valid, opts: dict, progress: Progress,
        fixed_epochs: list[int] | None = None) -> Fitted:
    """Train the ensemble. With validation windows: early stopping per member. With
    ``fixed_epochs`` instead (the refit on full series): each member trains for the
    number of epochs its backtest twin found best."""
    import keras

    device = training_device()
    seed_everything(opts["seed"])
    horizon = y_train.shape[1]
    training, averaged, members = build(x_train.shape[1], x_train.shape[2], horizon, opts)
    n = len(members)
    validating = fixed_epochs is None
    best = [{"mae": np.inf, "epoch": 0, "weights": _snapshot(m)} for m in members]
    if validating:
        start = float(np.mean(np.abs(y_valid)))
        for b in best:
            b["mae"] = start
        epochs = opts["epochs"]
        progress(f"device {device}; {n} member(s); start (the base method) validation "
                 f"MAE {start:.4f} (units of the seasonal scale)")
    else:
        start = None
        epochs = max(fixed_epochs, default=0)
        progress(f"refit on full series: member epochs {fixed_epochs}")

    class KeepBest(keras.callbacks.Callback):
        """Per-member early stopping that also counts the starting point (epoch 0)."""

        def on_epoch_end(self, epoch, logs=None):
            logs = logs if logs is not None else {}
            done = epoch + 1
            if not validating:
                for i, member in enumerate(members):
                    if fixed_epochs[i] == done:
                        best[i]["weights"] = _snapshot(member)
                return
            per_member = predict(self.model, x_valid)  # (n_valid, members, horizon)
            maes = np.mean(np.abs(per_member - y_valid[:, None, :]), axis=(0, 2))
            logs["val_mae"] = float(np.mean(np.abs(per_member.mean(axis=1) - y_valid)))
            for i, member in enumerate(members):
                if maes[i] < best[i]["mae"] - MIN_IMPROVEMENT:
                    best[i].update(mae=float(maes[i]), epoch=done, weights=_snapshot(member))
            if all(done - b["epoch"] >= opts["patience"] for b in best):
                self.model.stop_training = True

    history = None
    if epochs > 0 and len(x_train):
        history = training.fit(
            x_train, np.repeat(y_train[:, None, :], n, axis=1),
            batch_size=opts["batch_size"], epochs=epochs, shuffle=True, verbose=0,
            callbacks=[KeepBest(), progress_callback(progress, epochs, ("loss", "val_mae"))],
        )
    for member, b in zip(members, best, strict=True):
        _restore(member, b["weights"])
    valid_mae = None
    if validating:
        valid_mae = float(np.mean(np.abs(predict(averaged, x_valid) - y_valid)))
    return Fitted(
        model=averaged,
        best_epochs=[b["epoch"] for b in best],
        epochs_run=len(history.history.get("loss", [])) if history else 0,
        device=device,
        valid_mae=valid_mae,
        start_mae=start,
    )
