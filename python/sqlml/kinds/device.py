"""Which device trains: the first GPU TensorFlow sees, else the CPU. Recorded per version."""

from __future__ import annotations

import os
import platform


def quiet_tensorflow() -> None:
    """TensorFlow's C++ INFO logs would land in the SQL Server / PostgreSQL log."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def training_device() -> str:
    """``GPU: <name>`` when TensorFlow has a GPU (memory growth on, so the database
    host's GPU is shared, not seized), else ``CPU: <model> (<n> cores)``."""
    quiet_tensorflow()
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    if gpus:
        for gpu in gpus:
            try:
                tf.config.experimental.set_memory_growth(gpu, True)
            except RuntimeError:
                pass  # already initialised by an earlier call in this session
        name = tf.config.experimental.get_device_details(gpus[0]).get("device_name", gpus[0].name)
        return f"GPU: {name}" + (f" (x{len(gpus)})" if len(gpus) > 1 else "")
    return f"CPU: {cpu_name()} ({os.cpu_count()} cores)"
