"""Progress lines: shown on the terminal of a Snakemake job as well as in its log (see
:func:`poolkit.cli.configure_logging`); for long stages, items done, rate and time left."""

from __future__ import annotations

import logging
import time
from typing import Any

log = logging.getLogger("poolkit")


def log_progress(message: str, *args: Any) -> None:
    """Log a progress line (shown on the terminal of a Snakemake job as well)."""
    log.info(message, *args, extra={"progress": True})


class Progress:
    """Log ``done/total, rate, ETA`` progress lines at most every ``interval_s``."""

    def __init__(self, total: int, label: str, unit: str = "images", interval_s: float = 5.0):
        self.total = total
        self.label = label
        self.unit = unit
        self.interval_s = interval_s
        self.done = 0
        self.start = time.perf_counter()
        self._last = -float("inf")

    def update(self, n: int) -> None:
        """Record ``n`` more items done; print a line when due or when finished."""
        self.done += n
        now = time.perf_counter()
        if now - self._last >= self.interval_s or self.done >= self.total:
            self._last = now
            elapsed = now - self.start
            rate = self.done / elapsed if elapsed > 0 else 0.0
            left = (self.total - self.done) / rate if rate > 0 else float("nan")
            line = (
                f"[{self.label}] {self.done}/{self.total} {self.unit} "
                f"({100 * self.done / max(self.total, 1):.0f}%), {rate:.1f} {self.unit}/s, "
                f"elapsed {elapsed:.0f} s, ~{left:.0f} s left"
            )
            log_progress("%s", line)

    @property
    def rate(self) -> float:
        """Items per second so far."""
        elapsed = time.perf_counter() - self.start
        return self.done / elapsed if elapsed > 0 else 0.0
