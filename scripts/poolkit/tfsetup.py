"""TensorFlow start-up settings; import this module before TensorFlow itself."""

from __future__ import annotations

import os


def configure(threads: int) -> None:
    """Quiet logs, oneDNN on, and fixed intra/inter-op threads (call before importing TF)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(threads)
    tf.config.threading.set_inter_op_parallelism_threads(1)
