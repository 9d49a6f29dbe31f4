"""What the CPU is: its model name and feature flags, as Linux reports them."""

from __future__ import annotations

import os
import platform
from pathlib import Path

#: x86 CPU flags (``/proc/cpuinfo``) of native bfloat16 arithmetic that oneDNN uses.
NATIVE_BF16_FLAGS: tuple[str, ...] = ("avx512_bf16", "amx_bf16")


def cpu_flags(cpuinfo: str = "/proc/cpuinfo") -> set[str]:
    """The CPU's feature flags as Linux reports them (empty where there is no such file)."""
    try:
        text = Path(cpuinfo).read_text()
    except OSError:
        return set()
    flags: set[str] = set()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "flags":
            flags.update(value.split())
    return flags


def native_bfloat16(flags: set[str] | None = None) -> list[str]:
    """The CPU's flags of native bfloat16 arithmetic (of ``flags``, or of this CPU), sorted."""
    return sorted((cpu_flags() if flags is None else flags) & set(NATIVE_BF16_FLAGS))


def cpu_model(cpuinfo: str = "/proc/cpuinfo") -> str:
    """The CPU's model name (``platform.processor()`` or the architecture where Linux gives none)."""
    try:
        for line in Path(cpuinfo).read_text().splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "model name":
                return value.strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def describe_machine() -> str:
    """One line: CPU model, core count and platform."""
    return f"{cpu_model()}, {os.cpu_count()} cores, {platform.platform()}"
