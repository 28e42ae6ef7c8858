"""Read-only views for the CLI (`gate check`, `gate status`): they return data and act on nothing."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any

from gate.domain.decide import Decision
from gate.domain.model import WAIT_STATES, Agent, Waiting

if TYPE_CHECKING:
    from gate.service.triggers import Gate


def explain(gate: Gate, instance_id: str) -> tuple[Waiting, list[Agent], Decision, str | None]:
    """What the gate would decide for this instance right now: (instance, its agents, decision, agent error)."""
    group, state = gate.aws.instance_state(instance_id)
    group, state = group or "(no group)", state or "(not in a group)"
    details = gate.aws.describe_instances([instance_id]).get(instance_id, {})
    waiting = Waiting(group, instance_id, gate.settings.hook_name, state, **details)
    waiting = dataclasses.replace(waiting, action_id=_action_ids(gate, {group: [instance_id]}).get(instance_id))
    observed = gate.observe()
    decision = gate.judgment.decide(waiting, observed, gate.clock.now())
    return waiting, observed.agents_for(waiting), decision, observed.error


def status(gate: Gate) -> tuple[list[dict[str, Any]], str | None]:
    """Every instance of the configured groups with its state, protection and agents; and the agent error."""
    observed = gate.observe()
    rows: list[dict[str, Any]] = []
    by_group: dict[str, list[dict[str, Any]]] = {}
    for name, inst in gate.aws.group_instances(list(gate.settings.groups)):
        by_group.setdefault(name, []).append(inst)
    for name, instances in by_group.items():
        details = gate.aws.describe_instances(i["InstanceId"] for i in instances)
        waits = [i["InstanceId"] for i in instances if i["LifecycleState"] in WAIT_STATES]
        actions = _action_ids(gate, {name: waits}) if waits else {}
        for inst in instances:
            iid = inst["InstanceId"]
            w = Waiting(
                name,
                iid,
                gate.settings.hook_name,
                inst["LifecycleState"],
                **details.get(iid, {}),
                action_id=actions.get(iid),
            )
            rows.append(
                {
                    "group": w.group,
                    "instance": iid,
                    "state": w.lifecycle_state,
                    "protected": bool(inst.get("ProtectedFromScaleIn")),
                    "agents": observed.agents_for(w) if observed.index is not None else None,
                    "held_since": w.held_since,
                }
            )
    return rows, observed.error


def _action_ids(gate: Gate, wanted: dict[str, list[str]]) -> dict[str, str]:
    """The lifecycle actions' identities (gate.domain.holdstate): the hold tags are believed only for them. A view never
    fails on it: without an identity the decision says so."""
    try:
        return gate.aws.action_ids(wanted)
    except Exception:  # AwsError, or an in-process stand-in without the call
        return {}
