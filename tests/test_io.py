"""Atomic writes: nothing half-written is ever left at the final path, and modes follow the umask."""

import os
import stat

import pandas as pd
import pytest

from poolkit.io import atomic_dir, atomic_path, write_tsv


@pytest.fixture
def umask_027():
    old = os.umask(0o027)
    yield
    os.umask(old)


def mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_finished_files_and_folders_get_the_usual_mode(tmp_path, umask_027):
    write_tsv(pd.DataFrame({"a": [1]}), tmp_path / "t.tsv")
    assert mode(tmp_path / "t.tsv") == 0o640  # not mkstemp's 0600: others in the group can read results
    with atomic_dir(tmp_path / "folder") as tmp:
        (tmp / "x").write_text("x")
    assert mode(tmp_path / "folder") == 0o750 and (tmp_path / "folder" / "x").read_text() == "x"


def test_a_failed_write_leaves_nothing(tmp_path):
    with pytest.raises(RuntimeError), atomic_path(tmp_path / "out.txt") as tmp:
        tmp.write_text("half")
        raise RuntimeError("killed mid-write")
    with pytest.raises(RuntimeError), atomic_dir(tmp_path / "outdir") as tmp:
        (tmp / "part").write_text("half")
        raise RuntimeError("killed mid-write")
    assert list(tmp_path.iterdir()) == []


def test_a_finished_write_replaces_the_old_file_whole(tmp_path):
    (tmp_path / "out.txt").write_text("old")
    with atomic_path(tmp_path / "out.txt") as tmp:
        tmp.write_text("new")
        assert (tmp_path / "out.txt").read_text() == "old"  # until the block ends
    assert (tmp_path / "out.txt").read_text() == "new" and len(list(tmp_path.iterdir())) == 1


@pytest.mark.parametrize("n_images", [0, 1, 37])
def test_maps_read_in_batches_are_the_maps_written(tmp_path, n_images):
    import numpy as np

    from poolkit.io import read_maps, write_maps

    maps = np.random.default_rng(n_images).random((n_images, 2, 3, 4)).astype(np.float32)
    meta = pd.DataFrame({"image_id": [f"i{k}" for k in range(n_images)], "label": np.arange(n_images) % 2})
    write_maps(meta, maps, tmp_path / "maps.parquet")
    for batch_rows in (1, 5, 100):
        read_meta, values = read_maps(tmp_path / "maps.parquet", batch_rows=batch_rows)
        assert read_meta.equals(meta) and values.dtype == np.float32
        assert np.array_equal(values, maps.reshape(n_images, 2 * 3 * 4))
