"""`gate check` and `gate status`: read-only views built on gate.service.views.explain / status. Neither acts on
anything."""

from __future__ import annotations

from typing import Any

from rich import box
from rich.markup import escape
from rich.table import Table

from cli.common import AwsTarget, console, emit_json, fail, print_target, say, short_id
from gate.domain.model import WAIT_STATES, Agent
from gate.domain.timestamps import format_ts
from gate.service.triggers import Gate
from gate.service.views import explain, status

WIDE = 120  # below this many columns, agent names are shortened


def _agents(agents: list[Agent] | None) -> str:
    if agents is None:
        return "(agent system unavailable)"
    if not agents:
        return "none found"
    return ", ".join(
        f"{a.label()} {'busy' if a.busy else 'idle'}{'' if a.enabled else f' {a.stop_verb}d'}" for a in agents
    )


def _agents_cell(agents: list[Agent] | None, instance_id: str, compact: bool, single_pool: bool) -> str:
    """Compact (narrow terminal): no pool when only one is configured, the instance id in agent names shortened."""
    if not compact or not agents:
        return _agents(agents)
    short = short_id(instance_id)
    parts = []
    for a in agents:
        name = a.name.replace(instance_id, short)
        label = f"{name}#{a.id}" if single_pool else f"{a.pool}/{name}#{a.id}"
        parts.append(f"{label} {'busy' if a.busy else 'idle'}{'' if a.enabled else ',off'}")
    return ", ".join(parts)


def _duration(seconds: float) -> str:
    seconds = max(0, int(seconds))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"


def _agent_json(a: Agent) -> dict[str, Any]:
    return {
        "name": a.name,
        "pool": a.pool,
        "id": a.id,
        "enabled": a.enabled,
        "busy": a.busy,
        "request": a.assigned_request,
    }


def _confirmed(lines: list[str]) -> None:
    """What the preflight checked and found (the hook's name, transition and timeouts; the pools), one dim line each."""
    for line in lines:
        console.print(f"[dim]confirmed: {escape(line)}[/]", highlight=False)  # wrapped at word boundaries


def _in(target: AwsTarget | None) -> str:
    return f" in {target.where()}" if target is not None else ""


def show_check(
    gate: Gate, instance_id: str, json_out: bool, confirmed: list[str] | None = None, target: AwsTarget | None = None
) -> None:
    try:
        seen = explain(gate, instance_id)
    except Exception as exc:
        fail(f"cannot look at {instance_id}{_in(target)}: {exc}")
    waiting, agents, decision, error = seen.waiting, seen.agents, seen.decision, seen.agent_error
    if waiting.lifecycle_state == "(not in a group)":
        fail(f"{instance_id} is not in any Auto Scaling group (or does not exist){_in(target)}")
    configured = waiting.group in gate.settings.groups
    is_waiting = waiting.lifecycle_state in WAIT_STATES
    if not configured:
        verdict = f"group {waiting.group} is not in GATE_GROUPS: the gate ignores this instance"
    elif not is_waiting:
        verdict = (
            f"not waiting on the hook ({waiting.lifecycle_state}): the gate does nothing now; "
            "were it scaled in now, the decision below would apply"
        )
    else:
        verdict = f"waiting on the hook {gate.settings.hook_name}: the gate acts on it"
    data: dict[str, Any] = {
        "instance": instance_id,
        "group": waiting.group,
        "configured_group": configured,
        "lifecycle_state": waiting.lifecycle_state,
        "waiting": is_waiting,
        "held_since": format_ts(waiting.held_since) if waiting.held_since else None,
        "agents": None if error else [_agent_json(a) for a in agents],
        "busy": None if error else any(a.busy for a in agents),
        "agent_error": error,
        "decision": str(decision.outcome),
        "reason": decision.reason,
        "would": seen.plan if configured else [],  # a real round's calls, in order, then hold or release
        "verdict": verdict,
        "dry_run": True,
        "confirmed": confirmed or [],
        "aws": target.as_json() if target else None,
    }
    if json_out:
        emit_json(data)
        return
    if target is not None:
        print_target(target)
    busy = "unknown" if error else ("busy" if data["busy"] else "idle")

    print_ = say  # one line per fact (grep-able), wrapped at word boundaries on a terminal

    print_(f"[bold]{instance_id}[/] in {escape(waiting.group)}: {escape(waiting.lifecycle_state)}")
    print_(f"  {escape(verdict)}")
    if waiting.held_since:
        print_(f"  held since: {data['held_since']}")
    agent_text = _agents(None if error else agents) + (f" ({error})" if error else "")
    print_(f"  agents:   {escape(agent_text)}")
    print_(f"  busy:     {busy}")
    if configured:
        print_(f"  decision: [bold]{decision.outcome}[/]: {escape(decision.reason)}")
        if not data["would"]:
            print_("  would:    nothing")
        else:  # the plan of one real round, in its order (gate.service.execute's plan mode)
            print_("  would:")
            for n, step in enumerate(data["would"], 1):
                print_(f"    {n}. {escape(step)}")
    print_("  dry run: nothing was done")
    _confirmed(confirmed or [])


def show_status(
    gate: Gate, json_out: bool, confirmed: list[str] | None = None, target: AwsTarget | None = None
) -> None:
    try:
        rows, error = status(gate)
    except Exception as exc:
        fail(f"cannot read the groups{_in(target)}: {exc}")
    if json_out:
        out = [
            dict(
                r,
                agents=None if r["agents"] is None else [_agent_json(a) for a in r["agents"]],
                busy=None if r["agents"] is None else any(a.busy for a in r["agents"]),
                held_since=format_ts(r["held_since"]) if r["held_since"] else None,
            )
            for r in rows
        ]
        emit_json(
            {
                "groups": list(gate.settings.groups),
                "instances": out,
                "agent_error": error,
                "confirmed": confirmed or [],
                "aws": target.as_json() if target else None,
            }
        )
        return
    if target is not None:
        print_target(target)
    compact = console.width < WIDE
    groups = sorted({r["group"] for r in rows} | set(gate.settings.groups))
    single_group = len(groups) == 1
    single_pool = len(gate.settings.pools) <= 1
    title = "asg-termination-gate status" + (f": group {groups[0]}" if single_group else "")
    table = Table(title=title, box=box.SIMPLE_HEAD, pad_edge=False, collapse_padding=True, title_justify="left")
    cols = ([] if single_group else ["group"]) + ["instance", "lifecycle state", "prot", "agents", "held"]
    for col in cols:
        # ids and states never break; the agents (and a long group name) fold onto more lines instead
        table.add_column(col, overflow="fold", no_wrap=col in ("instance", "lifecycle state", "prot", "held"))
    now = gate.clock.now()
    for r in rows:
        cells = [] if single_group else [r["group"]]
        cells += [
            r["instance"],
            r["state"],
            "yes" if r["protected"] else "no",
            _agents_cell(r["agents"], r["instance"], compact, single_pool),
            _duration(now - r["held_since"]) if r["held_since"] else "-",
        ]
        table.add_row(*(escape(c) for c in cells))
    if rows:
        console.print(table)
    else:
        console.print(f"no instances in the configured groups ({', '.join(gate.settings.groups)})", highlight=False)
    if error:
        say(f"[yellow]agent system unavailable:[/] {escape(error)}")
    _confirmed(confirmed or [])
