"""The forecaster's network: an ensemble of small LSTMs that correct a base forecast.

Each member reads a window (``lookback`` periods x ``windows.channels``)
through ``layers`` stacked LSTMs and a dense layer that outputs ``horizon``
corrections to the base forecast (the chosen library base, see ``correction``; or,
on monthly series and without candidates, Theta or seasonal naive from the window,
see ``windows`` and ``base``). That last layer starts at zero, so before the first
step every member *is* the base method; early stopping on the validation windows,
which also counts that starting point, keeps a member's weights only when they
beat it. The same idea starts the churn
network from logistic regression.

Members differ only in their random initialisation. They train side by side in
one Keras model (one pass over the data per epoch for all of them, each with
its own loss term, so their gradients do not mix) and each keeps its own best
epoch; early stopping ends when every member's patience is spent. In the refit,
where each member's epochs are known, a member leaves once it has run them: the
refit's training step computes each member's loss and gradients behind a gate
(``gated``), and a closed gate skips that member, forward and backward, so the
others train on alone, with the same optimizer (Adam's moments and clipping are per
variable) and the same compiled step. Training time is close to proportional to
the members trained (measured: one member costs 0.29 of five), so on 500 series x
120 months, where members' best epochs range from 1 to 49, this halves the refit.
The model that is stored and exported averages the members' outputs: one
``.keras`` file and one ONNX graph.

Training steps and the per-epoch validation pass are compiled with XLA
(``jit_compile``) for large training sets (``JIT_MIN_WINDOWS``), on the CPU too,
where Keras leaves it off by default: it fuses the LSTM's small per-step operations
(measured: an epoch 1.5x faster on 2 CPU cores), at the cost of a compile of
several seconds for each input shape. So every batch has one shape (``batches``
pads the last one), every predict batch too (``predict``), and the backtest and
the refit each compile their step once (before, a joint model of the remaining
members was compiled again each time some left the refit).

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


def joint(inputs, deltas, optimizer, horizon: int, jit: bool):
    """The backtest's training model: output (n, members, horizon), one loss term per
    member. The members' layers are shared with the averaging model."""
    import keras
    from keras import layers

    rows = [layers.Reshape((1, horizon))(delta) for delta in deltas]
    stacked = rows[0] if len(rows) == 1 else layers.Concatenate(axis=1)(rows)
    model = keras.Model(inputs, stacked, name="forecaster_members")
    model.compile(optimizer=optimizer, loss="mean_absolute_error", jit_compile=jit)
    return model


def _gate_values(n: int, finished: set[int]) -> np.ndarray:
    """Per member: 0 for one that is done, else n / (members still training), so each
    one's loss term weighs what it did in a joint model of the members still training."""
    training = n - len(finished)
    return np.array([0.0 if i in finished else n / max(training, 1) for i in range(n)],
                    dtype=np.float32)


def gated(inputs, deltas, optimizer, jit: bool):
    """The refit's training model: every member, output (n, members, horizon), each
    behind a gate (a variable, one value per member) that the refit closes once the
    member has trained its epochs. Each training step computes a member's loss and
    gradients inside a conditional on its gate, so a closed member costs nothing
    (its gradients are zero), the members still training cost what they would alone,
    and the step is traced and compiled once, where a joint model of the remaining
    members cost a new XLA compile (measured on 2 CPU cores: 6-8 s each) every time
    some left. A closed member's weights may still move (Adam's momentum); they are
    not used: the refit keeps each member's weights from its own last epoch. An open
    gate is n / (members still training): each one's loss term then weighs what it did
    in a joint model of those members. Returns (model, gate)."""
    import keras
    import tensorflow as tf

    n = len(deltas)
    gate = tf.Variable(np.ones(n, dtype=np.float32), trainable=False, name="member_gate")
    nets = [keras.Model(inputs, delta, name=f"member{i}") for i, delta in enumerate(deltas)]

    class Gated(keras.Model):
        def __init__(self):
            super().__init__(name="forecaster_members")
            self.nets = nets
            self.loss_tracker = keras.metrics.Mean(name="loss")

        def call(self, x, training=None):
            return tf.stack([net(x, training=training) for net in self.nets], axis=1)

        @property
        def metrics(self):
            return [self.loss_tracker]

        def train_step(self, data):
            x, y, weight = keras.utils.unpack_x_y_sample_weight(data)
            if weight is None:
                weight = tf.ones(tf.shape(y)[:2], y.dtype)
            size = tf.cast(tf.shape(y)[0] * n, y.dtype)  # Keras's sum over batch size
            total, grads, variables = 0.0, [], []
            for i, net in enumerate(self.nets):
                own = net.trainable_variables

                def step(net=net, own=own, i=i):
                    with tf.GradientTape() as tape:
                        error = tf.reduce_mean(tf.abs(y[:, i] - net(x, training=True)), -1)
                        term = tf.reduce_sum(error * weight[:, i]) / size * gate[i]
                    return [term, *tape.gradient(term, own)]

                def closed(own=own):
                    return [tf.zeros([], y.dtype), *[tf.zeros_like(v) for v in own]]

                term, *g = tf.cond(gate[i] > 0, step, closed)
                total += term
                grads += g
                variables += own
            self.optimizer.apply(grads, variables)
            self.loss_tracker.update_state(total)
            return {"loss": self.loss_tracker.result()}

    model = Gated()
    model.compile(optimizer=optimizer, jit_compile=jit)
    return model, gate


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


def batches(x: np.ndarray, y: np.ndarray, members: int, batch: int, seed: int):
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

    return (tf.data.Dataset.from_tensor_slices((x, y))
            .shuffle(n, seed=seed, reshuffle_each_iteration=True)
            .batch(batch)
            .map(padded)
            .prefetch(2))


@dataclass
class Fitted:
    model: object  # the averaging model
    best_epochs: list[int]  # per member; 0: the base was never beaten
    epochs_run: int
    device: str
    valid_mae: float | None  # of the averaged model, in units of s
    start_mae: float | None  # the base method's, same units
    valid_delta: np.ndarray | None = None  # the averaged model's outputs on x_valid


def _snapshot(member_layers) -> list:
    return [layer.get_weights() for layer in member_layers]


def _restore(member_layers, weights) -> None:
    for layer, w in zip(member_layers, weights, strict=True):
        layer.set_weights(w)


def fit(x_train, y_train, x_valid, y_valid, opts: dict, progress: Progress,
        fixed_epochs: list[int] | None = None) -> Fitted:
    """Train the ensemble. With validation windows: early stopping per member. With
    ``fixed_epochs`` instead (the refit on full series): each member trains for the
    number of epochs its backtest twin found best, and its gate closes when it has
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

    class KeepBest(keras.callbacks.Callback):
        """Per-member early stopping that also counts the starting point (epoch 0); in
        the refit, each member's weights at its own epoch count, and it leaves then."""

        def __init__(self, gate=None):
            super().__init__()
            self.gate = gate
            self.done = 0

        def on_epoch_end(self, epoch, logs=None):
            logs = logs if logs is not None else {}
            self.done = done = epoch + 1
            if not validating:
                for i in range(n):
                    if i not in finished and done >= fixed_epochs[i]:
                        best[i]["weights"] = _snapshot(members[i])
                        finished.add(i)
                if len(finished) == n:
                    self.model.stop_training = True
                else:
                    self.gate.assign(_gate_values(n, finished))
                return
            per_member = predict(self.model, x_valid)  # (n_valid, members, horizon)
            maes = np.mean(np.abs(per_member - y_valid[:, None, :]), axis=(0, 2))
            logs["val_mae"] = float(np.mean(np.abs(per_member.mean(axis=1) - y_valid)))
            for i in range(n):
                if maes[i] < best[i]["mae"] - MIN_IMPROVEMENT:
                    best[i].update(mae=float(maes[i]), epoch=done,
                                   weights=_snapshot(members[i]))
            # Members stop together, once every one's patience is spent: one whose
            # patience ran out may still improve while the others train on.
            if all(done - b["epoch"] >= opts["patience"] for b in best):
                self.model.stop_training = True

    optimizer = keras.optimizers.Adam(learning_rate=opts["learning_rate"], clipnorm=1.0)
    jit = len(x_train) >= JIT_MIN_WINDOWS
    done = 0
    if not validating:
        finished.update(i for i in range(n) if fixed_epochs[i] == 0)
    if epochs > 0 and len(x_train) and len(finished) < n:
        if validating:
            model = joint(inputs, deltas, optimizer, horizon, jit)
            keep = KeepBest()
        else:
            model, gate = gated(inputs, deltas, optimizer, jit)
            gate.assign(_gate_values(n, finished))
            keep = KeepBest(gate)
        if jit:  # batches of one shape, so XLA compiles the step once
            data = {"x": batches(x_train, y_train, n, opts["batch_size"], opts["seed"]),
                    "shuffle": False}
        else:  # small sets: Keras's own batches and shuffle, as before
            data = {"x": x_train, "y": np.repeat(y_train[:, None, :], n, axis=1),
                    "batch_size": opts["batch_size"], "shuffle": True}
        model.fit(
            **data, epochs=epochs, verbose=0,
            callbacks=[keep, progress_callback(progress, epochs, ("loss", "val_mae"))],
        )
        done = keep.done
    for member, b in zip(members, best, strict=True):
        _restore(member, b["weights"])
    valid_mae = valid_delta = None
    if validating:
        valid_delta = predict(averaged, x_valid)
        valid_mae = float(np.mean(np.abs(valid_delta - y_valid)))
    return Fitted(
        model=averaged,
        best_epochs=[b["epoch"] for b in best],
        epochs_run=done,
        device=device,
        valid_mae=valid_mae,
        start_mae=start,
        valid_delta=valid_delta,
    )
