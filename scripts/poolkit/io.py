"""Atomic, deterministic file output and small shared helpers."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq


class UserError(RuntimeError):
    """An error with a message meant for the user (no traceback needed)."""


def _umask() -> int:
    """The process's file-creation mask (read by setting it and putting it back)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_path(final: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path next to ``final``; rename it into place on success.

    Nothing is left at ``final`` (nor the temporary) if the block raises, so a
    half-written file is never mistaken for a finished one.
    """
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{final.name}.", suffix=".part", dir=final.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        if tmp.is_file():
            os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; give the usual mode
        os.replace(tmp, final)
    except BaseException:
        if tmp.is_dir():
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            tmp.unlink(missing_ok=True)
        raise


@contextlib.contextmanager
def atomic_dir(final: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a fresh temporary folder next to ``final``; move it into place on success."""
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.", suffix=".part", dir=final.parent))
    try:
        yield tmp
        os.chmod(tmp, 0o777 & ~_umask())  # mkdtemp makes 0700; give the usual mode
        if final.exists():
            shutil.rmtree(final)
        os.replace(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def write_parquet(frame: pd.DataFrame, path: str | os.PathLike[str]) -> None:
    """Write ``frame`` as Parquet atomically and byte-reproducibly (no index)."""
    table = pa.Table.from_pandas(frame, preserve_index=False)
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp, compression="zstd", use_dictionary=False)


def write_tsv(frame: pd.DataFrame, path: str | os.PathLike[str]) -> None:
    """Write ``frame`` as a tab-separated table atomically (no index)."""
    with atomic_path(path) as tmp:
        frame.to_csv(tmp, sep="\t", index=False, float_format="%.6g")


def _json_default(value: Any) -> Any:
    if hasattr(value, "item"):
        return value.item()
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def write_json(data: Any, path: str | os.PathLike[str]) -> None:
    """Write ``data`` as indented, key-sorted JSON atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(data, indent=2, sort_keys=True, default=_json_default) + "\n")


def read_json(path: str | os.PathLike[str]) -> Any:
    """Read a JSON file."""
    return json.loads(Path(path).read_text())


def file_digest(path: str | os.PathLike[str], algorithm: str = "sha256") -> str:
    """Hex digest of a file's bytes (streamed)."""
    digest = hashlib.new(algorithm)
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def check_recorded_digest(path: str | os.PathLike[str], info_path: str | os.PathLike[str], key: str) -> None:
    """Raise a :class:`UserError` unless ``path``'s sha256 is the one its stage recorded as ``key`` in
    ``info_path`` when it wrote the file: damaged or edited intermediates are never used silently."""
    expected = read_json(info_path).get(key)
    if expected is None:
        raise UserError(
            f"{info_path} records no sha256 of {path} (written by an older version); "
            f"delete {path} and rerun the same command"
        )
    actual = file_digest(path)
    if actual != expected:
        raise UserError(
            f"{path} is damaged or was changed after its stage wrote it: its sha256 {actual[:16]}… differs from "
            f"the {expected[:16]}… recorded in {info_path}. Remedy: delete {path} and rerun the same command "
            "(it is rebuilt)"
        )


def write_maps(meta: pd.DataFrame, maps: np.ndarray, path: str | os.PathLike[str]) -> None:
    """Write one row per image: ``meta``'s columns and ``map``, the image's feature map
    (h, w, c) flattened in row-major order as a fixed-size list of float32."""
    values_per_image = int(np.prod(maps.shape[1:]))
    flat = np.ascontiguousarray(maps, dtype=np.float32).reshape(len(maps), values_per_image)
    table = pa.Table.from_pandas(meta.reset_index(drop=True), preserve_index=False)
    column = pa.FixedSizeListArray.from_arrays(pa.array(flat.reshape(-1)), values_per_image)
    with atomic_path(path) as tmp:
        pq.write_table(table.append_column("map", column), tmp, compression="zstd", use_dictionary=False)


def read_maps(path: str | os.PathLike[str], batch_rows: int = 512) -> tuple[pd.DataFrame, np.ndarray]:
    """The per-image columns and the flattened maps (n, h·w·c) of a :func:`write_maps` file.

    The maps are decoded ``batch_rows`` images at a time into one float32 array: reading the whole
    table first held it twice more (1.7 GB for the 333 MB of maps of a full-size run)."""
    file = pq.ParquetFile(path)
    values = np.empty((file.metadata.num_rows, file.schema_arrow.field("map").type.list_size), np.float32)
    meta, start = [], 0
    for batch in file.iter_batches(batch_size=batch_rows):
        column = batch.column("map")
        values[start : start + len(batch)] = column.flatten().to_numpy().reshape(len(batch), -1)
        meta.append(batch.drop_columns("map"))
        start += len(batch)
    if start != len(values):
        raise UserError(f"{path}: {start} map rows read, the file's metadata says {len(values)}")
    schema = file.schema_arrow.remove(file.schema_arrow.get_field_index("map"))
    return pa.Table.from_batches(meta, schema=schema).to_pandas(), values


def feature_columns(n_features: int = 512) -> list[str]:
    """Column names ``f000``… for the GAP scores."""
    return [f"f{i:03d}" for i in range(n_features)]
