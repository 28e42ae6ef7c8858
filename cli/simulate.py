"""`gate simulate`: a scripted scale-in with a live table and a verdict (exit 1 if any build was killed)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import typer
from rich.live import Live
from rich.table import Table

from cli.common import console, fail
from gate import logs
from gate.emulator.scenario import BuildSpec, Run, ScaleSpec, Scenario, ScenarioError, load_scenario


def _table(run: Run) -> Table:
    sim = run.elapsed()
    table = Table(title=f"gate simulate - {'with' if run.with_gate else 'WITHOUT'} the gate, t={sim:.0f}s")
    for col in (
        "instance",
        "lifecycle state",
        "protected",
        "agent",
        "busy/idle",
        "held s",
        "heartbeats",
        "outcome",
        "reason",
    ):
        table.add_column(col, overflow="fold")
    for r in run.rows():
        held = f"{r['held_seconds']:.0f}" if r["held_seconds"] is not None else "-"
        table.add_row(
            r["instance"],
            r["state"],
            "yes" if r["protected"] else "no",
            r["agent"],
            r["agent_state"],
            held,
            str(r["heartbeats"]),
            r["outcome"],
            r["reason"][:60],
        )
    return table


def run_simulation(
    *,
    instances: int,
    busy: int,
    build_minutes: float,
    scale_to: int,
    scale_at: float,
    scenario: Path | None,
    speed: float,
    gate: bool,
    aws_endpoint: str | None,
    azure_url: str | None,
    live: bool,
    json_out: bool,
    log_file: Path | None = None,
) -> None:
    if scenario is not None:
        try:
            sc = load_scenario(scenario)
        except ScenarioError as exc:
            fail(str(exc))
    else:
        if busy > instances:
            fail(f"--busy {busy} is more than --instances {instances}")
        if scale_to > instances:
            fail(f"--scale-to {scale_to} is not a scale-in from {instances} instances")
        sc = Scenario(
            instances=instances,
            builds=[BuildSpec(instance=i, start=0, duration=build_minutes * 60) for i in range(busy)],
            scale=[ScaleSpec(at=scale_at, desired=scale_to)],
        )
    try:
        log_stream = open(log_file or os.devnull, "w")  # noqa: SIM115 - closed below
    except OSError as exc:
        fail(f"cannot write {log_file}: {exc.strerror}")
    logs.configure(stream=log_stream)
    run = Run(sc, speed=speed, gate=gate, aws_endpoint=aws_endpoint, azure_url=azure_url)
    show = live and not json_out and console.is_terminal
    try:
        if show:
            with Live(console=console, refresh_per_second=4) as view:
                result = run.run(on_step=lambda r: view.update(_table(r)))
        else:
            result = run.run()
    except Exception as exc:
        fail(f"simulation failed: {type(exc).__name__}: {exc}", code=1)
    finally:
        log_stream.close()
    if json_out:
        console.print_json(
            json.dumps(result.model_dump() | {"p50": result.percentile(50), "p95": result.percentile(95)})
        )
    else:
        if not show:
            console.print(_table(run))
        p50, p95 = result.percentile(50), result.percentile(95)
        lat = f"{p50:.1f}s / {p95:.1f}s" if p50 is not None and p95 is not None else "n/a"
        console.print(
            f"released {result.released}  held {result.held}  forced {result.forced}  gone {result.gone}  "
            f"errors {result.errors}  hooks timed out {result.hooks_timed_out}  heartbeats {result.heartbeats}\n"
            f"builds {result.builds}  [bold]builds killed {result.builds_killed}[/] (must be 0)  "
            f"release latency p50/p95 {lat}  simulated {result.simulated_seconds:.0f}s in {result.wall_seconds:.1f}s",
            highlight=False,
        )
    if result.builds_killed:
        raise typer.Exit(1)
