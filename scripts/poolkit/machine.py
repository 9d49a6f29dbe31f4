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
