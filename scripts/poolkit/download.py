"""Verified downloads: temporary file, retries with backoff, checksum, atomic rename."""

from __future__ import annotations

import hashlib
import os
import time
from pathlib import Path

import requests

from .io import UserError, atomic_path
from .progress import log_progress

OFFLINE_REMEDIES = (
    "Remedies: set dataset.source to 'local' (with dataset.local.path) or 'synthetic'; "
    "for weights set weights.source to 'path' (with weights.path) or 'random'; "
    "or fetch the inputs on a machine with internet in the same folder "
    "(`make fetch CONFIG=<your config>`, i.e. `snakemake fetch_inputs --configfile <your config>`), then rerun here."
)


class ChecksumError(UserError):
    """A downloaded or local file does not match its expected checksum."""


def _fetch_once(url: str, tmp: Path, algorithm: str, timeout_s: float) -> tuple[int, str]:
    digest = hashlib.new(algorithm)
    size = 0
    with requests.get(url, stream=True, timeout=timeout_s) as response:
        response.raise_for_status()
        expected_len = response.headers.get("Content-Length")
        with open(tmp, "wb") as handle:
            for block in response.iter_content(chunk_size=1 << 20):
                handle.write(block)
                digest.update(block)
                size += len(block)
        if expected_len is not None and int(expected_len) != size:
            raise requests.exceptions.ChunkedEncodingError(f"connection closed after {size} of {expected_len} bytes")
    return size, digest.hexdigest()


def download(
    url: str,
    dest: str | os.PathLike[str],
    *,
    checksum: str,
    algorithm: str = "sha256",
    expected_size: int | None = None,
    retries: int = 3,
    backoff_s: float = 1.0,
    timeout_s: float = 60.0,
    what: str = "file",
) -> Path:
    """Download ``url`` to ``dest``, verifying size and checksum before the rename.

    Transient failures (connection errors, truncated bodies, 5xx) are retried
    ``retries`` times with exponential backoff. A wrong checksum or size is not
    retried: it fails at once and leaves nothing at ``dest``.
    """
    dest = Path(dest)
    last_error: Exception | None = None
    for attempt in range(retries + 1):
        try:
            with atomic_path(dest) as tmp:
                size, digest = _fetch_once(url, tmp, algorithm, timeout_s)
                if expected_size is not None and size != expected_size:
                    raise ChecksumError(f"{what} from {url}: size {size} bytes, expected {expected_size}; not kept")
                if digest != checksum.lower():
                    raise ChecksumError(
                        f"{what} from {url}: {algorithm} {digest} does not match the expected "
                        f"{checksum}; the file is not kept"
                    )
            return dest
        except ChecksumError:
            raise
        except requests.exceptions.HTTPError as error:
            status = error.response.status_code if error.response is not None else 0
            if status and status < 500:
                raise UserError(f"{what}: HTTP {status} for {url}") from error
            last_error = error
        except (requests.exceptions.RequestException, OSError) as error:
            last_error = error
        if attempt < retries:
            wait = backoff_s * 2**attempt
            log_progress(
                "[download] %s: attempt %d failed (%s); retrying in %.1f s", what, attempt + 1, last_error, wait
            )
            time.sleep(wait)
    if isinstance(last_error, requests.exceptions.ConnectionError):
        raise UserError(
            f"cannot download {what} from {url}: no connection after {retries + 1} attempts "
            f"({type(last_error).__name__}). {OFFLINE_REMEDIES}"
        ) from last_error
    raise UserError(f"cannot download {what} from {url} after {retries + 1} attempts: {last_error}") from last_error
