"""Sharding and interruption: the shared sharded run (2 feature shards, 3 network shards of the APS variant,
killed with SIGKILL during its feature stage and recovered) against the tiny run (one shard each)."""

import json

import pytest

from tests.workflow_runs import files_that_differ, sharded_config

pytestmark = pytest.mark.slow
VARIANTS = sharded_config()["invariance"]["network"]["variants"]


def test_shard_count_does_not_matter(sharded_run, tiny_run):
    """One feature shard and one network shard against 2 and 3: the same bytes in every file
    the shards are merged into (what follows reads only these, and is byte-identical on the same inputs:
    test_workflow.py's reruns)."""
    for variant in VARIANTS:
        assert len(list((tiny_run / f"results/tiny/network/{variant}/shards").glob("*.json"))) == 1
        assert len(list((sharded_run / f"results/tiny/network/{variant}/shards").glob("*.json"))) == 3
    assert len(list((sharded_run / "results/tiny/features/shards").glob("[0-9][0-9][0-9].parquet"))) == 2
    merged = [
        *(
            f"results/tiny/network/{variant}/{table}.parquet"
            for variant in VARIANTS
            for table in ("scores", "copies", "centre")
        ),
        "results/tiny/features/features.parquet",
        "results/tiny/features/maps.parquet",
        "results/tiny/dataset/manifest.parquet",
    ]
    assert files_that_differ(tiny_run, sharded_run, merged) == []


def test_kill_9_during_features_then_rerun_gives_the_same_results(sharded_run, tiny_run):
    """The sharded run was killed (SIGKILL to Snakemake and its jobs) while its feature job read
    images, then unlocked and run again: nothing half-written was taken as done."""
    assert json.loads((sharded_run / "killed-during-features.json").read_text()), "the kill came too late"
    features = ["results/tiny/features/features.parquet", "results/tiny/features/maps.parquet"]
    assert files_that_differ(tiny_run, sharded_run, features) == []
    leftovers = [p for p in (sharded_run / "results").rglob("*.part")]
    assert not leftovers
