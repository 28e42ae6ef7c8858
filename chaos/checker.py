"""The invariant, checked only from the servers' records (the AWS emulator's lifecycle history and EC2 tags, the fake
Azure DevOps' agents, their enable/delete history and its job records) and the captured output, never from the
gate's own decision log.

A GitLab world's records (the fake GitLab's runners or managers, jobs, and the PUT/DELETE calls it served) come in
the same shape (chaos.gitlab_world.gitlab_records): a runner is an agent, pausing it is disabling it, a job is a
build; a shared runner's managers are agents that no user token can delete (exempt from clause 3), and any pause or
deletion of a shared runner is a foreign action (it would stop the whole fleet).

1. `build_killed`: an instance of a gate group ended (terminated by AWS after a completion or a timeout, or by EC2
   TerminateInstances) while a job assigned to one of its agents was still running; or the gate deleted an agent
   while it ran a job.
2. `timeout_during_build`: the gate's hook timed out (AWS applied its DefaultResult) while a job ran on the instance;
   except, with gate_outage, an ABANDON on a retaining group while the gate was down or not yet back for a tick.
3. `agent_left_behind`: at the end, after the world quiesced, an agent is still registered for a terminated instance
   of a gate group (except an ambiguous one, whose name mentions more than one instance: the gate must not touch it).
4. `foreign_action`: the gate disabled or deleted an agent whose instance was not waiting on the gate's hook at
   that moment (in service, in an unconfigured group), or an agent whose name mentions more than one instance
   (ambiguous: hands off); heartbeated or completed a hook that is not the gate's hook of a configured group;
   terminated (EC2) an instance that was not `Terminating:Retained` (or `Warmed:Terminating:Retained`: retained on
   its way out of a warm pool) in a gate group; or left `gate:*` tags on an instance of an unconfigured group.

Warm-pool instances (warm_pool) are instances of their group like any other: their hooks, terminations and agents
are judged by the same clauses (the emulator's history records them with their group).
5. `secret_in_output`: a secret value (PATs, the service hook secret), or its Basic-auth encoding, appears in
   anything the gate wrote (JSON lines, log records of its threads, decision records, failed invocations).

Times of the agent service are shifted back by the world's skew before they are compared with AWS's.
"""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass
from typing import Any

from chaos.world import FOREIGN_GROUP, HOOK, START, STEP, TICK_EVERY, RunRecords

_INSTANCE = re.compile(r"(?<![0-9a-z])i-[0-9a-f]{8,17}(?![0-9a-z])", re.IGNORECASE)
EPS = 1e-6
KINDS = ("build_killed", "timeout_during_build", "agent_left_behind", "foreign_action", "secret_in_output")


@dataclass(frozen=True)
class Violation:
    kind: str
    subject: str  # instance and/or agent
    detail: str

    def line(self) -> str:
        return f"{self.kind} {self.subject}: {self.detail}"


def _secret_forms(secret: str) -> list[str]:
    forms = [secret]
    for user in ("", "gate", "user", "pat"):
        forms.append(base64.b64encode(f"{user}:{secret}".encode()).decode())
    return forms


def check(rec: RunRecords) -> list[Violation]:
    out: list[Violation] = []
    skew = rec.skew
    configured = set(rec.configured)
    history = rec.history
    agents = rec.ado["agents"]
    builds = rec.ado["builds"]
    host = {a["id"]: a["capabilities"].get("AWS_INSTANCE_ID", "") for a in agents}

    def ours(iid: str) -> bool:
        return rec.instance_group.get(iid) in configured

    ended: dict[str, dict[str, Any]] = {}
    for h in history:
        if h["what"] == "terminated" and h["instance_id"] not in ended:
            ended[h["instance_id"]] = h
    waits: dict[str, float] = {}
    for h in history:
        if h["what"] == "wait" and h["hook"] == HOOK and h["instance_id"] not in waits:
            waits[h["instance_id"]] = h["time"]

    def running_at(iid: str, t: float) -> list[dict[str, Any]]:
        found = []
        for b in builds:
            if b["agent_id"] is None or host.get(b["agent_id"]) != iid or b["assigned_at"] is None:
                continue
            start = b["assigned_at"] - skew
            stop = None if b["finished_at"] is None else b["finished_at"] - skew
            if start < t - EPS and (stop is None or stop > t + EPS):
                found.append(b)
        return found

    # 1 and 2: builds killed, hooks timed out under a build
    for iid, h in ended.items():
        if not ours(iid):
            continue
        for b in running_at(iid, h["time"]):
            how = f"{h['by']}" + (f" {h['result']}" if h.get("result") else "")
            out.append(
                Violation("build_killed", f"{iid} agent {b['agent_id']}", f"job {b['id']} ran when it ended ({how})")
            )
    for b in builds:
        if b["result"] == "abandoned" and b["agent_id"] is not None:
            agent = next((a for a in agents if a["id"] == b["agent_id"]), None)
            if agent is not None and agent["deleted_by"] == "api":
                out.append(
                    Violation(
                        "build_killed",
                        f"{host.get(b['agent_id'])} agent {b['agent_id']}",
                        f"the gate deleted the agent while job {b['id']} ran",
                    )
                )
    for h in history:
        if h["what"] == "timeout" and h["hook"] == HOOK and ours(h["instance_id"]):
            if _outage_timeout(rec, h):
                continue
            jobs = running_at(h["instance_id"], h["time"])
            if jobs:
                out.append(
                    Violation(
                        "timeout_during_build",
                        h["instance_id"],
                        f"hook timed out ({h['result']}) while job {jobs[0]['id']} ran",
                    )
                )

    # 3: registrations left behind. An ambiguous agent (its name mentions more than one instance: the same test as
    # clause 4's "never act on it") is exempt: the gate must never touch it, so it cannot delete it either; the gate
    # reports it (hands off) and the operator must rename or remove it.
    for a in agents:
        iid = host.get(a["id"], "")
        ambiguous = len({m.lower() for m in _INSTANCE.findall(a["name"])}) > 1
        manager = a.get("registration") == "manager"  # a shared GitLab runner's: GitLab drops it, no user token can
        if not a["deleted"] and ours(iid) and iid in ended and not ambiguous and not manager:
            out.append(Violation("agent_left_behind", f"{iid} agent {a['id']}", f"{a['name']} still registered"))

    # 4: actions that are not the gate's to take
    for a in agents:
        iid = host.get(a["id"], "")
        mentioned = {m.lower() for m in _INSTANCE.findall(a["name"])}
        acts = [(e["time"] - skew, "disable") for e in a["history"] if e["by"] == "api" and not e["enabled"]]
        if a["deleted_by"] == "api" and a["deleted_at"] is not None:
            acts.append((a["deleted_at"] - skew, "delete"))
        for t, what in acts:
            if len(mentioned) > 1:
                out.append(
                    Violation(
                        "foreign_action",
                        f"{iid} agent {a['id']}",
                        f"{what} of an agent whose name mentions {len(mentioned)} instances",
                    )
                )
            elif not ours(iid):
                out.append(
                    Violation(
                        "foreign_action",
                        f"{iid} agent {a['id']}",
                        f"{what} of an agent of {rec.instance_group.get(iid, 'no group')}",
                    )
                )
            elif iid not in waits or waits[iid] > t + EPS:
                out.append(
                    Violation(
                        "foreign_action",
                        f"{iid} agent {a['id']}",
                        f"{what} while the instance was not waiting on the gate's hook",
                    )
                )
    for h in history:
        acted = h["what"] in ("heartbeat", "complete") and h["by"] in ("token", "instance")
        if acted and (h["hook"] != HOOK or h["group"] not in configured):
            out.append(Violation("foreign_action", h["instance_id"], f"{h['what']} on {h['group']}/{h['hook']}"))
        ec2_ended = h["what"] == "terminated" and h["by"] == "ec2" and ours(h["instance_id"])
        if ec2_ended and h["result"] not in ("Terminating:Retained", "Warmed:Terminating:Retained"):
            out.append(Violation("foreign_action", h["instance_id"], f"EC2 terminated it in state {h['result']}"))
    for act in rec.ado.get("shared_runner_actions", []):
        what = "paused" if act["what"] == "PUT" else "deleted"
        out.append(Violation("foreign_action", f"runner {act['runner']}", f"the gate {what} a shared runner"))
    for iid, tags in rec.gate_tags.items():
        if rec.instance_group.get(iid) == FOREIGN_GROUP:
            out.append(Violation("foreign_action", iid, f"gate tags on another group's instance: {sorted(tags)}"))

    # 5: secrets in anything the gate wrote
    for key, secret in rec.plan.secrets.items():
        for form in _secret_forms(secret):
            if form in rec.output:
                out.append(Violation("secret_in_output", key, "found in the gate's output"))
                break
    return _dedupe(out)


def _outage_timeout(rec: RunRecords, h: dict[str, Any]) -> bool:
    """A timeout the gate could not prevent (gate_outage): it was down, or not yet back for a tick, when the hook ran
    out, and the group retains on abandon (the instance is kept, its build runs on: clause 1 still judges its end)."""
    group = next((g for g in rec.plan.groups if g.name == h["group"]), None)
    if group is None or not group.retain or h.get("result") != "ABANDON":
        return False
    grace = TICK_EVERY + STEP  # the first tick after the outage sends the due heartbeats
    return any(START + s <= h["time"] <= START + e + grace for s, e in rec.plan.outages)


def _dedupe(items: list[Violation]) -> list[Violation]:
    seen: set[Violation] = set()
    return [v for v in items if not (v in seen or seen.add(v))]  # type: ignore[func-returns-value]


def notes(rec: RunRecords) -> dict[str, int]:
    """Not violations, but worth a count: gate hook timeouts without a build, instances still held at the end (a
    hold the simulation's 30 minutes did not see end: safe, but the instance is stuck until the hook gives up)."""
    idle_timeouts = sum(
        1 for h in rec.history if h["what"] == "timeout" and h["hook"] == HOOK and h["group"] in rec.configured
    )
    waited = {h["instance_id"] for h in rec.history if h["what"] == "wait" and h["hook"] == HOOK}
    ended = {h["instance_id"] for h in rec.history if h["what"] == "terminated"}
    held = {i for i in waited - ended if rec.instance_group.get(i) in rec.configured}
    return {"gate_hook_timeouts": idle_timeouts, "held_at_end": len(held)}
