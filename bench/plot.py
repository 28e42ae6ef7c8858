"""The fleet simulation's picture: capacity and holds over the day, one panel per strategy, same axes.

matplotlib comes with the `bench` extra, imported here only when a plot is drawn.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from bench.fleet import StrategyResult


def _duration(seconds: float) -> str:
    return f"{seconds / 60:.0f} min" if seconds >= 120 else f"{seconds:.0f} s"


def plot_fleet(results: Mapping[str, StrategyResult], path: Path, title: str = "") -> Path:
    import matplotlib

    matplotlib.use("Agg")  # files only: no display needed (CI, SSH)
    import matplotlib.pyplot as plt

    names = list(results)
    fig, axes = plt.subplots(len(names), 1, figsize=(11, 2.9 * len(names)), sharex=True, sharey=True, squeeze=False)
    top = max((max(r.series["alive"], default=0) for r in results.values()), default=1)
    for ax, name in zip(axes[:, 0], names, strict=True):
        r = results[name]
        s = r.series
        t = s["t_h"]
        ax.plot(t, s["desired"], color="0.45", linestyle="--", linewidth=1, label="desired capacity")
        ax.plot(t, s["alive"], color="tab:blue", linewidth=1.4, label="instances alive")
        ax.plot(t, s["busy"], color="tab:green", linewidth=1, label="builds running")
        ax.fill_between(t, 0, s["held"], color="tab:orange", alpha=0.55, step="post", label="held (Terminating:Wait)")
        if "protect" in name:
            ax.plot(t, s["protected"], color="tab:purple", linewidth=0.8, alpha=0.8, label="protected")
        if r.kill_times_h:
            ax.plot(
                r.kill_times_h,
                [top * 0.04] * len(r.kill_times_h),
                linestyle="none",
                marker="x",
                color="tab:red",
                markersize=5,
                label="build killed",
            )
        hold = f", hold p95 {_duration(r.hold_p95_s)}" if r.hold_p95_s is not None else ""
        ax.set_title(
            f"{name}: {r.builds_killed} builds killed, {r.instance_hours:.0f} instance-h{hold}", loc="left", fontsize=10
        )
        ax.set_ylabel("instances / builds")
        ax.grid(alpha=0.3)
        ax.legend(loc="upper left", fontsize=7, ncol=3)
    axes[-1, 0].set_xlabel("hour of the simulated day")
    if title:
        fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_faults(matrix: Mapping[str, Any], path: Path, title: str = "") -> Path:
    """Builds killed per strategy (rows) and fault (columns), hooks timed out in brackets: the fault bench at a
    glance. Red where builds died, green where none did."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    scenarios = [s["name"] for s in matrix["scenarios"]]
    strategies = list(matrix["strategies"])
    killed = [[matrix["cells"][f][s]["builds_killed"] for f in scenarios] for s in strategies]
    fig, ax = plt.subplots(figsize=(1.25 * len(scenarios) + 1.8, 0.55 * len(strategies) + 1.4))
    top = max((max(row) for row in killed), default=1) or 1
    shade = [[min(1.0, (k / top) ** 0.4) for k in row] for row in killed]
    ax.imshow(shade, cmap="RdYlGn_r", vmin=0, vmax=1, aspect="auto")
    for i, s in enumerate(strategies):
        for j, f in enumerate(scenarios):
            cell = matrix["cells"][f][s]
            label = f"{cell['builds_killed']}"
            if cell["hooks_timed_out"]:
                label += f"\n{cell['hooks_timed_out']} timed out"
            dark = shade[i][j] < 0.2 or shade[i][j] > 0.8  # the ends of the colour map are dark
            ax.text(j, i, label, ha="center", va="center", fontsize=8, color="white" if dark else "black")
    ax.set_xticks(range(len(scenarios)), scenarios, rotation=20, ha="right", fontsize=9)
    ax.set_yticks(range(len(strategies)), strategies, fontsize=9)
    ax.set_title(f"Builds killed under each fault{': ' + title if title else ''}", fontsize=10, loc="left")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
