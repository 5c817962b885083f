"""Keras plumbing shared by both models: seeding and progress the caller can see."""

from __future__ import annotations

from collections.abc import Callable

from sqlml.kinds.device import quiet_tensorflow

Progress = Callable[[str], None]


def seed_everything(seed: int) -> None:
    quiet_tensorflow()
    import keras

    keras.utils.set_random_seed(seed)


def progress_callback(progress: Progress, epochs: int, watch: tuple[str, ...]):
    """A Keras callback reporting each epoch through ``progress`` (NOTICE on
    PostgreSQL, the messages pane on SQL Server)."""
    import keras

    class _Report(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            logs = logs or {}
            shown = ", ".join(f"{k} {logs[k]:.4f}" for k in watch if k in logs)
            progress(f"epoch {epoch + 1}/{epochs}: {shown}")

    return _Report()
