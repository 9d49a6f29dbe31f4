"""TensorFlow start-up settings; import this module before TensorFlow itself."""

from __future__ import annotations

import os


def configure(threads: int) -> None:
    """Quiet logs, oneDNN on, fixed intra/inter-op threads, GPU memory on demand (call before importing TF)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(threads)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    for gpu in tf.config.list_physical_devices("GPU"):
        tf.config.experimental.set_memory_growth(gpu, True)  # take GPU memory as needed, not all of it
