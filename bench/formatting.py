"""How the benchmarks print numbers, shared by the terminal tables (`gate bench`) and docs/performance.md."""

from __future__ import annotations

from typing import Any


def number(value: Any, unit: str = "", digits: int = 1) -> str:
    """Thousands separators, `digits` decimals for floats, "-" for a value not measured."""
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.{digits}f}{unit}"
    if isinstance(value, int):
        return f"{value:,}{unit}"
    return f"{value}{unit}"


def thousands(n: int) -> str:
    return f"{n / 1000:,.1f}k" if n >= 1000 else f"{n:,}"


def duration(seconds: float | None) -> str:
    """Seconds up to two minutes, minutes beyond."""
    if seconds is None:
        return "-"
    return f"{seconds / 60:.1f} min" if seconds >= 120 else f"{seconds:.0f} s"
