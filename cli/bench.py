"""`gate bench`: measure, print tables, write bench-results/{fleet.json, fleet.png, real-path.json}.

Numbers come from running things (a simulated day, the real handler over HTTP, a real package build), never
from timed unit tests. `--quick` runs smaller versions of the same benchmarks as a CI smoke test.
"""

from __future__ import annotations

import json
import os
import platform
import time
from collections.abc import Callable, Collection, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich import box
from rich.console import Console
from rich.table import Table

from bench.formatting import duration as _minutes
from bench.formatting import number as _fmt
from bench.formatting import thousands as _k
from cli.common import console as _terminal
from cli.common import err_console

if TYPE_CHECKING:
    from bench.fleet import FleetConfig

# Tables are wide: in a terminal rich wraps them to fit; in a CI log (no terminal) print them whole.
console = _terminal if _terminal.is_terminal else Console(width=160)

PARTS = ("fleet", "faults", "scale", "liveness", "hook", "release", "tick", "package")


def _write(path: Path, doc: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc, indent=2, sort_keys=False) + "\n")


def _timed(name: str, fn: Callable[[], dict[str, Any]], errors: list[str]) -> dict[str, Any]:
    """Run one benchmark; a failure is recorded in the results (and fails the command) instead of hiding the rest."""
    console.print(f"[dim]running {name}...[/]")
    start = time.perf_counter()
    try:
        result = fn()
    except Exception as exc:
        errors.append(f"{name}: {type(exc).__name__}: {exc}")
        return {"error": f"{type(exc).__name__}: {exc}"}
    if "error" in result:
        errors.append(f"{name}: {result['error']}")
    result.setdefault("wall_seconds", round(time.perf_counter() - start, 1))
    return result


def _table(title: str, columns: Sequence[str], left: Collection[str] = (), no_wrap: Collection[str] = ()) -> Table:
    """One results table: the title on the left, a simple head; names (`left`) left-justified, numbers right."""
    table = Table(title=title, title_justify="left", box=box.SIMPLE_HEAD)
    for col in columns:
        table.add_column(col, justify="left" if col in left else "right", no_wrap=col in no_wrap)
    return table


# -- fleet -----------------------------------------------------------------------------------------------------------


def _fleet_config(quick: bool, seed: int) -> FleetConfig:
    """The simulated day every fleet part runs; --quick: a 50-instance group from 14:00 to 18:00 only (the
    afternoon's scale-ins and the fault windows, 16:00-17:00), a CI smoke test of every part."""
    from bench.fleet import FleetConfig

    return FleetConfig(seed=seed, instances=50, hours=4, start_hour=14) if quick else FleetConfig(seed=seed)


def _fleet(out: Path, quick: bool, seed: int, errors: list[str]) -> dict[str, Any]:
    from bench.fleet import fleet_benchmark
    from bench.plot import plot_fleet

    cfg = _fleet_config(quick, seed)
    console.print(
        f"[dim]running the fleet simulation ({cfg.instances} instances, {cfg.hours:.0f} h, seed {seed})...[/]"
    )
    results, doc = fleet_benchmark(
        cfg,
        sweep_seeds=() if quick else tuple(s for s in range(1, 6) if s != seed),
        poll_intervals=() if quick else (5.0, 10.0, 30.0, 60.0),
    )
    doc["quick"] = quick
    _write(out / "fleet.json", doc)
    try:
        title = (
            f"{cfg.instances}-instance group, {doc['workload']['builds']:,} builds in {cfg.hours:.0f} h (seed {seed})"
        )
        plot_fleet(results, out / "fleet.png", title)
    except ImportError as exc:
        errors.append(f"fleet plot: {exc} (install the bench extra: matplotlib)")
    for r in results.values():
        if any(k == "error" or k.startswith("log:") for k in r.decisions):
            errors.append(f"fleet: the simulated gate logged errors: {r.decisions}")

    table = _table(
        f"Fleet simulation: {cfg.instances} instances, {cfg.hours:.0f} h, {doc['workload']['builds']:,} builds "
        f"(seed {seed}; {len(results)} strategies simulated in {sum(r.wall_seconds for r in results.values()):.1f} s)",
        (
            "strategy",
            "builds killed",
            "instance-h",
            "vs none",
            "idle inst-h",
            "idle kept alive",
            "hold mean",
            "hold p95",
            "release p95",
            "Azure calls",
            "AWS calls",
            "Auto Scaling",
            "agents left",
        ),
        left={"strategy"},
        no_wrap={"strategy"},
    )
    base = results["none"].instance_hours if "none" in results else 0.0
    for name, r in results.items():
        table.add_row(
            name,
            _fmt(r.builds_killed),
            _fmt(r.instance_hours, digits=0),
            f"{(r.instance_hours / base - 1) * 100:+.1f} %" if base else "-",
            _fmt(r.idle_instance_hours, digits=0),
            _fmt(r.idle_kept_alive_hours, " h"),
            _minutes(r.hold_mean_s),
            _minutes(r.hold_p95_s),
            _fmt(r.release_latency_p95_s, " s"),
            _fmt(r.azure_calls),
            _fmt(r.aws_calls),
            _fmt(r.autoscaling_calls),
            _fmt(r.agents_left_registered),
        )
    _rerun_baseline(table, doc, base)
    console.print(table)
    if "seed_sweep" in doc:
        sweep = _table(
            f"Other seeds {doc['seed_sweep']['seeds']}: min / median / max",
            ("strategy", "builds killed", "instance-h"),
            left={"strategy"},
        )
        for name, m in doc["seed_sweep"]["strategies"].items():
            k, h = m["builds_killed"], m["instance_hours"]
            sweep.add_row(
                name,
                f"{k['min']:.0f} / {k['median']:.0f} / {k['max']:.0f}",
                f"{h['min']:.0f} / {h['median']:.0f} / {h['max']:.0f}",
            )
        console.print(sweep)
    if "protection_poll_sweep" in doc:
        poll = _table(
            "protection: sidecar poll interval (seed as above)",
            ("poll", "builds killed", "Azure calls", "AWS calls", "idle kept alive h"),
        )
        for row in doc["protection_poll_sweep"]:
            poll.add_row(
                f"{row['poll_seconds']:.0f} s",
                _fmt(row["builds_killed"]),
                _fmt(row["azure_calls"]),
                _fmt(row["aws_calls"]),
                _fmt(row["idle_kept_alive_hours"]),
            )
        console.print(poll)
    if "tiers" in doc:
        _tiers(doc["tiers"], cfg.instances, cfg.hours, seed)
    return doc


def _rerun_baseline(table: Table, doc: dict[str, Any], base: float) -> None:
    """The added no-gate row whose killed builds are re-run by their users (issue 22); its "vs none" is against the
    no-gate row above, and a caption gives the gated strategies against it (they kill nothing, so re-run nothing)."""
    from bench.fleet import RERUN_BASELINE

    r = doc.get("baselines", {}).get(RERUN_BASELINE)
    if not r:
        return
    h = r["instance_hours"]
    table.add_row(
        RERUN_BASELINE,
        _fmt(r["builds_killed"]),
        _fmt(h, digits=0),
        f"{(h / base - 1) * 100:+.1f} %" if base else "-",
        _fmt(r["idle_instance_hours"], digits=0),
        _fmt(r["idle_kept_alive_hours"], " h"),
        _minutes(r["hold_mean_s"]),
        _minutes(r["hold_p95_s"]),
        _fmt(r["release_latency_p95_s"], " s"),
        _fmt(r["azure_calls"]),
        _fmt(r["aws_calls"]),
        _fmt(r["autoscaling_calls"]),
        _fmt(r["agents_left_registered"]),
    )
    against = ", ".join(
        f"{name} {(s['instance_hours'] / h - 1) * 100:+.1f} %"
        for name, s in doc["strategies"].items()
        if s["builds_killed"] == 0 and h
    )
    table.caption = (
        f"{RERUN_BASELINE}: {r['builds_killed']:,} killed ({r['reruns_killed']:,} of them re-runs), "
        f"{r['builds_rerun']:,} re-runs; instance-hours against it: {against}"
    )
    table.caption_justify = "left"


def _hold(seconds: float) -> str:
    return f"{seconds / 3600:g} h" if seconds >= 3600 else f"{seconds / 60:g} min"


_TIER_OF = {"release": "release", "pr": "pr", "ci": "default", "idle": "default"}  # under bench.fleet.BENCH_TIERS


def _tiers(t: dict[str, Any], instances: int, hours: float, seed: int) -> None:
    """The same day under the default tier and under BENCH_TIERS, side by side, per kind of build."""
    rules = "; ".join(
        f"{x['name']}: {' '.join(f'{k}={v}' for k, v in x.items() if isinstance(v, list))}, held "
        f"{_hold(x['max_hold_seconds'])} then {x['forced_result']}"
        for x in t["tiers"]
    )
    table = _table(
        f"Priority tiers: the same day ({instances} instances, {hours:.0f} h, seed {seed}), default tier -> "
        f"GATE_TIERS ({rules}; a retaining group)",
        ("strategy", "kind", "tier", "builds", "builds killed", "forced completions", "held inst-h", "inst-h"),
        left={"strategy", "kind", "tier"},
    )
    runs: dict[str, dict[str, dict[str, Any]]] = {}
    for run in t["runs"]:
        runs.setdefault(run["strategy"], {})[run["tier_config"]] = run
    for strategy, pair in runs.items():
        base, tiered = pair.get("default"), pair.get("tiers")
        if base is None or tiered is None:
            continue
        for kind, numbers in base["by_kind"].items():
            other = tiered["by_kind"][kind]
            table.add_row(
                strategy,
                "no build (idle)" if kind == "idle" else kind,
                _TIER_OF.get(kind, "default"),
                _fmt(numbers["builds"]) if kind != "idle" else "-",
                f"{numbers['builds_killed']} -> {other['builds_killed']}",
                f"{numbers['forced']} -> {other['forced']}",
                f"{numbers['held_instance_hours']:.1f} -> {other['held_instance_hours']:.1f}",
                "",
            )
        table.add_row(
            strategy,
            "all",
            "",
            "",
            f"{base['builds_killed']} -> {tiered['builds_killed']}",
            f"{sum(k['forced'] for k in base['by_kind'].values())} -> "
            f"{sum(k['forced'] for k in tiered['by_kind'].values())}",
            f"{base['held_instance_hours']:.1f} -> {tiered['held_instance_hours']:.1f}",
            f"{base['instance_hours']:,.0f} -> {tiered['instance_hours']:,.0f}",
            end_section=True,
        )
    console.print(table)
    console.print(
        "[dim]forced completions: the gate completed a hold while a build still ran (CONTINUE kills it, ABANDON on a "
        "retaining group keeps the instance); held inst-h: Terminating:Wait and Retained, counted for the build the "
        "hold was for.[/]"
    )


# -- faults ----------------------------------------------------------------------------------------------------------


def _matrix(doc: dict[str, Any], title: str, cell: Callable[[dict[str, Any]], str]) -> None:
    names = [s["name"] for s in doc["scenarios"]]
    t = _table(title, ("strategy", *names), left={"strategy"}, no_wrap={"strategy"})
    for strategy in doc["strategies"]:
        t.add_row(strategy, *(cell(doc["cells"][n][strategy]) for n in names))
    console.print(t)


def _faults(out: Path, quick: bool, seed: int, errors: list[str]) -> dict[str, Any]:
    from bench.faultbench import fault_matrix, posture_under_outage
    from bench.plot import plot_faults

    cfg = _fleet_config(quick, seed)
    console.print(f"[dim]running the fleet under faults ({cfg.instances} instances, {cfg.hours:.0f} h)...[/]")
    doc: dict[str, Any] = {
        "benchmark": "faults",
        "quick": quick,
        "config": {"instances": cfg.instances, "hours": cfg.hours, "start_hour": cfg.start_hour, "seed": seed},
        "matrix": fault_matrix(cfg),
    }
    doc["posture"] = posture_under_outage(cfg)
    _write(out / "faults.json", doc)
    matrix = doc["matrix"]
    for n, cells in matrix["cells"].items():
        for strategy, c in cells.items():
            if strategy.startswith("gate") and n == "fair weather" and c["error_decisions"]:
                errors.append(f"faults: the simulated gate logged {c['error_decisions']} errors in fair weather")
    console.print(
        "Faults, one at a time: "
        + "; ".join(f"[bold]{s['name']}[/]: {s['description']}" for s in matrix["scenarios"][1:])
    )
    _matrix(
        matrix,
        f"Builds killed (hooks timed out), {cfg.instances} instances, {cfg.hours:.0f} h, seed {seed}",
        lambda c: f"{c['builds_killed']} ({c['hooks_timed_out']})",
    )
    _matrix(matrix, "Instance-hours", lambda c: f"{c['instance_hours']:,.0f}")
    _matrix(
        matrix,
        "API calls: Azure DevOps / Auto Scaling (the account's shared bucket) / other AWS",
        lambda c: " / ".join(
            _k(n) for n in (c["azure_calls"], c["autoscaling_calls"], c["aws_calls"] - c["autoscaling_calls"])
        ),
    )
    _matrix(
        matrix,
        "Release p95 (build end or hold start -> complete) / agent registrations left behind",
        lambda c: f"{_fmt(c['release_latency_p95_s'], ' s', 0)} / {c['agents_left_registered']}",
    )
    posture = doc["posture"]
    t = _table(
        f"Fail-safe posture: gate strategy, {posture['faults']}",
        ("hook posture", "builds killed", "hooks timed out", "retained", "retained at end", "instance-h"),
        left={"hook posture"},
    )
    for row in posture["rows"]:
        t.add_row(
            row["posture"],
            _fmt(row["builds_killed"]),
            _fmt(row["hooks_timed_out"]),
            _fmt(row["retained"]),
            _fmt(row["retained_at_end"]),
            _fmt(row["instance_hours"], digits=0),
        )
    console.print(t)
    try:
        plot_faults(matrix, out / "faults.png", f"{cfg.instances}-instance group, {cfg.hours:.0f} h, seed {seed}")
    except ImportError as exc:
        errors.append(f"faults plot: {exc} (install the bench extra: matplotlib)")
    return doc


# -- scale -----------------------------------------------------------------------------------------------------------


def _scale(out: Path, quick: bool, seed: int, errors: list[str]) -> dict[str, Any]:
    from bench import scale

    if quick:  # the same rounds, smaller and faster (CI smoke)
        cfg = scale.ScaleConfig(instances=500, groups=4, pools=2, aws_latency_s=0.01, azure_latency_s=0.05)
    else:
        cfg = scale.ScaleConfig()
    base = _fleet_config(quick, seed)
    doc: dict[str, Any] = {"benchmark": "scale", "quick": quick}
    doc["tick"] = _timed(
        f"one tick with {cfg.instances:,} waiting instances in {cfg.groups} groups and {cfg.pools} pools",
        lambda: scale.tick_at_scale(cfg),
        errors,
    )
    doc["per_held_hour"] = _timed("AWS calls per held instance-hour", lambda: scale.calls_per_held_hour(base), errors)
    _write(out / "scale.json", doc)
    tick = doc["tick"]
    if "error" not in tick:
        t = _table(
            f"(d) One tick at scale: {cfg.instances:,} instances waiting in {cfg.groups} groups, {cfg.pools} "
            f"pools; AWS {cfg.aws_latency_s * 1000:.0f} ms and Azure DevOps {cfg.azure_latency_s * 1000:.0f} ms per "
            f"call; HeartbeatTimeout {cfg.heartbeat_timeout:.0f} s",
            ("round", "Azure calls", "AWS calls", "heartbeats", "late", "pass done", "wall", "CPU"),
            left={"round", "Azure calls", "AWS calls"},
        )
        for r in tick["rounds"]:
            t.add_row(
                r["round"],
                f"{r['azure_calls']:,} ({_ops(r['azure_calls_by_kind'])})",
                f"{r['aws_calls']:,} ({_ops(r['aws_calls_by_operation'])})",
                _fmt(r["heartbeats"]),
                _fmt(r["late_heartbeats"]),
                _fmt(r.get("heartbeat_pass_done_s"), " s", 1),
                _fmt(r["wall_s"], " s", 1),
                _fmt(r["cpu_s"], " s", 2),
            )
        console.print(t)
        console.print(
            "[dim]heartbeats: all sent in the round (the heartbeat pass and judgment's own); pass done: when the last "
            "heartbeat of the heartbeat pass landed, from the round's start.[/]"
        )
        verdict = "yes" if tick["every_heartbeat_in_time"] else "[bold red]NO[/]"
        console.print(
            f"every heartbeat in time: {verdict} ({tick['late_heartbeats']} late, {tick['overdue_at_end']} overdue "
            f"at the end); released {tick['released']:,}, builds killed {tick['builds_killed']}"
        )
        if not tick["every_heartbeat_in_time"]:
            errors.append(f"scale: {tick['late_heartbeats']} heartbeats late, {tick['overdue_at_end']} overdue")
    held = doc["per_held_hour"]
    if "error" not in held:
        cols = ("HeartbeatTimeout", "held inst-h", "heartbeats", "per-instance calls", "all AWS", "Auto Scaling")
        t = _table(
            f"(e) AWS calls per held instance-hour, gate strategy, fleet day ({held['instances']} instances, "
            f"{held['hours']:.0f} h); goal <= 4 with a 1 h HeartbeatTimeout",
            (*cols, "per hold", "2 h hold: 5 min / next h / all"),
        )
        for r in held["rows"]:
            t.add_row(
                f"{r['heartbeat_timeout_s']:,} s",
                _fmt(r["held_instance_hours"], digits=1),
                _fmt(r["heartbeats_per_held_hour"], digits=1),
                _fmt(r["per_instance_calls_per_held_hour"], digits=1),
                _fmt(r["aws_calls_per_held_hour"], digits=1),
                _fmt(r["autoscaling_calls_per_held_hour"], digits=1),
                _fmt(r.get("per_instance_calls_per_hold"), digits=1),
                "{first_minutes_calls} / {next_hour_calls} / {hold_calls}".format(**r["long_hold"])
                if r.get("long_hold")
                else "-",
            )
        console.print(t)
    return doc


# -- liveness under a slow Azure DevOps (bench/liveness.py, the LIVENESS helper's scenario) -----------------


def _liveness(out: Path, quick: bool, errors: list[str]) -> dict[str, Any]:
    from bench.liveness import LivenessConfig, liveness_benchmark

    # --quick: a tenth of the instances for 10 simulated minutes (30 s at the scaled clock), the same latencies.
    cfg = LivenessConfig(instances=100, minutes=10) if quick else LivenessConfig()
    doc = liveness_benchmark(cfg)
    _write(out / "liveness.json", doc)
    t = _table(
        f"(g) {doc['instances']:,} busy instances waiting at once, Azure DevOps at {doc['azure_latency_s']:g} s "
        f"per call, HeartbeatTimeout {doc['heartbeat_timeout_s']:g} s, {doc['simulated_minutes']:g} simulated minutes",
        (
            "hooks timed out",
            "builds killed",
            "heartbeats per held inst-h",
            "longest invocation",
            "function timeout",
            "disabled",
            "released",
            "still waiting",
        ),
    )
    t.add_row(
        _fmt(doc["hooks_timed_out"]),
        _fmt(doc["builds_killed"]),
        _fmt(doc["heartbeats_per_held_instance_hour"], digits=1),
        _fmt(doc["longest_invocation_s"], " s"),
        _fmt(doc["function_timeout_s"], " s", 0),
        _fmt(doc["disabled"]),
        _fmt(doc["released"]),
        _fmt(doc["still_waiting"]),
    )
    console.print(t)
    if doc["hooks_timed_out"] or doc["builds_killed"]:
        errors.append(f"liveness: {doc['hooks_timed_out']} hooks timed out, {doc['builds_killed']} builds killed")
    return doc


# -- service hook ----------------------------------------------------------------------------------------------------


def _hook(out: Path, quick: bool, seed: int, errors: list[str]) -> dict[str, Any]:
    from bench.hookbench import release_with_and_without_hook

    cfg = _fleet_config(quick, seed)
    doc = release_with_and_without_hook(cfg)
    _write(out / "hook.json", doc)
    t = _table(
        f"(f) Release latency, fleet day ({doc['instances']} instances, {doc['hours']:.0f} h): polling alone vs "
        f"the Azure DevOps service hook (delivered {doc['delivery_delay_s']:g} s after the build ends)",
        (
            "strategy",
            "release by",
            "holds",
            "build end p50",
            "build end p95",
            "after lag p50",
            "after lag p95",
            "target",
            "idle victim p95",
            "hook calls",
            "Azure calls",
            "Auto Scaling",
        ),
        left={"strategy", "release by"},
    )
    for r in doc["rows"]:
        t.add_row(
            r["strategy"],
            r["release"],
            _fmt(r["holds"]),
            _fmt(r["after_build_p50_s"], " s"),
            _fmt(r["after_build_p95_s"], " s"),
            _fmt(r.get("after_lag_p50_s"), " s"),
            _fmt(r.get("after_lag_p95_s"), " s"),
            f"<= {r['target_p95_s']:g} s",
            _fmt(r["idle_victim_p95_s"], " s"),
            _fmt(r["service_hook_calls"]),
            _fmt(r["azure_calls"]),
            _fmt(r["autoscaling_calls"]),
        )
    console.print(t)
    console.print(
        "[dim]build end: holds whose build ended during the hold; after lag: those whose build ended after the "
        "assignment lag bound (60 s into the hold), which the lag rule releases at the next look.[/]"
    )
    _storm(doc["storm"], doc["window_s"], errors)
    for r in doc["rows"]:
        if r["release"] != "polling alone" and (r["after_build_p95_s"] or 0) > r["target_p95_s"]:
            errors.append(f"hook: build end -> complete p95 {r['after_build_p95_s']} s over {r['target_p95_s']} s")
    return doc


def _storm(s: dict[str, Any], window: float, errors: list[str]) -> None:
    """The storm of authenticated calls (bench.hookbench.storm): the re-check function's calls in its busiest minute."""
    console.print(
        f"Service hook storm ({s['calls_per_minute']} calls a minute for {s['minutes']:g} min, coalescing window "
        f"{window:g} s): {s['calls']} calls -> {s['messages']} queue messages -> {s['rounds']} rounds; busiest minute: "
        f"{s['agent_lists_max_per_minute']} agent lists by the rounds (target <= {s['target_agent_lists']}; plus "
        f"{s['final_looks_max_per_minute']} final looks before releases), "
        f"{s['describe_groups_max_per_minute']} DescribeAutoScalingGroups (target <= {s['target_describe_groups']}); "
        f"build end -> complete p95 during the storm day {_fmt(s['after_build_p95_s'], ' s')}"
    )
    if s["agent_lists_max_per_minute"] > s["target_agent_lists"]:
        errors.append(f"hook storm: {s['agent_lists_max_per_minute']} agent lists in a minute")
    if s["describe_groups_max_per_minute"] > s["target_describe_groups"]:
        errors.append(f"hook storm: {s['describe_groups_max_per_minute']} DescribeAutoScalingGroups in a minute")


# -- real path -------------------------------------------------------------------------------------------------------


def _show_release(r: dict[str, Any]) -> None:
    if "error" in r:
        return
    t = _table(
        "(a) Release latency, build end -> CompleteLifecycleAction (emulator + fake Azure DevOps over HTTP)",
        ("holds", "p50", "p95", "max", "builds killed", "errors", "clock speed", "wall"),
    )
    t.add_row(
        _fmt(r["holds"]),
        _fmt(r["p50_s"], " s"),
        _fmt(r["p95_s"], " s"),
        _fmt(r["max_s"], " s"),
        _fmt(r["builds_killed"]),
        _fmt(r["errors"]),
        f"x{r['speed']:g}",
        _fmt(r["wall_seconds"], " s"),
    )
    console.print(t)


_SHORT = {
    "CreateTags": "tag",
    "DescribeAutoScalingGroups": "describe-groups",
    "DescribeAutoScalingInstances": "describe-asg-instance",
    "DescribeInstances": "describe-instances",
    "RecordLifecycleActionHeartbeat": "heartbeat",
    "CompleteLifecycleAction": "complete",
    "GET agents (list page)": "list",
    "GET pools (pool id, once per container)": "pool lookup",
    "PATCH agent": "disable",
    "DELETE agent": "delete",
    "GET jobrequests": "job requests",
    "GET agent": "get agent",
    "DescribeLifecycleHooks": "describe-hooks",
    "DeleteTags": "untag",
    "PATCH disable": "disable",
    "list agents (pages)": "list",
}


def _ops(calls: dict[str, int]) -> str:
    return ", ".join(f"{_SHORT.get(k, k)} {v:,}" for k, v in calls.items())


def _show_tick(r: dict[str, Any]) -> None:
    if "error" in r:
        return
    seq, http = r["sequence"], r["http"]
    t = _table(
        f"(b) One tick, {seq['instances']:,} instances in Terminating:Wait, one pool",
        ("tick", "Azure calls", "AWS calls", "wall", "CPU", "decision CPU"),
        left={"tick", "Azure calls", "AWS calls"},
    )
    rows = [*seq["ticks"], http] if "error" not in http else seq["ticks"]
    for tick in rows:
        t.add_row(
            tick["tick"],
            f"{tick['azure_calls']:,} ({_ops(tick['azure_calls_by_kind'])})",
            f"{tick['aws_calls']:,} ({_ops(tick['aws_calls_by_operation'])})",
            _fmt(tick["wall_s"], " s", 2),
            _fmt(tick["cpu_s"], " s", 2),
            _fmt(tick["decision_cpu_s"] * 1000, " ms", 1),
        )
    console.print(t)
    console.print(
        "[dim]first four ticks: Azure DevOps over HTTP, AWS answered in process (counted); last: all over HTTP "
        f"({http.get('instances', '?')} instances). "
        "CPU = the gate thread's CPU; decision CPU = AgentIndex + decide for every waiting instance.[/]"
    )


def _show_package(p: dict[str, Any], imp: dict[str, Any]) -> None:
    t = _table(
        "(c) Lambda package and cold import of gate.handler",
        (
            "zip",
            "unpacked",
            "files (.pyc)",
            "import (shipped zip)",
            "shipped CPU",
            "import (cached .pyc)",
            "import (no .pyc in zip)",
            "no .pyc in zip CPU",
            "no .pyc at all",
        ),
    )
    t.add_row(
        _fmt(p.get("mb"), " MB", 2),
        _fmt(p.get("unpacked_mb"), " MB", 2),
        f"{_fmt(p.get('files'))} ({_fmt(p.get('pyc_files'))})",
        _fmt(imp.get("shipped_zip_ms"), " ms", 0),
        _fmt(imp.get("shipped_zip_cpu_ms"), " ms", 0),
        _fmt(imp.get("cached_bytecode_ms"), " ms", 0),
        _fmt(imp.get("lambda_like_ms"), " ms", 0),
        _fmt(imp.get("lambda_like_cpu_ms"), " ms", 0),
        _fmt(imp.get("no_bytecode_ms"), " ms", 0),
    )
    console.print(t)
    if imp.get("python"):
        console.print(
            f"[dim]median of {imp['repeats']} fresh interpreters, Python {imp['python']}: wall time of the import "
            "(-X importtime) and the CPU time it took (less sensitive to a busy machine). Shipped zip: the zip "
            f"package_lambda built for {p.get('runtime', 'this Python')}, unpacked, with the bytecode it ships; "
            "no .pyc in zip: the same modules compiled from source at every cold start.[/]"
        )
    if imp.get("compiled_from_source"):
        counts = ", ".join(f"{mode} {n}" for mode, n in imp["compiled_from_source"].items())
        console.print(f"[dim]  modules compiled from source during the import: {counts}[/]")
    for name, ms in (imp.get("lambda_like_cpu_breakdown_ms") or {}).items():
        console.print(f"[dim]  no .pyc in zip, CPU, {name}: {_fmt(ms, ' ms', 0)}[/]")


def _real_path(out: Path, quick: bool, parts: Collection[str], errors: list[str]) -> dict[str, Any]:
    from bench import realpath

    doc: dict[str, Any] = {
        "benchmark": "real-path",
        "quick": quick,
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count(), "platform": platform.platform()},
    }
    if "release" in parts:
        instances, stagger, speed = (12, 10.0, 10.0) if quick else (60, 5.0, 5.0)
        doc["release_latency"] = _timed(
            "(a) release latency", lambda: realpath.release_latency(instances, stagger, speed), errors
        )
        _show_release(doc["release_latency"])
    if "tick" in parts:
        n, h = (200, 50) if quick else (1000, 200)
        doc["tick"] = _timed(
            f"(b) one tick with {n} waiting instances ({h} all over HTTP)", lambda: realpath.tick_at_scale(n, h), errors
        )
        _show_tick(doc["tick"])
    if "package" in parts:
        doc["package"] = _timed("(c) Lambda package", lambda: realpath.package_size(out), errors)
        shipped = doc["package"].get("top_level_modules") or realpath.ZIP_PACKAGES
        zip_path = Path(doc["package"]["zip"]) if "zip" in doc["package"] else None
        modes: tuple[str, ...] = ("shipped_zip", "cached_bytecode", "lambda_like")
        modes += () if quick else ("no_bytecode",)
        doc["cold_import"] = _timed(
            "(c) cold import",
            lambda: realpath.cold_import(
                repeats=3 if quick else 5, zip_packages=shipped, modes=modes, zip_path=zip_path
            ),
            errors,
        )
        _show_package(doc["package"], doc["cold_import"])
    _write(out / "real-path.json", doc)
    return doc


def run_bench(out: Path, quick: bool = False, *, parts: Collection[str] = PARTS, seed: int = 7) -> None:
    """All benchmarks, or `parts` of them (see PARTS); exit 1 if one of them failed."""
    unknown = set(parts) - set(PARTS)
    if unknown:
        err_console.print(f"[bold red]error:[/] unknown benchmark part(s) {sorted(unknown)}; choose from {PARTS}")
        raise typer.Exit(2)
    start = time.perf_counter()
    errors: list[str] = []
    if "fleet" in parts:
        _fleet(out, quick, seed, errors)
    if "faults" in parts:
        _timed("the fleet under faults", lambda: _faults(out, quick, seed, errors), errors)
    if "scale" in parts:
        _scale(out, quick, seed, errors)
    if "liveness" in parts:
        _timed("liveness under a slow Azure DevOps", lambda: _liveness(out, quick, errors), errors)
    if "hook" in parts:
        _timed("release latency with the service hook", lambda: _hook(out, quick, seed, errors), errors)
    if set(parts) & {"release", "tick", "package"}:
        _real_path(out, quick, parts, errors)
    console.print(f"\nresults in {out}/ ({time.perf_counter() - start:.0f} s{', quick' if quick else ''})")
    if errors:
        for e in errors:
            err_console.print(f"[bold red]error:[/] {e}", highlight=False)
        raise typer.Exit(1)
