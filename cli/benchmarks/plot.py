"""The fleet simulation's picture: capacity and holds over the day, one panel per strategy, same axes.

matplotlib is a development dependency, imported here only when a plot is drawn.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from cli.benchmarks.fleet import StrategyResult


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
