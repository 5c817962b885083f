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
epoch; early stopping ends when every member's patience is spent. In the refit,
where each member's epochs are known, a member leaves that joint model once it
has run them: the rest train on in a model of the remaining members, with the
same optimizer (Adam's moments and step count are per variable, and clipping is
per variable, so nothing changes for them). Training time is close to
proportional to the members trained (measured: one member costs 0.29 of five), so
on 500 series x 120 months, where members' best epochs range from 1 to 49, this
halves the refit. The model that is stored and exported averages the members'
outputs: one ``.keras`` file and one ONNX graph.

Training steps and the per-epoch validation pass are compiled with XLA
(``jit_compile``) for large training sets (``JIT_MIN_WINDOWS``), on the CPU too,
where Keras leaves it off by default: it fuses the LSTM's small per-step operations
(measured: an epoch 1.5x faster on 2 CPU cores), at the cost of a compile of
several seconds per joint model. So a done member leaves only when the epochs the
others still need, times its share of an epoch, cost more than that compile (both
measured as training goes); until then it trains on, ignored.

LSTM settings stay cuDNN-compatible (tanh, sigmoid, no recurrent dropout, not
unrolled, with bias), so a GPU trains them with the fused kernel; dropout is a
separate layer after the LSTMs for the same reason.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from sqlml.kinds.device import training_device
from sqlml.kinds.training import Progress, progress_callback, seed_everything

MIN_IMPROVEMENT = 1e-4
# XLA from this many training windows up. Measured on 2 loaded CPU cores: compiling
# a five-member joint model costs 10-20 s more with XLA, and saves 0.9 s an epoch at
# 840 windows, 2 s at 7,000 and 6 s at 24,500; a few dozen series (the default
# batch of 64, a few thousand windows or less) rarely train long enough to gain.
JIT_MIN_WINDOWS = 5000
PREDICT_BATCH = 4096


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
    """(training model with output (members, horizon), averaging model, member layers,
    the input).  ``joint`` makes the training model of any subset of the members."""
    import keras
    from keras import layers

    inputs = keras.Input(shape=(lookback, channels), name="window")
    deltas = [_member(inputs, horizon, opts, i) for i in range(opts["ensemble"])]
    output = deltas[0] if len(deltas) == 1 else layers.Average(name="delta")(deltas)
    averaged = keras.Model(inputs, output, name="lstm_forecaster")
    members = [[layer for layer in averaged.layers if layer.name.startswith(f"member{i}_")]
               for i in range(len(deltas))]
    return averaged, members, inputs, deltas


def joint(inputs, deltas, active: list[int], optimizer, horizon: int, jit: bool):
    """The training model of the ``active`` members: output (n, len(active), horizon),
    one loss term per member. The members' layers are shared with the averaging model,
    and ``optimizer`` with every earlier joint model, so dropping a member changes
    nothing for the others."""
    import keras
    from keras import layers

    rows = [layers.Reshape((1, horizon))(deltas[i]) for i in active]
    stacked = rows[0] if len(rows) == 1 else layers.Concatenate(axis=1)(rows)
    model = keras.Model(inputs, stacked, name="forecaster_members")
    model.compile(optimizer=optimizer, loss="mean_absolute_error", jit_compile=jit)
    return model


def predict(model, x: np.ndarray) -> np.ndarray:
    """Outputs for ``x`` in batches of at most ``PREDICT_BATCH``, all of one size (the
    last padded with zeros and cut off again), so an XLA-compiled model compiles its
    predict step once, not again for a shorter last batch."""
    n = len(x)
    if n == 0:
        return np.zeros((0,) + tuple(model.output.shape[1:]), dtype=np.float64)
    steps = -(-n // PREDICT_BATCH)
    batch = -(-n // steps)
    if steps * batch > n:
        x = np.concatenate([x, np.zeros((steps * batch - n,) + x.shape[1:], x.dtype)])
    return model.predict(x, batch_size=batch, verbose=0)[:n].astype(np.float64)


def batches(x: np.ndarray, y: np.ndarray, members: int, batch: int, seed: int,
            pad: bool = True):
    """The training windows as a ``tf.data`` pipeline: reshuffled every epoch, in batches
    that all have ``batch`` rows, with ``y`` repeated for each of ``members`` outputs.
    The last, shorter batch of an epoch is padded with zero windows weighted 0, and its
    real windows weighted ``batch / real``: the loss (a sum over the batch's rows divided
    by its size) is then exactly the short batch's mean, as before, while XLA compiles
    the training step for one batch shape instead of two (measured on 2 CPU cores: the
    second compile costs about as much as the first, 10 s for five members, and every
    joint model, the backtest's and each of the refit's, paid it)."""
    import tensorflow as tf

    n, lookback, channels = x.shape
    horizon = y.shape[1]

    def padded(xb, yb):
        real = tf.shape(xb)[0]
        short = batch - real
        xb = tf.pad(xb, [[0, short], [0, 0], [0, 0]])
        yb = tf.pad(tf.tile(yb[:, None, :], [1, members, 1]), [[0, short], [0, 0], [0, 0]])
        # One weight per window and member: the shape of the per-member losses.
        weight = tf.concat([tf.fill([real, members], tf.cast(batch, tf.float32)
                                    / tf.cast(real, tf.float32)),
                            tf.zeros([short, members], tf.float32)], axis=0)
        return (tf.ensure_shape(xb, [batch, lookback, channels]),
                tf.ensure_shape(yb, [batch, members, horizon]),
                tf.ensure_shape(weight, [batch, members]))

    def repeated(xb, yb):
        return xb, tf.tile(yb[:, None, :], [1, members, 1])

    return (tf.data.Dataset.from_tensor_slices((x, y))
            .shuffle(n, seed=seed, reshuffle_each_iteration=True)
            .batch(batch)
            .map(padded if pad else repeated)
            .prefetch(2))


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
    number of epochs its backtest twin found best, and stops training when it has
    (see the module's docstring)."""
    import keras

    device = training_device()
    seed_everything(opts["seed"])
    horizon = y_train.shape[1]
    averaged, members, inputs, deltas = build(x_train.shape[1], x_train.shape[2], horizon,
                                              opts)
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

    finished: set[int] = set()  # members that are done: their kept weights are final
    # Seconds per epoch per member in a joint model, and a joint model's compile (its
    # first epoch less a later one), measured as training goes.
    cost = {"member_epoch": None, "compile": None}

    def done_with(i: int, done: int) -> bool:
        if validating:
            # Members stop together, once every one's patience is spent, as they
            # always have: one whose patience ran out may still improve while the
            # others train on, so leaving it behind would change the model, not
            # only what it costs.
            return all(done - b["epoch"] >= opts["patience"] for b in best)
        return done >= fixed_epochs[i]

    def epochs_left(training: list[int], done: int) -> int:
        """How many more epochs the members still training need (the refit's)."""
        return max(fixed_epochs[i] for i in training) - done

    class KeepBest(keras.callbacks.Callback):
        """Per-member early stopping that also counts the starting point (epoch 0).
        Stops the joint model to leave done members behind when what their further
        training would cost is more than compiling a smaller model."""

        def __init__(self, active: list[int]):
            super().__init__()
            self.active = active
            self.done = 0
            self.began = 0.0
            self.seconds: list[float] = []

        def on_epoch_begin(self, epoch, logs=None):
            self.began = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            logs = logs if logs is not None else {}
            self.done = done = epoch + 1
            training = [i for i in self.active if i not in finished]
            if not validating:
                for i in training:
                    if fixed_epochs[i] == done:
                        best[i]["weights"] = _snapshot(members[i])
            else:
                per_member = predict(self.model, x_valid)  # (n_valid, active, horizon)
                maes = np.mean(np.abs(per_member - y_valid[:, None, :]), axis=(0, 2))
                logs["val_mae"] = float(np.mean(np.abs(per_member.mean(axis=1) - y_valid)))
                for k, i in enumerate(self.active):
                    if i in training and maes[k] < best[i]["mae"] - MIN_IMPROVEMENT:
                        best[i].update(mae=float(maes[k]), epoch=done,
                                       weights=_snapshot(members[i]))
            finished.update(i for i in training if done_with(i, done))
            self.seconds.append(time.perf_counter() - self.began)
            if len(self.seconds) > 1:
                steady = float(np.median(self.seconds[1:]))
                cost["member_epoch"] = steady / len(self.active)
                cost["compile"] = max(self.seconds[0] - steady, 0.0)
            training = [i for i in self.active if i not in finished]
            idle = len(self.active) - len(training)
            if not training:
                self.model.stop_training = True
            elif idle and cost["member_epoch"] is not None:
                saved = idle * epochs_left(training, done) * cost["member_epoch"]
                self.model.stop_training = saved > cost["compile"]
            elif idle:
                self.model.stop_training = True  # nothing measured yet: assume it pays

    optimizer = keras.optimizers.Adam(learning_rate=opts["learning_rate"], clipnorm=1.0)
    jit = len(x_train) >= JIT_MIN_WINDOWS
    done = 0
    active = [i for i in range(n) if not done_with(i, done)]
    finished.update(set(range(n)) - set(active))
    if epochs > 0 and len(x_train):
        while active and done < epochs:
            model = joint(inputs, deltas, active, optimizer, horizon, jit)
            keep = KeepBest(active)
            model.fit(
                batches(x_train, y_train, len(active), opts["batch_size"],
                        opts["seed"] + done, pad=jit),
                initial_epoch=done, epochs=epochs, shuffle=False, verbose=0,
                callbacks=[keep, progress_callback(progress, epochs, ("loss", "val_mae"))],
            )
            done = keep.done
            active = [i for i in active if i not in finished]
    for member, b in zip(members, best, strict=True):
        _restore(member, b["weights"])
    valid_mae = None
    if validating:
        valid_mae = float(np.mean(np.abs(predict(averaged, x_valid) - y_valid)))
    return Fitted(
        model=averaged,
        best_epochs=[b["epoch"] for b in best],
        epochs_run=done,
        device=device,
        valid_mae=valid_mae,
        start_mae=start,
    )
