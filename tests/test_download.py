"""Verified downloads and safe extraction against a server on 127.0.0.1."""

import hashlib
import io
import subprocess
import sys
import tarfile
from pathlib import Path

import pandas as pd
import pytest

from poolkit.dataset import safe_extract
from poolkit.download import ChecksumError, download
from poolkit.io import UserError
from tests.helpers import Route, make_layout, serve, zip_of
from tests.workflow_runs import run_workflow, tiny_config

ROOT = Path(__file__).resolve().parents[1]


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_good_download_is_verified_and_moved_into_place(tmp_path):
    body = b"x" * 100_000
    with serve({"/f": Route(body)}) as url:
        out = download(url + "/f", tmp_path / "f", checksum=sha(body), expected_size=len(body))
    assert out.read_bytes() == body
    assert [p.name for p in tmp_path.iterdir()] == ["f"]  # no temporary left behind


def test_wrong_checksum_fails_and_leaves_nothing(tmp_path):
    with serve({"/f": Route(b"payload")}) as url, pytest.raises(ChecksumError, match="does not match"):
        download(url + "/f", tmp_path / "f", checksum="0" * 64, retries=2, backoff_s=0)
    assert list(tmp_path.iterdir()) == []


def test_truncated_body_is_retried_then_fails_clearly(tmp_path):
    body = b"y" * 50_000
    route = Route(body, drop_first=100)
    with serve({"/f": route}) as url, pytest.raises(UserError, match="after 3 attempts"):
        download(url + "/f", tmp_path / "f", checksum=sha(body), retries=2, backoff_s=0.01)
    assert route.hits == 3
    assert list(tmp_path.iterdir()) == []


def test_dropped_connection_is_retried_then_succeeds(tmp_path):
    body = b"z" * 80_000
    route = Route(body, drop_first=2)
    with serve({"/f": route}) as url:
        out = download(url + "/f", tmp_path / "f", checksum=sha(body), retries=3, backoff_s=0.01)
    assert route.hits == 3 and out.read_bytes() == body


def test_client_error_is_not_retried(tmp_path):
    with serve({}) as url, pytest.raises(UserError, match="HTTP 404"):
        download(url + "/missing", tmp_path / "f", checksum="0" * 64, retries=3, backoff_s=0)


def test_no_connection_names_the_remedies(tmp_path):
    with pytest.raises(UserError) as info:
        download("http://127.0.0.1:9/f", tmp_path / "f", checksum="0" * 64, retries=1, backoff_s=0)
    assert "source to 'local'" in str(info.value) and "synthetic" in str(info.value)


def _tar_with(name: str, data: bytes = b"evil") -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as bundle:
        info = tarfile.TarInfo(name)
        info.size = len(data)
        bundle.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


@pytest.mark.parametrize("member", ["../escape.txt", "train/../../escape.txt", "/tmp/abs-escape.txt"])
def test_tar_with_unsafe_member_is_rejected_and_nothing_written(tmp_path, member):
    archive = tmp_path / "a.tar"
    archive.write_bytes(_tar_with(member))
    target = tmp_path / "out" / "deep"
    with pytest.raises(UserError, match="refusing"):
        safe_extract(archive, target)
    assert not (tmp_path / "escape.txt").exists() and not (tmp_path / "out" / "escape.txt").exists()
    assert not Path("/tmp/abs-escape.txt").exists()
    assert list(target.iterdir()) == []


def test_tar_link_leaving_target_is_rejected(tmp_path):
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as bundle:
        info = tarfile.TarInfo("train/link")
        info.type = tarfile.SYMTYPE
        info.linkname = "../../../etc/passwd"
        bundle.addfile(info)
    archive = tmp_path / "l.tar"
    archive.write_bytes(buffer.getvalue())
    with pytest.raises(UserError, match="leaves the target"):
        safe_extract(archive, tmp_path / "out")


@pytest.mark.parametrize("member", ["../escape.txt", "/abs.txt"])
def test_zip_with_unsafe_member_is_rejected(tmp_path, member):
    archive = tmp_path / "a.zip"
    archive.write_bytes(zip_of({member: b"evil"}, prefix=""))
    with pytest.raises(UserError, match="refusing"):
        safe_extract(archive, tmp_path / "out")
    assert not (tmp_path / "escape.txt").exists()


def run_stage(tmp_path: Path, script: str, *options: str) -> subprocess.CompletedProcess:
    """A stage script by hand, in ``tmp_path``."""
    command = [sys.executable, str(ROOT / "scripts" / script), *options]
    return subprocess.run(command, capture_output=True, text=True, cwd=tmp_path, check=False)


def run_download_dataset(tmp_path: Path, url: str, checksum: str) -> subprocess.CompletedProcess:
    """The url download into ``tmp_path/cache``, its receipt at ``tmp_path/receipt.json``."""
    options = ["--source", "url", "--url", url, "--sha256", checksum, "--retries", "1"]
    return run_stage(tmp_path, "download_dataset.py", *options, "--cache", "cache", "--out", "receipt.json")


@pytest.mark.slow
def test_url_source_through_the_workflow_builds_the_expected_manifest(tmp_path):
    files = make_layout(tmp_path / "src", per_class=2)
    body = zip_of(files)
    with serve({"/data.zip": Route(body)}) as url:
        config = tiny_config(dataset={"source": "url", "url": {"url": url + "/data.zip", "sha256": sha(body)}})
        run_workflow(tmp_path / "work", config, "--until", "build_manifest")
    manifest = pd.read_parquet(tmp_path / "work/results/tiny/dataset/manifest.parquet")
    assert sorted(manifest["image_id"]) == sorted(files)
    expected = {name: hashlib.sha256(data).hexdigest() for name, data in files.items()}
    assert dict(zip(manifest["image_id"], manifest["sha256"], strict=True)) == expected
    assert set(manifest.loc[manifest["class_name"] == "Truck", "label"]) == {1}
    assert not (tmp_path / "work/results/tiny/features").exists()  # --until stopped there


@pytest.mark.integration
def test_url_source_with_wrong_checksum_leaves_no_output(tmp_path):
    body = zip_of(make_layout(tmp_path / "src", per_class=1))
    with serve({"/data.zip": Route(body)}) as url:
        result = run_download_dataset(tmp_path, url + "/data.zip", "f" * 64)
    assert result.returncode == 1
    assert "ERROR:" in result.stderr and "does not match" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "receipt.json").exists()
    assert [p for p in (tmp_path / "cache").rglob("*") if p.is_file()] == []  # nothing kept, no temporaries


@pytest.mark.integration
@pytest.mark.parametrize("member", ["../outside.jpeg", "/tmp/poolkit-abs-outside.jpeg"])
def test_served_archive_with_unsafe_member_is_refused_by_the_dataset_stage(tmp_path, member):
    body = _tar_with(member, b"not really a jpeg")
    with serve({"/evil.tar": Route(body)}) as url:
        assert run_download_dataset(tmp_path, url + "/evil.tar", sha(body)).returncode == 0
    result = run_stage(
        tmp_path,
        "get_dataset.py",
        "--source",
        "url",
        "--receipt",
        "receipt.json",
        "--out",
        "images",
        "--not-read",
        "not_read.tsv",
    )
    assert result.returncode == 1 and "refusing" in result.stderr
    assert not (tmp_path / "outside.jpeg").exists() and not Path("/tmp/poolkit-abs-outside.jpeg").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cache", "receipt.json"]  # no images/, no temporaries
