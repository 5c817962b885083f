"""Keras plumbing shared by both models: seeding, progress the caller can see, and a
watch that stops training when the caller cancels or the time limit passes."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator

from sqlml.errors import ResourceLimitError
from sqlml.kinds.device import quiet_tensorflow

Progress = Callable[[str], None]
# How often a running fit looks at the watch: often enough that a cancel or a
# statement timeout stops training within about a second, rarely enough to cost
# nothing measurable (one round trip to the engine per half second).
CHECK_SECONDS = 0.5


class _Watch:
    def __init__(self, interrupt: Callable[[], None] | None, max_seconds: float | None):
        self.interrupt = interrupt
        self.deadline = None if max_seconds is None else time.monotonic() + max_seconds
        self.max_seconds = max_seconds
        self.next_check = 0.0

    def check(self, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now < self.next_check:
            return
        self.next_check = now + CHECK_SECONDS
        if self.interrupt is not None:
            self.interrupt()  # raises the engine's own cancel error, if one is pending
        if self.deadline is not None and now > self.deadline:
            raise ResourceLimitError(
                f"training stopped after {self.max_seconds:g} s, the spec's "
                "limits.max_training_seconds: train on fewer rows or epochs, or raise the limit"
            )


_WATCH: _Watch | None = None


@contextlib.contextmanager
def watched(interrupt: Callable[[], None] | None = None,
            max_seconds: float | None = None) -> Iterator[None]:
    """While training runs inside this block, every fit calls ``interrupt`` (the engine
    adapter's hook: on PostgreSQL a ``SELECT 1``, which raises a pending cancel or
    statement timeout) about every ``CHECK_SECONDS``, and stops after ``max_seconds``."""
    global _WATCH
    previous, _WATCH = _WATCH, _Watch(interrupt, max_seconds)
    try:
        yield
    finally:
        _WATCH = previous


def check_watch() -> None:
    if _WATCH is not None:
        _WATCH.check()


def seed_everything(seed: int) -> None:
    quiet_tensorflow()
    import keras

    keras.utils.set_random_seed(seed)


def progress_callback(progress: Progress, epochs: int, watch: tuple[str, ...]):
    """A Keras callback reporting each epoch through ``progress`` (NOTICE on
    PostgreSQL, the messages pane on SQL Server), and looking at the watch
    (see :func:`watched`) between batches."""
    import keras

    class _Report(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            check_watch()

        def on_test_batch_end(self, batch, logs=None):
            check_watch()

        def on_epoch_end(self, epoch, logs=None):
            check_watch()
            logs = logs or {}
            shown = ", ".join(f"{k} {logs[k]:.4f}" for k in watch if k in logs)
            progress(f"epoch {epoch + 1}/{epochs}: {shown}")

    return _Report()
