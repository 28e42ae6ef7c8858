"""The fleet simulation's picture: capacity and holds over the day, one panel per strategy, same axes.

matplotlib comes with the `bench` extra, imported here only when a plot is drawn.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from bench.fleet import StrategyResult


def _duration(seconds: float) -> str:
    return f"{seconds / 60:.0f} min" if seconds >= 120 else f"{seconds:.0f} s"


def plot_fleet(results: Mapping[str, StrategyResult], path: Path, title: str = "") -> Path:
    """One panel per strategy, same axes. The legend is drawn once, above the panels, and every panel has headroom
    above its highest curve for its title: nothing written sits on the data."""
    import matplotlib

    matplotlib.use("Agg")  # files only: no display needed (CI, SSH)
    import matplotlib.pyplot as plt

    names = list(results)
    fig, axes = plt.subplots(
        len(names), 1, figsize=(11, 2.6 * len(names) + 1.0), sharex=True, sharey=True, squeeze=False
    )
    top = max((max(r.series["alive"], default=0) for r in results.values()), default=1) or 1
    legend: dict[str, Any] = {}
    for ax, name in zip(axes[:, 0], names, strict=True):
        r = results[name]
        s = r.series
        t = s["t_h"]
        ax.plot(t, s["desired"], color="0.45", linestyle="--", linewidth=1, label="desired capacity")
        ax.plot(t, s["alive"], color="tab:blue", linewidth=1.4, label="instances alive")
        ax.plot(t, s["busy"], color="tab:green", linewidth=1, label="builds running")
        ax.fill_between(t, 0, s["held"], color="tab:orange", alpha=0.55, step="post", label="held (Terminating:Wait)")
        if "protect" in name:
            # dotted: it follows "builds running" closely, which must stay visible under it
            ax.plot(t, s["protected"], color="tab:purple", linewidth=1, linestyle=":", label="protected from scale-in")
        if r.kill_times_h:
            ax.plot(
                r.kill_times_h,
                [-top * 0.06] * len(r.kill_times_h),
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
        ax.set_ylim(-top * 0.12, top * 1.08)  # below 0: the row of kill marks; above the top: clear of the title
        ax.grid(alpha=0.3)
        for handle, label in zip(*ax.get_legend_handles_labels(), strict=True):
            legend.setdefault(label, handle)
    axes[-1, 0].set_xlabel("hour of the simulated day")
    fig.legend(
        list(legend.values()),
        list(legend),
        loc="upper center",
        bbox_to_anchor=(0.5, 1 - 0.45 / fig.get_figheight()),
        ncol=len(legend),
        fontsize=8,
        frameon=False,
    )
    if title:
        fig.suptitle(title, fontsize=11, y=1 - 0.12 / fig.get_figheight(), va="top")
    fig.tight_layout(rect=(0, 0, 1, 1 - 0.75 / fig.get_figheight()))
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


# The fault matrix's colours: green means no build was killed, and nothing else is green. Any build killed is on a
# yellow-to-red scale (log, so 1 and 300 both read), starting at a clear yellow: never a pale green.
NONE_KILLED = "#1a9850"
KILLED_CMAP = "YlOrRd"
KILLED_FROM = 0.3  # where on the map one killed build starts (below it the map is near white)


def killed_colour(killed: int, top: int) -> tuple[float, float, float, float]:
    """The cell colour for `killed` builds when the worst cell has `top`: green only for none."""
    import math

    from matplotlib import colormaps
    from matplotlib.colors import to_rgba

    if killed <= 0:
        return to_rgba(NONE_KILLED)
    share = math.log(killed) / math.log(top) if top > 1 else 1.0
    colour: tuple[float, float, float, float] = colormaps[KILLED_CMAP](KILLED_FROM + (1 - KILLED_FROM) * share)
    return colour


def _dark(rgba: Sequence[float]) -> bool:
    r, g, b = rgba[:3]
    return 0.299 * r + 0.587 * g + 0.114 * b < 0.5


def plot_faults(matrix: Mapping[str, Any], path: Path, title: str = "") -> Path:
    """Builds killed per strategy (rows) and fault (columns), hooks timed out below: the fault bench at a glance.
    Green where no build died and only there; yellow to dark red for 1 to the worst cell (log scale, colour bar)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.cm import ScalarMappable
    from matplotlib.colors import LinearSegmentedColormap, LogNorm
    from matplotlib.patches import Patch

    scenarios = [s["name"] for s in matrix["scenarios"]]
    strategies = list(matrix["strategies"])
    killed = [[int(matrix["cells"][f][s]["builds_killed"]) for f in scenarios] for s in strategies]
    top = max((max(row) for row in killed), default=1) or 1
    colours = [[killed_colour(k, top) for k in row] for row in killed]
    fig, ax = plt.subplots(figsize=(1.25 * len(scenarios) + 3.2, 0.55 * len(strategies) + 1.9))
    ax.imshow(colours, aspect="auto")
    for i, s in enumerate(strategies):
        for j, f in enumerate(scenarios):
            cell = matrix["cells"][f][s]
            label = f"{cell['builds_killed']}"
            if cell["hooks_timed_out"]:
                label += f"\n{cell['hooks_timed_out']} timed out"
            colour = "white" if _dark(colours[i][j]) else "black"
            ax.text(j, i, label, ha="center", va="center", fontsize=8, color=colour)
    ax.set_xticks(range(len(scenarios)), scenarios, rotation=20, ha="right", fontsize=9)
    ax.set_yticks(range(len(strategies)), strategies, fontsize=9)
    ax.set_title(f"Builds killed under each fault{': ' + title if title else ''}", fontsize=10, loc="left", pad=10)
    if top > 1:  # the scale the killed cells are drawn on, beside the matrix
        from matplotlib import colormaps

        base = colormaps[KILLED_CMAP]
        scale = LinearSegmentedColormap.from_list(
            "killed", [base(KILLED_FROM + (1 - KILLED_FROM) * x / 255) for x in range(256)]
        )
        bar = fig.colorbar(ScalarMappable(LogNorm(1, top), scale), ax=ax, fraction=0.04, pad=0.02)
        bar.set_label("builds killed (1 and more)", fontsize=8)
        ticks = [v for v in (1, 3, 10, 30, 100, 300, 1000, 3000) if v <= top]
        bar.set_ticks(ticks, labels=[str(v) for v in ticks])
        bar.minorticks_off()
        bar.ax.tick_params(labelsize=8)
    ax.legend(
        handles=[Patch(color=NONE_KILLED, label="no build killed")],
        loc="upper left",
        bbox_to_anchor=(1.0, -0.08),
        fontsize=8,
        frameon=False,
        handlelength=1.2,
    )
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
