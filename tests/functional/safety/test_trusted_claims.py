"""A claim in an input is never believed over a server's own record (the class of the `Origin: WarmPool` release).

A lifecycle event is a trigger, never evidence. Its `LifecycleActionToken` is such a claim: the gate heartbeated and
completed by it, so a token belonging to another instance's action (forged, or copied from that instance's own event)
completed *that* instance, busy or not, on the judgment of the instance the event named; and a token AWS rejects
(forged, or stale: an earlier action of an instance that came back from a warm pool) made the gate believe the
action gone and stop heartbeating it, until the hook timed out under a running build. The gate acts by instance id
under its own hook: Auto Scaling's record of which action waits decides, whatever the event says.

A default the gate fills in is a claim too: a GitHub runner record without `busy` was read as `busy: false`, and the
instance released under its running job (GitHub's refusal to delete a runner mid-job was all that stopped it).

So is the hold's own memory of an agent id (`s=` in its tag): an agent seen earlier and missing from the list was
asked for by id and taken for the instance's whatever its record said, so a registration replaced from an in-service
instance (same id) was disabled and then deleted with the victim's release. The agent's record decides whose it is.

On the AWS emulator and the fake Azure DevOps, over HTTP, on a ManualClock."""

from __future__ import annotations

import copy
import uuid
from typing import Any

from emulator.azure_devops import FakeAzureDevOps
from emulator.sandbox import Sandbox
from gate.domain.clock import ManualClock
from gate.handler import dispatch
from tests.functional.features.conftest import clock, history, make_group, protect, sandbox
from tests.support.github import FakeGitHub

__all__ = ["clock", "sandbox"]  # the fleet features' fixtures: a Sandbox on a ManualClock

GROUP = "ci-agents"


def test_a_token_of_another_instance_never_completes_that_instance(sandbox: Sandbox, clock: ManualClock) -> None:
    """The event names an idle instance and carries the busy one's token: the idle one is judged and released, by its
    own action; the busy one is never completed, its build runs on and its agent stays registered."""
    group = make_group(sandbox, size=3)
    idle, busy, kept = group.instances
    assert sandbox.ado is not None
    build = sandbox.ado.start_build(group.agents[busy], 3600)
    protect(sandbox, GROUP, [kept])
    sandbox.scale_to(GROUP, 1)
    events = {e["detail"]["EC2InstanceId"]: e for e in sandbox.receive_events()}
    assert set(events) == {idle, busy}
    crossed = copy.deepcopy(events[idle])
    crossed["detail"]["LifecycleActionToken"] = events[busy]["detail"]["LifecycleActionToken"]

    gate = sandbox.gate()
    for _ in range(3):  # past the assignment lag bound of the idle instance's disable
        dispatch(gate, crossed)
        clock.advance(61)

    assert busy not in history(sandbox, "complete"), "the busy instance was completed on another instance's judgment"
    assert sandbox.lifecycle_states(GROUP)[busy] == "Terminating:Wait"
    assert sandbox.ado.build(build)["finished_at"] is None  # not killed
    agent = sandbox.ado.agent(group.agents[busy])
    assert agent is not None and not agent["deleted"]  # its registration is not another instance's to clean up
    [done] = history(sandbox, "complete")[idle]  # the instance the event named is the one released
    assert done["result"] == "CONTINUE"
    idle_agent = sandbox.ado.agent(group.agents[idle])
    assert idle_agent is not None and idle_agent["deleted"]


def test_a_token_aws_rejects_never_stops_the_heartbeats(sandbox: Sandbox, clock: ManualClock) -> None:
    """A lifecycle event for a busy waiting instance, with a token AWS does not know (forged, or stale), delivered
    again and again between the ticks: the hook is heartbeated all along and never times out under the build."""
    group = make_group(sandbox, size=2)  # HeartbeatTimeout 300 s: the gate heartbeats every 100 s
    busy, kept = group.instances
    assert sandbox.ado is not None
    build = sandbox.ado.start_build(group.agents[busy], 3600)
    protect(sandbox, GROUP, [kept])
    sandbox.scale_to(GROUP, 1)
    [event] = sandbox.receive_events()
    forged = copy.deepcopy(event)
    forged["detail"]["LifecycleActionToken"] = str(uuid.uuid4())

    gate = sandbox.gate()
    gate.tick(0)  # one round: heartbeat, disable the busy agent
    outcomes: set[str] = set()
    for _ in range(12):  # 12 x 70 s = 840 s, almost three heartbeat timeouts
        clock.advance(70)
        outcomes |= {r["outcome"] for r in dispatch(gate, forged)}
        gate.tick(0)

    assert not history(sandbox, "timeout"), "the hook timed out under a running build"
    assert outcomes == {"held"}  # never `gone`: AWS refusing the event's token says nothing of the action
    assert sandbox.lifecycle_states(GROUP)[busy] == "Terminating:Wait"
    assert sandbox.ado.build(build)["finished_at"] is None
    beats = history(sandbox, "heartbeat")[busy]
    assert len(beats) >= 3 and {b["by"] for b in beats} == {"instance"}  # never by the event's token


class GitHubWithoutBusy(FakeGitHub):
    """A runners API whose records leave out `busy` (an older GitHub Enterprise Server, a proxy that strips what it
    does not know): the service says nothing about whether a runner runs a job."""

    def _runner_json(self, r: Any) -> dict[str, Any]:
        record = super()._runner_json(r)
        del record["busy"]
        return record


def test_a_runner_record_without_busy_is_not_an_idle_runner(sandbox: Sandbox, clock: ManualClock) -> None:
    """No `busy` field is not `busy: false`: the instance whose runner runs a job is held. Without the registration's
    delete before the completion (GATE_DELETE_AGENT_ON_RELEASE=false), nothing else would refuse the release: GitHub
    refuses to delete a runner mid-job, which is all that stopped it with the default."""
    token = "ghs_fakeinstallationtoken0123456789"
    with GitHubWithoutBusy(clock=clock, token=token) as github:
        group = make_group(sandbox, size=2, agents=False)
        victim, kept = group.instances
        runner = github.add_runner(f"ci-{victim}", org="acme")
        github.add_runner(f"ci-{kept}", org="acme")
        job = github.start_job(runner, 3600)
        protect(sandbox, GROUP, [kept])
        settings = sandbox.settings(
            agent_system="github",
            github_api_url=github.url,
            github_org="acme",
            github_token=token,
            delete_agent_on_release=False,
        )
        gate = sandbox.gate(settings)
        sandbox.scale_to(GROUP, 1)
        for _ in range(5):  # past the unregistered grace, the lag bound and idle confirmation
            gate.tick()
            clock.advance(120)

        assert victim not in history(sandbox, "complete"), "released on a runner record that did not say busy"
        reasons = {r["reason"] for r in sandbox.log.records if r["instance"] == victim}
        assert not any("idle" in r for r in reasons), reasons
        assert next(j for j in github.jobs() if j["id"] == job)["finished_at"] is None


def replace_registration(ado: FakeAzureDevOps, agent_id: int, instance_id: str) -> None:
    """`config.sh --replace` on another machine: Azure DevOps keeps the agent's id (ReplaceAgent) and takes the new
    machine's capabilities and name, enabled and online. The fake has no route for it: its record is edited."""
    with ado._lock:
        agent = ado._agents[agent_id]
        agent.capabilities = {**agent.capabilities, "AWS_INSTANCE_ID": instance_id}
        agent.computer_name = f"ip-{instance_id[2:10]}"
        agent.enabled = agent.online = True


def test_an_agent_seen_in_the_hold_that_now_names_another_instance_is_not_touched(
    sandbox: Sandbox, clock: ManualClock
) -> None:
    """The hold remembers agent N as the victim's (its tag's `s=`); N's registration is then replaced from an
    in-service instance (same id, that instance's capabilities). The agent system's record says whose N is now: the
    victim's hold never disables or deletes it, and holds (hands off) instead of releasing on a guess."""
    group = make_group(sandbox, size=2)
    victim, other = group.instances
    ado = sandbox.ado
    assert ado is not None
    protect(sandbox, GROUP, [other])
    sandbox.scale_to(GROUP, 1)
    gate = sandbox.gate(sandbox.settings(mapping="capability"))
    gate.tick(0)  # the victim's agent is disabled: seen in its hold
    moved = group.agents[victim]
    first = ado.agent(moved)
    assert first is not None and first["enabled"] is False
    ado.remove_agent(group.agents[other])
    replace_registration(ado, moved, other)
    build = ado.start_build(moved, 20)  # the other instance runs a short job on it: its job requests show it ended

    for _ in range(8):  # past the lag bound and the absence confirmation
        clock.advance(30)
        gate.tick(0)

    agent = ado.agent(moved)
    assert agent is not None and not agent["deleted"], "another instance's agent registration was deleted"
    assert agent["enabled"], "another instance's agent was disabled"
    assert ado.build(build)["finished_at"] is not None
    assert victim not in history(sandbox, "complete")
