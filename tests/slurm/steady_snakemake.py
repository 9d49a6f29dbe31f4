"""``python -m snakemake`` for the test cluster, with the SLURM plugin's status checks every few seconds.

The plugin (snakemake-executor-plugin-slurm 2.x) waits 10 s longer before each status check in which
no job finished, up to 180 s, and no setting changes that: on the test cluster, where a job takes
seconds, most of a run was spent waiting for the next check (the whole tiny DAG on 2 cores: 282 s,
195 s with this runner). This runner keeps the interval at ``STEADY_SECONDS``; everything
else (sbatch, the job's resources, sacct's states, the jobs' logs) is the plugin's own.
"""

from __future__ import annotations

import sys

from snakemake.cli import main
from snakemake_executor_plugin_slurm import Executor

STEADY_SECONDS = 2


def _steady(_executor: Executor) -> int:
    return STEADY_SECONDS


def _ignore_backoff(_executor: Executor, _seconds: float) -> None:
    """The plugin's longer wait after a check in which no job finished: not taken."""


Executor.next_seconds_between_status_checks = property(_steady, _ignore_backoff)

if __name__ == "__main__":
    sys.exit(main())
