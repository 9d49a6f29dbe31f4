"""The download cache: every download kept once under a key of what it is, verified, never deleted.

Layout under the cache folder (config key ``run.cache``), shared by every run:

- ``url/<sha256>/archive`` (+ ``source.json``): a dataset archive, keyed by its sha256;
- ``kagglehub/``: kagglehub's own cache (``KAGGLEHUB_CACHE``), and ``kaggle/<owner>/<dataset>.json``,
  the version a handle without one resolved to and the digest of its files;
- ``imagenet/<md5>/<Keras' file name>``: the ImageNet VGG16 notop weights, keyed by their MD5.

A run writes a small receipt (its own output) naming the cached file it uses. Snakemake deletes a job's
outputs before it reruns the job, so only the receipt can go: the cached download stays, and the rerun
finds it without the network. A cached file that no longer matches its key is an error naming the file,
never a silent download over it.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

from .download import download
from .io import UserError, file_digest, read_json, write_json

RECEIPT_KEYS = ("source", "path", "digest", "algorithm")


def damaged(path: Path, algorithm: str, actual: str, expected: str) -> UserError:
    """The error for a cached download whose bytes changed since it was verified."""
    return UserError(
        f"cached download {path} is damaged: its {algorithm} is {actual}, its key says {expected}. "
        f"Remedy: delete {path.parent} (only that folder), then rerun the same command to download it again"
    )


def verified_file(path: Path, algorithm: str, expected: str) -> Path:
    """``path`` after checking its digest, or a :class:`UserError` naming it."""
    actual = file_digest(path, algorithm)
    if actual != expected.lower():
        raise damaged(path, algorithm, actual, expected)
    return path


def cached_download(path: Path, url: str, *, checksum: str, algorithm: str, **download_options: Any) -> Path:
    """The verified file at ``path``: checked when it is there, else downloaded there (atomically)."""
    if path.is_file():
        return verified_file(path, algorithm, checksum)
    download(url, path, checksum=checksum, algorithm=algorithm, **download_options)
    write_json({"url": url, algorithm: checksum.lower(), "bytes": path.stat().st_size}, path.parent / "source.json")
    return path


def archive(cache: str | os.PathLike[str], url: str, sha256: str, size: int, retries: int) -> Path:
    """A dataset archive from ``url``, kept as ``url/<sha256>/archive``."""
    if not url or not sha256:
        raise UserError("dataset.source is 'url': dataset.url.url and dataset.url.sha256 are required")
    path = Path(cache) / "url" / sha256.lower() / "archive"
    return cached_download(
        path,
        url,
        checksum=sha256,
        algorithm="sha256",
        expected_size=size or None,
        retries=retries,
        what="dataset archive",
    )


def imagenet_weights(cache: str | os.PathLike[str], url: str, md5: str) -> Path:
    """Keras' ImageNet VGG16 notop file, kept as ``imagenet/<md5>/<file name>``."""
    from .weights import fetch_imagenet

    path = Path(cache) / "imagenet" / md5.lower() / Path(url).name
    if path.is_file():
        return verified_file(path, "md5", md5)
    fetch_imagenet(path, url, md5)
    write_json({"url": url, "md5": md5.lower(), "bytes": path.stat().st_size}, path.parent / "source.json")
    return path


# --------------------------------------------------------------------------- Kaggle
def tree_digest(folder: str | os.PathLike[str]) -> str:
    """sha256 over every file below ``folder``: its relative path and its bytes' sha256, in sorted order."""
    folder = Path(folder)
    digest = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        digest.update(f"{path.relative_to(folder).as_posix()}\0{file_digest(path)}\n".encode())
    return digest.hexdigest()


def _record_path(cache: Path, handle: str) -> Path:
    owner, name = handle.split("/")[:2]
    return cache / "kaggle" / owner / f"{name}.json"


def kaggle_dataset(cache: str | os.PathLike[str], handle: str) -> dict[str, str]:
    """A Kaggle dataset in kagglehub's cache under ``cache``: its folder, version and tree digest.

    A handle without a version is resolved once, on the first download; later runs use that version
    from the cache without the network (pin ``owner/dataset/versions/N`` to take another one).
    """
    from .dataset import kaggle_download

    cache = Path(cache)
    os.environ["KAGGLEHUB_CACHE"] = str((cache / "kagglehub").resolve())
    record_path = _record_path(cache, handle)
    if "/versions/" not in handle and record_path.is_file():
        handle = read_json(record_path)["handle"]
    folder = kaggle_download(handle)
    record = {"handle": _versioned(handle, folder), "folder": str(folder), "tree_sha256": tree_digest(folder)}
    recorded = read_json(record_path) if record_path.is_file() else None
    if recorded is None:
        write_json(record, record_path)
    elif recorded["handle"] == record["handle"] and recorded["tree_sha256"] != record["tree_sha256"]:
        raise UserError(
            f"cached Kaggle dataset {folder} is damaged: its files' digest differs from the one recorded in "
            f"{record_path} on download. Remedy: delete {folder} and {record_path}, then rerun the same command"
        )
    return record


def _versioned(handle: str, folder: Path) -> str:
    """``handle`` with the version kagglehub downloaded (its folder is ``.../versions/<N>``)."""
    if "/versions/" in handle or folder.parent.name != "versions":
        return handle
    return f"{handle}/versions/{folder.name}"


def verify_receipt(receipt: dict[str, str]) -> Path:
    """The cached download a receipt names, checked against the digest the receipt records."""
    path = Path(receipt["path"])
    if not path.exists():
        raise UserError(
            f"cached download {path} is missing (receipt of a {receipt['source']} download). "
            "Remedy: rerun the same command on a machine with internet (make fetch) to download it again"
        )
    if receipt["algorithm"] == "tree_sha256":
        actual = tree_digest(path)
        if actual != receipt["digest"]:
            raise damaged(path / "*", "tree sha256", actual, receipt["digest"])
        return path
    return verified_file(path, receipt["algorithm"], receipt["digest"])
