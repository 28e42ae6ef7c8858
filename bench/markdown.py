"""The benchmark results as Markdown tables, for docs/performance.md.

`gate bench` writes JSON; `python -m bench.markdown RESULTS_DIR docs/performance.md` renders each table
and replaces the text between `<!-- bench:NAME -->` and `<!-- /bench:NAME -->` in the document, so the numbers in
the docs are the numbers of one run, copied by a program.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from bench.formatting import duration as _dur
from bench.formatting import number
from bench.formatting import thousands as _k


def _n(value: Any, unit: str = "", digits: int = 0) -> str:
    """The docs' tables show whole numbers unless a column asks for decimals."""
    return number(value, unit, digits)


def table(header: Sequence[str], rows: Sequence[Sequence[str]], right: Sequence[bool] | None = None) -> str:
    right = right or [i > 0 for i in range(len(header))]
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---:" if r else "---" for r in right) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def fleet(doc: dict[str, Any]) -> str:
    rows = []
    for name, r in doc["strategies"].items():
        rows.append(
            [
                name,
                _n(r["builds_killed"]),
                _n(r["instance_hours"]),
                _n(r["idle_instance_hours"]),
                _n(r["idle_kept_alive_hours"], " h", 1),
                _dur(r["hold_mean_s"]),
                _dur(r["hold_p95_s"]),
                _n(r["release_latency_p95_s"], " s"),
                _n(r["azure_calls"]),
                _n(r["aws_calls"]),
                _n(r["autoscaling_calls"]),
                _n(r["agents_left_registered"]),
            ]
        )
    header = [
        "strategy",
        "builds killed",
        "instance-h",
        "idle instance-h",
        "idle kept alive",
        "hold mean",
        "hold p95",
        "release p95",
        "Azure DevOps calls",
        "AWS calls",
        "of which Auto Scaling",
        "agents left registered",
    ]
    return table(header, rows)


def seeds(doc: dict[str, Any]) -> str:
    rows = []
    for name, m in doc["seed_sweep"]["strategies"].items():
        k, h = m["builds_killed"], m["instance_hours"]
        rows.append(
            [
                name,
                f"{k['min']:.0f} / {k['median']:.0f} / {k['max']:.0f}",
                f"{h['min']:,.0f} / {h['median']:,.0f} / {h['max']:,.0f}",
            ]
        )
    return table(["strategy", "builds killed", "instance-h"], rows, [False, False, False])


def polls(doc: dict[str, Any]) -> str:
    rows = [
        [
            f"{r['poll_seconds']:.0f} s",
            _n(r["builds_killed"]),
            _n(r["azure_calls"]),
            _n(r["aws_calls"]),
            _n(r["idle_kept_alive_hours"], " h", 1),
        ]
        for r in doc["protection_poll_sweep"]
    ]
    return table(
        ["sidecar poll", "builds killed", "Azure DevOps calls", "SetInstanceProtection calls", "idle kept alive"], rows
    )


def _matrix(doc: dict[str, Any], cell: Callable[[dict[str, Any]], str]) -> str:
    matrix = doc["matrix"]
    names = [s["name"] for s in matrix["scenarios"]]
    rows = [[s, *(cell(matrix["cells"][n][s]) for n in names)] for s in matrix["strategies"]]
    return table(["strategy", *names], rows)


def scenarios(doc: dict[str, Any]) -> str:
    rows = [[s["name"], s["description"]] for s in doc["matrix"]["scenarios"]]
    return table(["fault", "what goes wrong"], rows, [False, False])


def faults_killed(doc: dict[str, Any]) -> str:
    return _matrix(
        doc, lambda c: f"**{c['builds_killed']}**" + (f" ({c['hooks_timed_out']})" if c["hooks_timed_out"] else "")
    )


def faults_hours(doc: dict[str, Any]) -> str:
    return _matrix(doc, lambda c: _n(c["instance_hours"]))


def faults_calls(doc: dict[str, Any]) -> str:
    return _matrix(
        doc,
        lambda c: (
            f"{_k(c['azure_calls'])} / {_k(c['autoscaling_calls'])} / {_k(c['aws_calls'] - c['autoscaling_calls'])}"
        ),
    )


def faults_release(doc: dict[str, Any]) -> str:
    return _matrix(doc, lambda c: f"{_n(c['release_latency_p95_s'], ' s')} / {c['agents_left_registered']}")


def posture(doc: dict[str, Any]) -> str:
    rows = [
        [
            r["posture"],
            f"**{r['builds_killed']}**",
            _n(r["hooks_timed_out"]),
            _n(r["retained"]),
            _n(r["retained_at_end"]),
            _n(r["instance_hours"]),
        ]
        for r in doc["posture"]["rows"]
    ]
    return table(
        ["hook posture", "builds killed", "hooks timed out", "retained", "still retained at the end", "instance-h"],
        rows,
        [False, True, True, True, True, True],
    )


def _ops(calls: dict[str, int]) -> str:
    return ", ".join(f"{k} {v:,}" for k, v in calls.items())


def scale_tick(doc: dict[str, Any]) -> str:
    rows = [
        [
            r["round"],
            f"{r['azure_calls']:,} ({_ops(r['azure_calls_by_kind'])})",
            f"{r['aws_calls']:,} ({_ops(r['aws_calls_by_operation'])})",
            _n(r["heartbeats"]),
            _n(r["late_heartbeats"]),
            _n(r.get("heartbeat_pass_done_s"), " s", 1),
            _n(r["wall_s"], " s", 1),
            _n(r["cpu_s"], " s", 1),
            _ops(r["outcomes"]),
        ]
        for r in doc["tick"]["rounds"]
    ]
    header = [
        "round",
        "Azure DevOps calls",
        "AWS calls",
        "heartbeats",
        "late",
        "heartbeat pass done",
        "wall",
        "CPU",
        "decisions",
    ]
    return table(header, rows, [False, False, False, True, True, True, True, True, False])


def per_held_hour(doc: dict[str, Any]) -> str:
    rows = [
        [
            f"{r['heartbeat_timeout_s']:,} s",
            _n(r["held_instance_hours"], digits=1),
            _n(r["heartbeats_per_held_hour"], digits=1),
            _n(r["per_instance_calls_per_held_hour"], digits=1),
            _n(r["autoscaling_calls_per_held_hour"], digits=1),
            _n(r["aws_calls_per_held_hour"], digits=1),
            _n(r.get("per_instance_calls_per_hold"), digits=1),
            _long_hold(r.get("long_hold")),
        ]
        for r in doc["per_held_hour"]["rows"]
    ]
    header = [
        "hook HeartbeatTimeout",
        "held instance-h",
        "heartbeats",
        "per-instance AWS calls",
        "Auto Scaling calls",
        "all AWS calls",
        "per-instance calls per hold",
        "2 h busy hold: first 5 min / next hour / whole hold",
    ]
    return table(header, rows)


def _long_hold(long: dict[str, Any] | None) -> str:
    if not long:
        return "-"
    return f"{long['first_minutes_calls']} / {long['next_hour_calls']} / {long['hold_calls']}"


def hook(doc: dict[str, Any]) -> str:
    rows = [
        [
            r["strategy"],
            r["release"],
            _n(r["holds"]),
            _n(r["after_build_p50_s"], " s", 1),
            f"**{_n(r['after_build_p95_s'], ' s', 1)}**",
            _n(r.get("after_lag_p50_s"), " s", 1),
            f"**{_n(r.get('after_lag_p95_s'), ' s', 1)}**",
            f"≤ {r['target_p95_s']:g} s",
            _n(r["idle_victim_p95_s"], " s", 1),
            _n(r["service_hook_calls"]),
            _n(r["azure_calls"]),
            _n(r["autoscaling_calls"]),
        ]
        for r in doc["rows"]
    ]
    header = [
        "strategy",
        "release by",
        "holds",
        "build end → complete p50",
        "p95",
        "build ended after the lag bound: p50",
        "p95",
        "target",
        "idle victim p95",
        "hook calls",
        "Azure DevOps calls",
        "Auto Scaling calls",
    ]
    return table(header, rows, [False, False, *([True] * 10)])


def hook_storm(doc: dict[str, Any]) -> str:
    """The storm of authenticated calls (bench.hookbench.storm): the re-check function's busiest minute."""
    s = doc["storm"]
    rows = [
        [
            f"{s['calls_per_minute']:,} a minute for {s['minutes']:g} min",
            f"{doc.get('window_s', 5):g} s",
            f"{_n(s['calls'])} → {_n(s['messages'])} → {_n(s['rounds'])}",
            f"**{s['agent_lists_max_per_minute']}** (≤ {s['target_agent_lists']})",
            _n(s.get("final_looks_max_per_minute")),
            f"**{s['describe_groups_max_per_minute']}** (≤ {s['target_describe_groups']})",
            _n(s["busiest_minute"].get("RecordLifecycleActionHeartbeat", 0)),
            f"{_n(s['after_build_p95_s'], ' s', 1)}",
            _n(s["builds_killed"]),
        ]
    ]
    header = [
        "storm",
        "window",
        "calls → queue messages → rounds (whole day)",
        "agent lists by rounds, busiest minute",
        "final looks",
        "DescribeAutoScalingGroups",
        "heartbeats",
        "build end → complete p95",
        "builds killed",
    ]
    return table(header, rows, [False, *([True] * 8)])


def liveness(doc: dict[str, Any]) -> str:
    row = [
        _n(doc["instances"]),
        f"{doc['azure_latency_s']:g} s",
        f"**{doc['hooks_timed_out']}**",
        f"**{doc['builds_killed']}**",
        _n(doc["heartbeats_per_held_instance_hour"], digits=1),
        f"{_n(doc['longest_invocation_s'], ' s')} of {_n(doc['function_timeout_s'], ' s')}",
        _n(doc["disabled"]),
        _n(doc["released"]),
        f"{doc['simulated_minutes']:g} min",
    ]
    header = [
        "busy instances waiting",
        "Azure DevOps per call",
        "hooks timed out",
        "builds killed",
        "heartbeats per held instance-hour",
        "longest invocation",
        "agents disabled",
        "released",
        "simulated",
    ]
    return table(header, [row])


def release(doc: dict[str, Any]) -> str:
    r = doc["release_latency"]
    row = [
        _n(r["holds"]),
        _n(r["p50_s"], " s", 1),
        _n(r["p95_s"], " s", 1),
        _n(r["max_s"], " s", 1),
        _n(r["builds_killed"]),
        _n(r["errors"]),
        _n(r["wall_seconds"], " s"),
    ]
    return table(["holds", "p50", "p95", "max", "builds killed", "handler errors", "wall"], [row])


def _http_label(x: dict[str, Any]) -> dict[str, Any]:
    return {**x, "tick": f"{x['tick']}, {x.get('instances', '?'):,} instances"}


def tick(doc: dict[str, Any]) -> str:
    t = doc["tick"]
    rows = [
        [
            x["tick"],
            f"{x['azure_calls']:,} ({_ops(x['azure_calls_by_kind'])})",
            f"{x['aws_calls']:,} ({_ops(x['aws_calls_by_operation'])})",
            _n(x["wall_s"], " s", 2),
            _n(x["cpu_s"], " s", 2),
            _n(x["decision_cpu_s"] * 1000, " ms", 1),
        ]
        for x in [*t["sequence"]["ticks"], *([_http_label(t["http"])] if "error" not in t["http"] else [])]
    ]
    return table(
        ["round", "Azure DevOps calls", "AWS calls", "wall", "gate CPU", "decision CPU"],
        rows,
        [False, False, False, True, True, True],
    )


def import_breakdown(doc: dict[str, Any]) -> str:
    c = doc["cold_import"]
    rows = [["`import gate.handler`", _n(c.get("lambda_like_cpu_ms"), " ms")]]
    rows += [[name, _n(ms, " ms")] for name, ms in c["lambda_like_cpu_breakdown_ms"].items()]
    return table(["import with the zip's modules compiled from source, CPU time (median)", "CPU"], rows)


IMPORT_MODES = (
    ("shipped_zip", "shipped zip: its own bytecode, stdlib and boto3 precompiled"),
    ("lambda_like", "the same zip without .pyc: its modules compiled at every cold start"),
    ("cached_bytecode", "all bytecode cached"),
    ("no_bytecode", "no bytecode at all"),
)


def package(doc: dict[str, Any]) -> str:
    p, c = doc["package"], doc["cold_import"]
    size = table(
        ["zip", "unpacked", "files", "of which .pyc", "bytecode for"],
        [
            [
                _n(p.get("mb"), " MB", 2),
                _n(p.get("unpacked_mb"), " MB", 2),
                _n(p.get("files")),
                _n(p.get("pyc_files")),
                str(p.get("runtime", "-")),
            ]
        ],
    )
    compiled = c.get("compiled_from_source") or {}
    rows = []
    for mode, label in IMPORT_MODES:
        if f"{mode}_ms" not in c:
            continue
        median_ms = _n(c.get(f"{mode}_ms"), " ms")
        rows.append(
            [
                label,
                f"**{median_ms}**" if mode == "shipped_zip" else median_ms,
                _n(c.get(f"{mode}_min_ms"), " ms"),
                _n(c.get(f"{mode}_cpu_ms"), " ms"),
                _n(compiled.get(mode)),
            ]
        )
    modes = table(["`import gate.handler`", "median", "fastest", "CPU", "modules compiled from source"], rows)
    return size + "\n\n" + modes


# name -> (results file, renderer)
TABLES: dict[str, tuple[str, Callable[[dict[str, Any]], str]]] = {
    "fleet": ("fleet.json", fleet),
    "seeds": ("fleet.json", seeds),
    "polls": ("fleet.json", polls),
    "scenarios": ("faults.json", scenarios),
    "faults-killed": ("faults.json", faults_killed),
    "faults-hours": ("faults.json", faults_hours),
    "faults-calls": ("faults.json", faults_calls),
    "faults-release": ("faults.json", faults_release),
    "posture": ("faults.json", posture),
    "scale": ("scale.json", scale_tick),
    "per-held-hour": ("scale.json", per_held_hour),
    "hook": ("hook.json", hook),
    "hook-storm": ("hook.json", hook_storm),
    "liveness": ("liveness.json", liveness),
    "release": ("real-path.json", release),
    "tick": ("real-path.json", tick),
    "package": ("real-path.json", package),
    "import-breakdown": ("real-path.json", import_breakdown),
}


def _load(results: Path, file: str) -> dict[str, Any] | None:
    path = results / file
    return json.loads(path.read_text()) if path.is_file() else None


def _verdict(value: float | None, target: float, *, below: bool = True) -> str:
    if value is None:
        return "not measured"
    met = value < target if below else value <= target
    return "met" if met else "**not met**"


def targets(results: Path) -> str:
    """Each of the issue's targets with the number measured in this run and whether it is met."""
    rows: list[list[str]] = []
    files = ("hook.json", "scale.json", "real-path.json", "faults.json", "liveness.json")
    hook, scale, real, faults, live = (_load(results, f) for f in files)
    if hook:
        by = {(r["strategy"], r["release"]): r for r in hook["rows"]}
        for release, target, label in (
            ("service hook + polling", 5.0, "build end → complete p95, with the service hook"),
            ("polling alone", 15.0, "build end → complete p95, polling alone"),
        ):
            for strategy in ("gate", "gate+protect"):
                r = by.get((strategy, release))
                if r is None:
                    continue
                value, late = r["after_build_p95_s"], r.get("after_lag_p95_s")
                measured = f"{_n(value, ' s', 1)} (build ended after the lag bound: {_n(late, ' s', 1)})"
                rows.append(
                    [f"{label} ({strategy})", f"≤ {target:g} s", measured, _verdict(value, target, below=False), "(f)"]
                )
    storm = (hook or {}).get("storm")
    if storm:  # issue 19: a storm of authenticated calls costs at most one round per coalescing window
        for label, key, target in (
            ("agent lists", "agent_lists_max_per_minute", storm["target_agent_lists"]),
            ("DescribeAutoScalingGroups", "describe_groups_max_per_minute", storm["target_describe_groups"]),
        ):
            value = storm[key]
            rows.append(
                [
                    f"service hook storm, {storm['calls_per_minute']} calls a minute: {label} in the busiest minute"
                    " (issue 19)",
                    f"≤ {target}",
                    str(value),
                    _verdict(float(value), float(target), below=False),
                    "(f)",
                ]
            )
    if scale and "rows" in scale.get("per_held_hour", {}):
        hour = next((r for r in scale["per_held_hour"]["rows"] if r["heartbeat_timeout_s"] == 3600), None)
        long = (hour or {}).get("long_hold")
        if hour and long:  # what holding costs per hour once a hold is under way: the heartbeat cadence
            rows.append(
                [
                    "AWS calls per held instance-hour, 1 h HeartbeatTimeout: a long busy hold, per hour after its first"
                    " 5 minutes",
                    "≤ 4",
                    f"{long['next_hour_calls']} (whole 2 h hold: {long['hold_calls']})",
                    _verdict(float(long["next_hour_calls"]), 4.0, below=False),
                    "(e)",
                ]
            )
        if hour:  # the fleet day's mean, where each short hold's fixed calls dominate
            value = hour["per_instance_calls_per_held_hour"]
            mean = hour.get("hold_mean_min")
            per_hold = hour.get("per_instance_calls_per_hold")
            detail = f", {per_hold:.1f} calls per hold of {mean:.1f} min on average" if per_hold and mean else ""
            rows.append(
                [
                    "AWS calls per held instance-hour, 1 h HeartbeatTimeout: the fleet day's mean",
                    "≤ 4",
                    f"{value:.1f} (heartbeats {hour['heartbeats_per_held_hour']:.1f}{detail})",
                    _verdict(value, 4.0, below=False),
                    "(e)",
                ]
            )
    if real and "cold_import" in real:
        c = real["cold_import"]
        mode, label = ("shipped_zip", "shipped zip") if "shipped_zip_ms" in c else ("lambda_like", "Lambda-like")
        value = c.get(f"{mode}_ms")
        measured = f"{_n(value, ' ms')} median, {_n(c.get(f'{mode}_min_ms'), ' ms')} fastest"
        measured += f", {_n(c.get(f'{mode}_cpu_ms'), ' ms')} CPU"
        rows.append([f"cold `import gate.handler`, {label}", "< 300 ms", measured, _verdict(value, 300.0), "(c)"])
    if scale and "tick" in scale and "rounds" in scale["tick"]:
        t = scale["tick"]
        n = t["config"]["instances"]
        ok = "met" if t["every_heartbeat_in_time"] else "**not met**"
        rows.append(
            [
                f"one tick, {n:,} waiting instances, {t['config']['groups']} groups, {t['config']['pools']} pools: "
                "every heartbeat in time",
                "yes",
                f"{t['late_heartbeats']} late, {t['overdue_at_end']} overdue",
                ok,
                "(d)",
            ]
        )
    if live:
        ok = "met" if not live["hooks_timed_out"] and not live["builds_killed"] else "**not met**"
        rows.append(
            [
                f"{live['instances']:,} busy instances waiting, Azure DevOps at {live['azure_latency_s']:g} s a call",
                "0 timed out, 0 killed",
                f"{live['hooks_timed_out']} timed out, {live['builds_killed']} killed",
                ok,
                "(g)",
            ]
        )
    if faults:
        m = faults["matrix"]
        rows.append(
            [
                "a bench under faults: builds killed, hooks timed out, instance-hours, API calls per strategy",
                "every fault, every strategy",
                f"{len(m['strategies'])} strategies x {len(m['scenarios'])} scenarios",
                "met",
                "faults",
            ]
        )
    return table(["item (issue 15)", "target", "measured", "", "section"], rows, [False, True, True, False, False])


def render(results: Path) -> dict[str, str]:
    """Every table whose results file exists and holds its part."""
    out: dict[str, str] = {"targets": targets(results)}
    loaded: dict[str, dict[str, Any]] = {}
    for name, (file, fn) in TABLES.items():
        path = results / file
        if not path.is_file():
            continue
        doc = loaded.setdefault(file, json.loads(path.read_text()))
        try:
            out[name] = fn(doc)
        except (KeyError, TypeError):
            continue  # that part was not run (or failed): leave the document's table as it is
    return out


def splice(text: str, tables: dict[str, str]) -> str:
    for name, body in tables.items():
        tag = re.escape(name)
        pattern = re.compile(rf"(<!-- bench:{tag} -->\n)(?:.*?\n)?(<!-- /bench:{tag} -->)", re.S)
        text = pattern.sub(lambda m, body=body: m.group(1) + body + "\n" + m.group(2), text)  # type: ignore[misc]
    return text


def main(argv: Sequence[str]) -> int:
    if len(argv) != 2:
        print("usage: python -m bench.markdown RESULTS_DIR DOC.md", file=sys.stderr)
        return 2
    results, doc = Path(argv[0]), Path(argv[1])
    tables = render(results)
    doc.write_text(splice(doc.read_text(), tables))
    print(f"{doc}: {len(tables)} tables from {results} ({', '.join(tables)})")
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main(sys.argv[1:]))
