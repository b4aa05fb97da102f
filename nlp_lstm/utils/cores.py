"""The CPU cores this process may use, and what they can compute."""

from __future__ import annotations

import os
import warnings

# /proc/cpuinfo flags of x86 instructions that compute bfloat16 products.
BFLOAT16_FLAGS = ("avx512_bf16", "amx_bf16")


def usable_cores() -> int:
    """CPU cores this process may run on (its affinity mask, where known)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def cpu_flags(path: str = "/proc/cpuinfo") -> set[str] | None:
    """The first CPU's feature flags, or None where the file does not say
    (not Linux, or not x86)."""
    try:
        with open(path, encoding="utf-8") as stream:
            for line in stream:
                if line.startswith("flags"):
                    return set(line.split(":", 1)[1].split())
    except OSError:
        return None
    return None


def has_bfloat16_instructions(path: str = "/proc/cpuinfo") -> bool | None:
    """Whether the CPU multiplies bfloat16 in hardware (None: unknown)."""
    flags = cpu_flags(path)
    return None if flags is None else bool(flags.intersection(BFLOAT16_FLAGS))


def warn_if_bfloat16_is_emulated(setting: str, fix: str, stacklevel: int = 2) -> None:
    """Warns (`RuntimeWarning`) that `setting` asks for bfloat16 products on a
    CPU without bfloat16 instructions, where TensorFlow emulates them, slower
    than float32 (a bfloat16 search ran at 0.83x / 0.87x float32's speed on a
    Zen 3 machine; README, "Third sitting"); `fix` says what to do instead.
    Silent where the CPU is unknown."""
    if has_bfloat16_instructions() is False:
        warnings.warn(
            f"{setting} is bfloat16 but this CPU has no bfloat16 instructions "
            f"({' or '.join(BFLOAT16_FLAGS)}): TensorFlow emulates them, which is "
            f"slower than float32. {fix}",
            RuntimeWarning,
            stacklevel=stacklevel + 1,
        )
