"""VGG16 notop weights: seeded random, a local file, or Keras' ImageNet download."""

from __future__ import annotations

import os
import shutil
import warnings
from pathlib import Path
from typing import Any

from .download import download
from .io import UserError, atomic_path, file_digest

IMAGENET_NOTOP_FILE = "vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5"
#: Size in bytes of Keras' ImageNet notop file, by its MD5 (address and MD5 are config keys).
KNOWN_SIZES = {"6d6bbae143d832006294945121d1f1fc": 58_889_256}


def vgg16_notop(weights: str | None = None) -> Any:
    """The VGG16 convolutional base (no dense top), any input size, Keras 3."""
    from keras.applications import VGG16

    return VGG16(include_top=False, weights=weights, input_shape=(None, None, 3))


def random_model(seed: int) -> Any:
    """A VGG16 base with seeded Glorot-uniform/zero initial weights."""
    import keras

    keras.utils.set_random_seed(seed)
    return vgg16_notop(None)


def load_model_from_file(path: str | os.PathLike[str]) -> Any:
    """Load weights from ``path`` into the VGG16 base, with clear errors."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"weights file {path} does not exist (config key weights.path)")
    model = vgg16_notop(None)
    try:
        # Keras only warns when a .weights.h5 file lacks some layers (they keep their
        # random initial values); that is an error here, never a silent partial load.
        with warnings.catch_warnings():
            warnings.simplefilter("error", UserWarning)
            model.load_weights(str(path))
    except Exception as error:  # Keras raises ValueError/KeyError/OSError variously
        raise UserError(
            f"weights file {path} does not fit the VGG16 notop architecture "
            f"(13 conv layers, 14,714,688 parameters): {type(error).__name__}: {error}"
        ) from error
    return model


def save_weights(model: Any, dest: str | os.PathLike[str]) -> None:
    """Save a model's weights atomically in Keras 3 ``.weights.h5`` format."""
    dest = Path(dest)
    if not dest.name.endswith(".weights.h5"):
        raise ValueError("the weights file name must end in .weights.h5")
    with atomic_path(dest) as tmp:
        staged = tmp.with_name(tmp.name + ".weights.h5")
        try:
            model.save_weights(str(staged))
            os.replace(staged, tmp)
        finally:
            staged.unlink(missing_ok=True)


def fetch_imagenet(dest: str | os.PathLike[str], url: str, md5: str) -> Path:
    """Put the MD5-checked ImageNet notop file at ``dest``.

    A copy already in Keras' cache (``$KERAS_HOME/models``, default ``~/.keras``)
    with the right MD5 is used instead of downloading.
    """
    dest = Path(dest)
    keras_home = Path(os.environ.get("KERAS_HOME", Path.home() / ".keras"))
    cached = keras_home / "models" / IMAGENET_NOTOP_FILE
    if cached.is_file() and file_digest(cached, "md5") == md5:
        with atomic_path(dest) as tmp:
            shutil.copyfile(cached, tmp)
        return dest
    return download(
        url, dest, checksum=md5, algorithm="md5", expected_size=KNOWN_SIZES.get(md5), what="VGG16 ImageNet weights"
    )


def weights_digest(model: Any) -> str:
    """SHA-256 of the model's weight values in layer order (independent of file format)."""
    import hashlib

    import numpy as np

    digest = hashlib.sha256()
    for array in model.get_weights():
        digest.update(np.ascontiguousarray(array, dtype=np.float32).tobytes())
    return digest.hexdigest()
