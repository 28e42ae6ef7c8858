"""Read-only views for the CLI (`gate check`, `gate status`): they return data and act on nothing."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from gate.domain.decide import Decision
from gate.domain.model import WAIT_STATES, Agent, Waiting

if TYPE_CHECKING:
    from gate.service.triggers import Gate


@dataclass(frozen=True)
class Explained:
    """What the gate would do for one instance now: its decision, and the plan a real round would carry out."""

    waiting: Waiting
    agents: list[Agent]
    decision: Decision
    plan: list[str]  # the calls a real round would make, in order, then hold or release (empty: nothing)
    agent_error: str | None


def explain(gate: Gate, instance_id: str) -> Explained:
    """One round of the gate for this instance, in plan mode (the gate must be a dry-run one: it acts on nothing).

    The steps a real round takes, in its order and through its code: the heartbeat pass (the proof that the action
    is the gate's, planned: gate.service.heartbeats), the agent list, the judgment and the executor (gate.service
    .execute's plan mode). An instance that does not wait on a configured group's hook is not heartbeated: its
    decision is what would apply were it scaled in now, and the plan is empty (the gate does nothing now)."""
    if not gate.settings.dry_run:
        raise ValueError("explain needs a dry-run gate (settings.dry_run): it must act on nothing")
    group, state = gate.aws.instance_state(instance_id)
    group, state = group or "(no group)", state or "(not in a group)"
    details = gate.aws.describe_instances([instance_id]).get(instance_id, {})
    waiting = Waiting(group, instance_id, gate.settings.hook_name, state, **details)
    waiting = dataclasses.replace(waiting, action_id=_action_ids(gate, {group: [instance_id]}).get(instance_id))
    observed = gate.observe([waiting])
    agents = observed.agents_for(waiting)
    if group not in gate.settings.groups or state not in WAIT_STATES:
        return Explained(waiting, agents, gate.judgment.decide(waiting, observed, gate.clock.now()), [], observed.error)
    gate.heartbeats.run([(waiting, gate.hooks.heartbeat_every(group))], gate.clock.now() + PLAN_SECONDS)
    judged = gate.judgment.judge(waiting, observed, gate.clock.now())
    if judged.decision is None:  # judge never raises: an unexpected failure is its record's reason
        raise RuntimeError(judged.done.reason)
    return Explained(waiting, agents, judged.decision, judged.done.planned or [], observed.error)


PLAN_SECONDS = 30.0  # the planned heartbeat's deadline (nothing is sent: it only bounds the worker pool's wait)


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
