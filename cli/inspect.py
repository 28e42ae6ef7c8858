"""`gate check` and `gate status`: read-only views built on Gate.explain / Gate.status."""

from __future__ import annotations

import json
from typing import Any

from rich.table import Table

from cli.common import console, fail
from gate.execute import describe
from gate.model import Agent, format_ts
from gate.reconcile import Gate


def _agents(agents: list[Agent] | None) -> str:
    if agents is None:
        return "(agent system unavailable)"
    if not agents:
        return "none found"
    return ", ".join(f"{a.label()} {'busy' if a.busy else 'idle'}{'' if a.enabled else ' disabled'}" for a in agents)


def show_check(gate: Gate, instance_id: str, json_out: bool) -> None:
    try:
        waiting, agents, decision, error = gate.explain(instance_id)
    except Exception as exc:
        fail(f"cannot look at {instance_id}: {exc}")
    data: dict[str, Any] = {
        "instance": instance_id,
        "group": waiting.group,
        "lifecycle_state": waiting.lifecycle_state,
        "agents": [
            {
                "name": a.name,
                "pool": a.pool,
                "id": a.id,
                "enabled": a.enabled,
                "busy": a.busy,
                "request": a.assigned_request,
            }
            for a in agents
        ],
        "agent_error": error,
        "decision": str(decision.outcome),
        "reason": decision.reason,
        "would": [describe(a) for a in decision.actions],
    }
    if json_out:
        console.print_json(json.dumps(data))
        return
    console.print(f"[bold]{instance_id}[/] in {waiting.group}: {waiting.lifecycle_state}", highlight=False)
    console.print(
        f"  agents:   {_agents(None if error else agents)}" + (f" ({error})" if error else ""), highlight=False
    )
    console.print(f"  decision: [bold]{decision.outcome}[/]: {decision.reason}", highlight=False)
    console.print(f"  would:    {', '.join(data['would']) or 'nothing'}  (dry run: nothing was done)", highlight=False)


def show_status(gate: Gate, json_out: bool) -> None:
    try:
        rows, error = gate.status()
    except Exception as exc:
        fail(f"cannot read the groups: {exc}")
    if json_out:
        out = [dict(r, agents=None if r["agents"] is None else [a.label() for a in r["agents"]]) for r in rows]
        console.print_json(json.dumps({"instances": out, "agent_error": error}))
        return
    table = Table(title="asg-termination-gate status")
    for col in ("group", "instance", "lifecycle state", "protected", "agents", "held since"):
        table.add_column(col)
    for r in rows:
        table.add_row(
            r["group"],
            r["instance"],
            r["state"],
            "yes" if r["protected"] else "no",
            _agents(r["agents"]),
            format_ts(r["held_since"]) if r["held_since"] else "-",
        )
    console.print(table)
    if error:
        console.print(f"[yellow]agent system unavailable:[/] {error}", highlight=False)
    if not rows:
        console.print("no instances in the configured groups")
