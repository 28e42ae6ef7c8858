"""ECS container-instance draining end to end: AWS emulator (moto ECS + emulator.ecs), fake Azure DevOps, the
real handler over HTTP. Order (docs/architecture.md): disable agent -> wait until idle -> DRAINING -> wait for the
watched tasks -> complete."""

from __future__ import annotations

from emulator import ecs as ecs_emulator
from emulator.sandbox import Sandbox
from gate.domain.clock import ManualClock
from tests.functional.features.conftest import deliver, history, make_group, protect

CLUSTER = "agents"


# These tests are about ECS draining; the assignment lag bound (60 s) has its own tests in tests/judgment.
LAG = 5


def world(sandbox: Sandbox) -> tuple[list[str], dict[str, str]]:
    group = make_group(sandbox)
    arns = sandbox.create_ecs_cluster(CLUSTER, "ci-agents")
    protect(sandbox, "ci-agents", group.instances[1:])  # instance 0 is the victim
    return group.instances, arns


def test_drains_only_after_the_agent_is_idle_and_waits_for_watched_tasks(sandbox: Sandbox, clock: ManualClock) -> None:
    instances, arns = world(sandbox)
    victim, ci = instances[0], arns[instances[0]]
    assert sandbox.ado is not None
    build = sandbox.ado.start_build(sandbox.groups["ci-agents"].agents[victim], 240)
    web = sandbox.start_ecs_task(CLUSTER, ci, "service:web", family="web")
    sandbox.start_ecs_task(CLUSTER, ci, "service:datadog", family="dd")  # a daemon: not waited for
    sandbox.start_ecs_task(CLUSTER, ci, "family:azp-agent", family="azp-agent")  # the agent's own standalone task
    sandbox.start_ecs_task(CLUSTER, arns[instances[1]], "service:web", family="web")  # another instance's task
    gate = sandbox.gate(
        sandbox.settings(
            assignment_lag_seconds=LAG,
            ecs_cluster=CLUSTER,
            ecs_drain=True,
            ecs_wait_tasks=True,
            ecs_ignore_task_groups="service:datadog,family:azp-*",
        )
    )
    sandbox.scale_to("ci-agents", 2)
    deliver(gate, sandbox)

    # busy: the agent is disabled, the container instance stays ACTIVE (DRAINING would stop service tasks)
    statuses = []
    while sandbox.ado.build(build)["finished_at"] is None:
        statuses.append(sandbox.container_instance_status(CLUSTER, ci))
        gate.tick()
    assert set(statuses) == {"ACTIVE"} and len(statuses) >= 4
    agent = sandbox.ado.agent(sandbox.groups["ci-agents"].agents[victim])
    assert agent is not None and not agent["enabled"]

    # idle: DRAINING, then held while the service task runs, also while it is STOPPING
    gate.tick()
    assert sandbox.container_instance_status(CLUSTER, ci) == "DRAINING"
    drained = [r for r in sandbox.log.records if any("DRAINING" in a for a in r.get("actions", []))]
    assert len(drained) == 1 and drained[0]["outcome"] == "held"
    assert "1 task(s) still running (service:web)" in sandbox.log.records[-1]["reason"]
    ecs_emulator.set_task_status(web, "STOPPING", "STOPPED")
    gate.tick()
    assert not history(sandbox, "complete") and "still running" in sandbox.log.records[-1]["reason"]

    sandbox.client("ecs").stop_task(cluster=CLUSTER, task=web)
    gate.tick()
    done = history(sandbox, "complete")[victim][0]
    assert done["result"] == "CONTINUE" and done["time"] >= sandbox.ado.build(build)["finished_at"]
    assert sandbox.log.records[-1]["outcome"] == "released" and "DRAINING" in sandbox.log.records[-1]["reason"]
    assert sandbox.ado.build(build)["result"] == "succeeded"
    assert sandbox.container_instance_status(CLUSTER, arns[instances[1]]) == "ACTIVE"
    assert not history(sandbox, "timeout")


def test_without_waiting_for_tasks_release_follows_draining(sandbox: Sandbox, clock: ManualClock) -> None:
    instances, arns = world(sandbox)
    sandbox.start_ecs_task(CLUSTER, arns[instances[0]], "service:web", family="web")
    gate = sandbox.gate(sandbox.settings(assignment_lag_seconds=LAG, ecs_cluster=CLUSTER, ecs_drain=True))
    sandbox.scale_to("ci-agents", 2)
    deliver(gate, sandbox)  # idle agent: disable, confirm idle, DRAINING, next round complete
    assert sandbox.container_instance_status(CLUSTER, arns[instances[0]]) == "DRAINING"
    assert history(sandbox, "complete")[instances[0]][0]["result"] == "CONTINUE"
    reasons = [r["reason"] for r in sandbox.log.records if r["instance"] == instances[0]]
    assert any("setting the container instance DRAINING" in r for r in reasons)
    assert reasons[-1].endswith("container instance DRAINING")


def test_an_instance_unknown_to_ecs_is_released_normally(sandbox: Sandbox, clock: ManualClock) -> None:
    group = make_group(sandbox, size=2)
    sandbox.client("ecs").create_cluster(clusterName=CLUSTER)
    ecs_emulator.install()
    protect(sandbox, "ci-agents", group.instances[1:])
    gate = sandbox.gate(
        sandbox.settings(assignment_lag_seconds=LAG, ecs_cluster=CLUSTER, ecs_drain=True, ecs_wait_tasks=True)
    )
    sandbox.scale_to("ci-agents", 1)
    deliver(gate, sandbox)
    assert history(sandbox, "complete")[group.instances[0]][0]["result"] == "CONTINUE"


def test_ecs_unreachable_holds_fail_safe(sandbox: Sandbox, clock: ManualClock) -> None:
    instances, _ = world(sandbox)
    gate = sandbox.gate(sandbox.settings(assignment_lag_seconds=LAG, ecs_cluster="no-such-cluster", ecs_drain=True))
    sandbox.scale_to("ci-agents", 2)
    deliver(gate, sandbox)
    assert not history(sandbox, "complete")
    last = sandbox.log.records[-1]
    assert last["outcome"] == "held" and "ECS unavailable" in last["reason"] and "fail safe" in last["reason"]
    assert history(sandbox, "heartbeat")[instances[0]]
