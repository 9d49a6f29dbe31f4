"""What the CPU is: its model name and feature flags, as Linux reports them."""

from __future__ import annotations

import os
import platform
from pathlib import Path

#: x86 CPU flags (``/proc/cpuinfo``) of native bfloat16 arithmetic that oneDNN uses.
NATIVE_BF16_FLAGS: tuple[str, ...] = ("avx512_bf16", "amx_bf16")


def _cpuinfo_values(key: str, cpuinfo: str) -> list[str]:
    """The values of every ``key: value`` line of ``cpuinfo`` (none where there is no such file)."""
    try:
        lines = Path(cpuinfo).read_text().splitlines()
    except OSError:
        return []
    return [value.strip() for name, _, value in (line.partition(":") for line in lines) if name.strip() == key]


def cpu_flags(cpuinfo: str = "/proc/cpuinfo") -> set[str]:
    """The CPU's feature flags as Linux reports them (empty where there is no such file)."""
    return {flag for line in _cpuinfo_values("flags", cpuinfo) for flag in line.split()}


def native_bfloat16(flags: set[str] | None = None) -> list[str]:
    """The CPU's flags of native bfloat16 arithmetic (of ``flags``, or of this CPU), sorted."""
    return sorted((cpu_flags() if flags is None else flags) & set(NATIVE_BF16_FLAGS))


def cpu_model(cpuinfo: str = "/proc/cpuinfo") -> str:
    """The CPU's model name (``platform.processor()`` or the architecture where Linux gives none)."""
    models = _cpuinfo_values("model name", cpuinfo)
    return models[0] if models else platform.processor() or platform.machine()


def describe_machine() -> str:
    """One line: CPU model, core count and platform."""
    return f"{cpu_model()}, {os.cpu_count()} cores, {platform.platform()}"


def flop_per_cycle(flags: set[str]) -> dict[str, int | None]:
    """FLOP per cycle per core of each precision's widest native unit, two FMA ports assumed:
    float32 64 with AVX-512, 32 with AVX2 + FMA, 16 otherwise; bfloat16 1,024 with AMX (its tile
    unit), 128 with AVX512-BF16 (VDPBF16PS), None where bfloat16 is only emulated."""
    float32 = 64 if "avx512f" in flags else 32 if {"avx2", "fma"} <= flags else 16
    bfloat16 = 1024 if "amx_bf16" in flags else 128 if "avx512_bf16" in flags else None
    return {"float32": float32, "bfloat16": bfloat16}


def clock_ghz(cpuinfo: str = "/proc/cpuinfo") -> float:
    """The highest clock Linux reports for any core (``cpu MHz``), in GHz; NaN where it reports none.
    A core can briefly run faster (turbo) than a virtual machine reports."""
    values = [float(v) for v in _cpuinfo_values("cpu MHz", cpuinfo)]
    return max(values) / 1000 if values else float("nan")


def theoretical_peaks(flags: set[str], cores: int, ghz: float) -> dict[str, float]:
    """GFLOP/s each precision cannot exceed at ``ghz``: FLOP per cycle × clock × cores (NaN for
    bfloat16 where it is emulated)."""
    return {name: (rate or float("nan")) * ghz * cores for name, rate in flop_per_cycle(flags).items()}
