"""The benchmark pictures: a killed build is never drawn green, and nothing written sits on the data."""

from __future__ import annotations

import colorsys
from pathlib import Path

import pytest

pytest.importorskip("matplotlib")

from bench.plot import NONE_KILLED, killed_colour, plot_faults


def _hue_degrees(rgba: tuple[float, float, float, float]) -> float:
    h, _, _ = colorsys.rgb_to_hls(*rgba[:3])
    return h * 360


def test_only_zero_is_green_and_more_killed_is_never_lighter() -> None:
    """Green hues lie roughly between 75 and 165 degrees; every killed count sits on yellow to dark red (hue 330 to
    360 and 0 to 55 degrees)."""
    assert 75 <= _hue_degrees(killed_colour(0, 300)) <= 165
    for top in (1, 2, 14, 72, 300, 5000):
        previous = None
        for killed in sorted({1, 2, 3, top // 3 or 1, top // 2 or 1, top}):
            colour = killed_colour(killed, top)
            hue = _hue_degrees(colour)
            assert hue <= 55 or hue >= 330, (killed, top, colour)
            lightness = colorsys.rgb_to_hls(*colour[:3])[1]
            if previous is not None:
                assert lightness <= previous + 1e-9, (killed, top)  # darker (or as dark) as more builds die
            previous = lightness


def test_the_fault_picture_draws_every_cell_and_its_scale(tmp_path: Path) -> None:
    from matplotlib.colors import to_rgba

    strategies = {"none": 300, "protection": 31, "gate": 0}
    matrix = {
        "scenarios": [{"name": "fair weather"}, {"name": "lost events"}],
        "strategies": list(strategies),
        "cells": {
            f: {s: {"builds_killed": k, "hooks_timed_out": 1 if k == 31 else 0} for s, k in strategies.items()}
            for f in ("fair weather", "lost events")
        },
    }
    out = plot_faults(matrix, tmp_path / "faults.png", "test")
    assert out.stat().st_size > 0
    assert to_rgba(NONE_KILLED) == killed_colour(0, 300)
