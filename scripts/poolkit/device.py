"""Which device runs TensorFlow, how TensorFlow was built, and a clear stop when a job that
asked for a GPU cannot use one. Import after :func:`poolkit.tfsetup.configure`."""

from __future__ import annotations

import os
from typing import Any

from .io import UserError
from .machine import cpu_model

GPU_INSTALL = (
    "run Snakemake from the GPU environment (`make install-gpu` builds .venv-gpu beside .venv; or "
    "environment-gpu.yml), or remove the GPU request (gpu or gres) of this rule from the profile"
)


def tensorflow_build() -> dict[str, Any]:
    """TensorFlow's version and the CUDA and cuDNN versions it was built with (None on a CPU-only build)."""
    import tensorflow as tf

    info = tf.sysconfig.get_build_info()
    cuda = bool(info.get("is_cuda_build"))
    return {
        "tensorflow": tf.__version__,
        "cuda_build": cuda,
        "cuda_version": info.get("cuda_version") if cuda else None,
        "cudnn_version": info.get("cudnn_version") if cuda else None,
    }


def compute_device() -> str:
    """The device the model runs on: the first visible GPU's name, or the CPU's model."""
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    if not gpus:
        return f"CPU: {cpu_model()}"
    name = tf.config.experimental.get_device_details(gpus[0]).get("device_name", gpus[0].name)
    return f"GPU: {name}" + (f" (+{len(gpus) - 1} more visible)" if len(gpus) > 1 else "")


def require_gpu(requested: bool) -> None:
    """Stop with one clear error when the job asked for a GPU and TensorFlow cannot use one."""
    if not requested:
        return
    import tensorflow as tf

    build = tensorflow_build()
    if not build["cuda_build"]:
        raise UserError(
            f"this job asked for a GPU, but the installed TensorFlow {build['tensorflow']} is a CPU-only build "
            f"(tensorflow-cpu): {GPU_INSTALL}"
        )
    if not tf.config.list_physical_devices("GPU"):
        visible = os.environ.get("CUDA_VISIBLE_DEVICES", "(not set)")
        raise UserError(
            f"this job asked for a GPU and TensorFlow {build['tensorflow']} is built with CUDA "
            f"{build['cuda_version']}, "
            f"but it sees no GPU device (no NVIDIA driver, or CUDA_VISIBLE_DEVICES={visible}): check `nvidia-smi` "
            "on the node and that the job was given a GPU (--gpus or --gres); otherwise " + GPU_INSTALL
        )
