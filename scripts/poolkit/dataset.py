"""Dataset sources, safe archive extraction, layout checks and the image manifest."""

from __future__ import annotations

import hashlib
import os
import shutil
import tarfile
import zipfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import numpy as np
import pandas as pd
from PIL import Image, UnidentifiedImageError

from .download import OFFLINE_REMEDIES
from .io import UserError
from .synthetic import CLASSES, SPLITS

LABELS: dict[str, int] = {name: index for index, name in enumerate(CLASSES)}
KAGGLE_HANDLE = "ryanholbrook/car-or-truck"
MANIFEST_COLUMNS = [
    "image_id",
    "path",
    "split",
    "label",
    "class_name",
    "width",
    "height",
    "mode",
    "format",
    "bytes",
    "sha256",
]
SKIPPED_COLUMNS = ["image_id", "path", "split", "class_name", "reason"]
DUPLICATE_COLUMNS = ["sha256", "train_images", "valid_images"]


# --------------------------------------------------------------------------- layout
def find_dataset_root(folder: str | os.PathLike[str]) -> Path:
    """The folder holding ``train/`` and ``valid/``: ``folder`` or its single sub-folder.

    Archives often wrap the layout in one top-level folder; one level is searched.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise UserError(f"dataset folder {folder} does not exist or is not a folder")
    if any((folder / split).is_dir() for split in SPLITS):
        return folder
    children = [c for c in folder.iterdir() if c.is_dir() and not c.name.startswith(".")]
    if len(children) == 1 and any((children[0] / s).is_dir() for s in SPLITS):
        return children[0]
    return folder


def check_layout(root: str | os.PathLike[str]) -> None:
    """Require ``{train,valid}/{Car,Truck}/`` with at least one file in each class folder."""
    root = Path(root)
    for split in SPLITS:
        split_dir = root / split
        if not split_dir.is_dir():
            raise UserError(
                f"dataset at {root}: missing split folder '{split}/' "
                f"(expected layout {{{','.join(SPLITS)}}}/{{{','.join(CLASSES)}}}/*.jpeg)"
            )
        found = sorted(p.name for p in split_dir.iterdir() if p.is_dir() and not p.name.startswith("."))
        unexpected = sorted(set(found) - set(CLASSES))
        if unexpected:
            raise UserError(
                f"dataset at {root}: unexpected class folder(s) {unexpected} in '{split}/'; "
                f"allowed: {', '.join(CLASSES)}"
            )
        for label in CLASSES:
            class_dir = split_dir / label
            if not class_dir.is_dir():
                raise UserError(f"dataset at {root}: missing class folder '{split}/{label}/'")
            if not any(p.is_file() for p in class_dir.iterdir()):
                raise UserError(f"dataset at {root}: class folder '{split}/{label}/' is empty")


# --------------------------------------------------------------------------- archives
def _check_member(name: str, target: Path) -> None:
    path = PurePosixPath(name.replace("\\", "/"))
    if path.is_absolute() or name.startswith(("/", "\\")) or (len(name) > 1 and name[1] == ":"):
        raise UserError(f"archive member {name!r} has an absolute path; refusing to extract")
    if ".." in path.parts:
        raise UserError(f"archive member {name!r} leaves the target folder ('..'); refusing")
    resolved = (target / path).resolve()
    if not resolved.is_relative_to(target.resolve()):
        raise UserError(f"archive member {name!r} leaves the target folder; refusing")


def safe_extract(archive: str | os.PathLike[str], target: str | os.PathLike[str]) -> None:
    """Extract a zip or tar archive into ``target``, refusing unsafe members.

    Absolute paths, ``..`` components and links pointing outside ``target`` are
    rejected before anything is written.
    """
    archive, target = Path(archive), Path(target)
    target.mkdir(parents=True, exist_ok=True)
    if zipfile.is_zipfile(archive):
        with zipfile.ZipFile(archive) as bundle:
            for info in bundle.infolist():
                _check_member(info.filename, target)
                if (info.external_attr >> 16) & 0o170000 == 0o120000:
                    raise UserError(f"archive member {info.filename!r} is a link; refusing")
            bundle.extractall(target)
        return
    if tarfile.is_tarfile(archive):
        with tarfile.open(archive) as bundle:
            members = bundle.getmembers()
            for member in members:
                _check_member(member.name, target)
                if member.issym() or member.islnk():
                    link = PurePosixPath(member.linkname)
                    base = PurePosixPath(member.name).parent if member.issym() else PurePosixPath()
                    _check_member(str(base / link), target)
                if not (member.isfile() or member.isdir() or member.issym() or member.islnk()):
                    raise UserError(f"archive member {member.name!r} is a device or fifo; refusing")
            bundle.extractall(target, members=members, filter="data")
        return
    raise UserError(f"{archive} is neither a zip nor a tar archive")


# --------------------------------------------------------------------------- sources
def local_files(source: str | os.PathLike[str]) -> list[Path]:
    """The files :func:`materialise_local` takes from a Kaggle-layout folder, in order (split, class, name).

    The workflow makes them inputs of the dataset stage, so that an added, removed or
    changed image reruns it; class folders that are missing are left to :func:`check_layout`.
    """
    root = find_dataset_root(source)
    return [
        item
        for split in SPLITS
        for label in CLASSES
        if (root / split / label).is_dir()
        for item in sorted((root / split / label).iterdir())
        if item.is_file()
    ]


def materialise_local(source: str | os.PathLike[str], dest: Path, mode: str) -> pd.DataFrame:
    """Copy (``mode='copy'``) or symlink file by file (``'link'``) a Kaggle-layout folder; return the
    source's files it did not take, with the reason (the skipped table's columns)."""
    if mode not in ("copy", "link"):
        raise UserError(f"dataset.local.mode {mode!r}; allowed: copy, link")
    root = find_dataset_root(source)
    check_layout(root)
    for split in SPLITS:
        for label in CLASSES:
            (dest / split / label).mkdir(parents=True, exist_ok=True)
    taken = local_files(root)
    for item in taken:
        out = dest / item.relative_to(root)
        if mode == "copy":
            shutil.copy2(item, out)
        else:
            os.symlink(item.resolve(), out)
    return not_taken(root, taken)


def not_taken(root: Path, taken: list[Path]) -> pd.DataFrame:
    """The files below ``root`` that are not read, each with the reason (the skipped table's columns)."""
    chosen = set(taken)
    rows = []
    for path in sorted(p for p in root.rglob("*") if p.is_file() and p not in chosen):
        parts = path.relative_to(root).parts
        in_class = len(parts) > 3 and parts[0] in SPLITS and parts[1] in CLASSES
        reason = (
            "in a subfolder of a class folder: only files directly in {train,valid}/{Car,Truck}/ are read"
            if in_class
            else "not in a {train,valid}/{Car,Truck}/ folder: not read"
        )
        split, label = (parts[0], parts[1]) if in_class else ("", "")
        rows.append(["/".join(parts), str(path), split, label, reason])
    return pd.DataFrame(rows, columns=SKIPPED_COLUMNS)


#: Where Kaggle credentials come from (kagglehub 1.0.3 reads them in this order), for error messages.
KAGGLE_CREDENTIALS_HELP = (
    "create an API token on your Kaggle account's settings page (kaggle.com > Settings, section API: "
    "create a new token) and set KAGGLE_API_TOKEN to it or save it as ~/.kaggle/access_token; "
    "the legacy forms KAGGLE_USERNAME + KAGGLE_KEY or ~/.kaggle/kaggle.json work too"
)


def kaggle_error(handle: str, error: OSError) -> UserError:
    """One clear message for a failed Kaggle download: no network, rejected credentials
    (HTTP 401/403), unknown dataset (404), or another failure, each with its remedy."""
    import requests

    response = getattr(error, "response", None)
    status = response.status_code if response is not None else None
    if isinstance(error, requests.exceptions.ConnectionError):
        return UserError(
            f"cannot download Kaggle dataset {handle!r}: no connection to Kaggle ({type(error).__name__}; "
            f"no internet?). {OFFLINE_REMEDIES}"
        )
    if status in (401, 403):
        return UserError(
            f"Kaggle refused the download of {handle!r} (HTTP {status}): credentials missing, rejected or "
            f"expired, or the dataset needs its terms accepted on kaggle.com. Remedy: {KAGGLE_CREDENTIALS_HELP}"
        )
    if status == 404:
        return UserError(
            f"Kaggle has no dataset {handle!r} (HTTP 404). Remedy: set dataset.kaggle.handle to "
            f"'owner/dataset' as in the dataset's address (this workflow's data: {KAGGLE_HANDLE!r})"
        )
    first_line = next(iter(str(error).splitlines()), "")
    what = f"HTTP {status}" if status is not None else type(error).__name__
    return UserError(
        f"cannot download Kaggle dataset {handle!r}: {what} ({first_line}). Rerun later; if it persists, "
        "download the dataset elsewhere and set dataset.source: local"
    )


def kaggle_download(handle: str = KAGGLE_HANDLE) -> Path:
    """Download a Kaggle dataset with ``kagglehub`` and return its local folder.

    Credentials, when needed, come from ``KAGGLE_API_TOKEN`` or ``~/.kaggle/access_token``
    (kagglehub reads these first), else ``KAGGLE_USERNAME``/``KAGGLE_KEY`` or
    ``~/.kaggle/kaggle.json``; the cache folder from ``KAGGLEHUB_CACHE``.
    """
    import kagglehub

    try:
        return Path(kagglehub.dataset_download(handle))
    except OSError as error:  # requests' exceptions, kagglehub's HTTP errors included, are OSErrors
        raise kaggle_error(handle, error) from error


# --------------------------------------------------------------------------- manifest
@dataclass(frozen=True)
class ImageCheck:
    """The outcome of decoding one file."""

    ok: bool
    reason: str = ""
    width: int = 0
    height: int = 0
    mode: str = ""
    format: str = ""


def check_image(path: Path) -> ImageCheck:
    """Decode ``path`` fully; report why it is unusable, or its size and colour mode."""
    if path.stat().st_size == 0:
        return ImageCheck(False, "empty file (0 bytes)")
    try:
        with Image.open(path) as image:
            image.load()
            image.convert("RGB")
            return ImageCheck(True, "", image.width, image.height, image.mode, image.format or "")
    except UnidentifiedImageError:
        return ImageCheck(False, "not an image (format not recognised)")
    except Image.DecompressionBombError as error:
        return ImageCheck(False, f"image too large to decode safely ({error})")
    except (OSError, SyntaxError, ValueError) as error:
        return ImageCheck(False, f"corrupt or truncated image ({error})")


def build_manifest(
    root: str | os.PathLike[str], bad_images: str = "fail", not_read: pd.DataFrame | None = None
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Decode every file once; return the manifest and the table of skipped files.

    ``bad_images='fail'`` raises on the first unusable file (in sorted order),
    naming it; ``'skip'`` lists it with the reason in the second table.
    """
    if bad_images not in ("fail", "skip"):
        raise UserError(f"dataset.bad_images {bad_images!r}; allowed: fail, skip")
    root = Path(root)
    check_layout(root)
    rows, skipped = [], []
    for split in SPLITS:
        for label in CLASSES:
            for path in sorted((root / split / label).iterdir()):
                if not path.is_file():
                    continue
                image_id = f"{split}/{label}/{path.name}"
                result = check_image(path)
                if not result.ok:
                    if bad_images == "fail":
                        raise UserError(
                            f"bad image {path}: {result.reason}. Fix or remove it, or set "
                            "dataset.bad_images: skip to skip and report such files"
                        )
                    skipped.append([image_id, str(path), split, label, result.reason])
                    continue
                data = path.read_bytes()
                rows.append(
                    [
                        image_id,
                        str(path),
                        split,
                        LABELS[label],
                        label,
                        result.width,
                        result.height,
                        result.mode,
                        result.format,
                        len(data),
                        hashlib.sha256(data).hexdigest(),
                    ]
                )
    if not_read is not None:  # the source's files the dataset stage did not take
        skipped += not_read[SKIPPED_COLUMNS].values.tolist()
    manifest = pd.DataFrame(rows, columns=MANIFEST_COLUMNS)
    for column in ("label", "width", "height", "bytes"):
        manifest[column] = manifest[column].astype("int64")
    for split in SPLITS:
        for label in CLASSES:
            if not ((manifest["split"] == split) & (manifest["class_name"] == label)).any():
                raise UserError(f"no usable image left in '{split}/{label}/' after skipping bad files")
    return manifest, pd.DataFrame(skipped, columns=SKIPPED_COLUMNS)


def split_duplicates(manifest: pd.DataFrame) -> pd.DataFrame:
    """Contents (by sha256) found in both splits: one row each, the training and validation image ids
    holding it (``;``-joined). A validation image that is also a training image measures memory, not
    generalisation."""
    ids = {split: manifest[manifest["split"] == split].groupby("sha256")["image_id"].agg(";".join) for split in SPLITS}
    shared = ids["train"].index.intersection(ids["valid"].index)
    return pd.DataFrame(
        {
            "sha256": shared,
            "train_images": ids["train"].reindex(shared).to_numpy(),
            "valid_images": ids["valid"].reindex(shared).to_numpy(),
        },
        columns=DUPLICATE_COLUMNS,
    )


def sample_split(manifest: pd.DataFrame, split: str, n: int, seed: int) -> pd.DataFrame:
    """Up to ``n`` rows of one split, drawn without replacement with ``seed``, in manifest order."""
    rows = manifest[manifest["split"] == split].reset_index(drop=True)
    pick = np.sort(np.random.default_rng(seed).choice(len(rows), size=min(n, len(rows)), replace=False))
    return rows.loc[pick].reset_index(drop=True)


def load_rgb(path: str | os.PathLike[str], size: int, resize: str) -> Image.Image:
    """Open an image as RGB (grey, RGBA, palette and CMYK converted) resized to size×size."""
    methods = {"nearest": Image.Resampling.NEAREST, "bilinear": Image.Resampling.BILINEAR}
    if resize not in methods:
        raise UserError(f"features.resize {resize!r}; allowed: {', '.join(methods)}")
    with Image.open(path) as image:
        rgb = image.convert("RGB")
    return rgb.resize((size, size), methods[resize])


def load_rgb_rows(paths: Sequence[str], size: int, resize: str, needed: Iterable[int]) -> np.ndarray:
    """The images of ``paths`` as one uint8 RGB stack, ``size`` px square; only the rows ``needed`` are
    read (the others stay zero)."""
    images = np.zeros((len(paths), size, size, 3), dtype=np.uint8)
    for i in needed:
        images[i] = np.asarray(load_rgb(paths[i], size, resize))
    return images


def example_images(
    manifest: pd.DataFrame, per_class: int, seed: int, size: int, resize: str
) -> dict[str, list[np.ndarray]]:
    """Up to ``per_class`` validation images of each class (classes in label order; :func:`sample_split`
    with ``seed``), loaded as the model sees them: class name → RGB arrays."""
    labels = manifest.groupby("class_name", sort=False)["label"].first()
    classes = sorted(manifest["class_name"].unique(), key=lambda name: labels[name])
    return {
        name: [
            np.asarray(load_rgb(path, size, resize))
            for path in sample_split(manifest[manifest["class_name"] == name], "valid", per_class, seed)["path"]
        ]
        for name in classes
    }
