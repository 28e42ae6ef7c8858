"""Issue 18, evidence gaps over HTTP (the chaos simulation's `missing_fields` class, seeds 132, 1001 and 1110).

* With the busy field missing, idle needs positive evidence: an agent seen busy is idle again only on a job request
  of it seen finished (finishTime), and an empty job-request answer for an agent the agent list lacks is none. The
  fake Azure DevOps drops `assignedRequest` from every record and empties every list; the gate used to judge the
  agent idle, delete it under its running job and complete.
* The unregistered grace counts only time in which the gate could see the agents: every agent list failed (count !=
  len(value)) for longer than the grace, and the first complete list (empty) used to release the instance at once.
* A list that leaves out an agent which still exists is not complete, whatever its `count` says (seed 299): an
  emptied list used to start the grace of an instance scaled in meanwhile, and release it with its build running.

Verdicts come from the fake's builds and agent records and the AWS emulator's lifecycle history.
"""

from __future__ import annotations

from tests.support.world import World, outcomes


def test_a_busy_agent_behind_a_missing_busy_field_and_emptied_lists_is_not_taken_as_idle(world: World) -> None:
    victim = world.group.instances[0]
    agent = world.group.agents[victim]
    job = world.ado.start_build(agent, 400)
    [iid] = world.scale_in(2, protect=[1, 2])
    assert iid == victim
    gate = world.gate()
    records = gate.tick(budget=20)  # seen busy (assignedRequest), disabled
    assert "released" not in outcomes(records, iid)
    # Seed 132 / 1001: records without assignedRequest and every list emptied (agents and job requests).
    world.ado.inject("no_assigned_request", count=None)
    world.ado.inject("empty_list", count=None)
    records = gate.tick(budget=300)
    assert "released" not in outcomes(records, iid), "released on an emptied job-request list"
    assert iid not in world.history("complete")
    snapshot = world.ado.agent(agent)
    assert snapshot is not None and not snapshot["deleted"], "deleted under its running job"
    assert world.ado.build(job)["finished_at"] is None  # still running
    world.ado.clear_faults()
    records = gate.tick(budget=200)  # the job ends; its finished request shows: released
    assert outcomes(records, iid)[-1] == "released"
    released = float(world.history("complete")[iid][0]["time"])
    build = world.ado.build(job)
    assert build["result"] == "succeeded" and build["finished_at"] <= released


def test_a_request_seen_unfinished_that_drops_out_of_the_job_request_list_is_not_finished(world: World) -> None:
    """Seed 1001: the agent list is whole (the agent is listed), but without assignedRequest, and only the job
    request list comes back emptied: the request seen unfinished is not finished until seen with a finishTime."""
    victim = world.group.instances[0]
    agent = world.group.agents[victim]
    job = world.ado.start_build(agent, 400)
    [iid] = world.scale_in(2, protect=[1, 2])
    gate = world.gate()
    world.ado.inject("no_assigned_request", count=None)
    records = gate.tick(budget=20)  # busy field missing: its job requests show request `job` unfinished
    assert "released" not in outcomes(records, iid)
    world.ado.inject("empty_list", count=None, path_contains="jobrequests")
    records = gate.tick(budget=300)
    assert "released" not in outcomes(records, iid), "a request that vanished from the list was taken as finished"
    snapshot = world.ado.agent(agent)
    assert snapshot is not None and not snapshot["deleted"]
    world.ado.clear_faults()
    world.ado.inject("no_assigned_request", count=None)  # the busy field stays missing: finishTime decides
    records = gate.tick(budget=200)
    assert outcomes(records, iid)[-1] == "released"
    released = float(world.history("complete")[iid][0]["time"])
    build = world.ado.build(job)
    assert build["result"] == "succeeded" and build["finished_at"] <= released


def test_the_unregistered_grace_does_not_count_while_every_agent_list_fails(world: World) -> None:
    """Seed 1110: agent lists fail (count != len(value)) for longer than the grace (60 s here); the first complete
    list is empty. It starts the grace; an agent that registers meanwhile and takes a job is waited for."""
    victim = world.group.instances[0]
    world.ado.remove_agent(world.group.agents[victim])  # no agent registered yet (a slow boot)
    [iid] = world.scale_in(2, protect=[1, 2])
    assert iid == victim
    gate = world.gate()
    world.ado.inject("count_mismatch", seconds=90, path_contains="/agents")
    records = gate.tick(budget=100)  # blind for 90 s, then one or two complete empty lists
    assert "released" not in outcomes(records, iid), "released on the first complete list after a blind grace"
    assert iid not in world.history("complete")
    late = world.ado.add_agent(world.group.pool, f"agent-{victim}")  # registers late and takes a job at once
    job = world.ado.start_build(late, 60)
    records = gate.tick(budget=300)
    assert outcomes(records, iid)[-1] == "released"
    released = float(world.history("complete")[iid][0]["time"])
    build = world.ado.build(job)
    assert build["result"] == "succeeded" and build["finished_at"] <= released
    snapshot = world.ado.agent(late)
    assert snapshot is not None and snapshot["deleted"]


def test_a_list_that_leaves_out_an_agent_which_exists_is_not_evidence_that_an_instance_has_none(world: World) -> None:
    """Seed 299 (missing_fields: empty lists). One instance is held with its agent busy; every agent list then comes
    back empty (count 0), and a second instance, whose agent runs a build, is scaled in. The held instance's agent
    is asked for directly and exists: the list is incomplete, its pool counts as failing, and the second instance is
    held (not released when the unregistered grace ends) until the lists are whole again and its build has ended."""
    first, second = world.group.instances[0], world.group.instances[1]
    world.ado.start_build(world.group.agents[first], 1000)
    job = world.ado.start_build(world.group.agents[second], 200)
    [iid] = world.scale_in(2, protect=[1, 2])
    assert iid == first
    gate = world.gate(unregistered_grace_seconds=60)
    gate.tick(budget=20)  # the first is held busy: its agent is now one the hold has seen
    world.ado.inject("empty_list", seconds=150, path_contains="/agents")
    world.sb.client("autoscaling").set_instance_protection(
        AutoScalingGroupName=world.group.name, InstanceIds=[second], ProtectedFromScaleIn=False
    )
    waiting = world.scale_in(1, protect=[2])
    assert second in waiting
    records = gate.tick(budget=140)  # every list empty for longer than the grace
    assert "released" not in outcomes(records, second), "released on an emptied list"
    assert any("incomplete" in r["reason"] for r in records if r["instance"] == second)
    assert second not in world.history("complete")
    records = gate.tick(budget=300)
    assert outcomes(records, second)[-1] == "released"
    released = float(world.history("complete")[second][0]["time"])
    build = world.ado.build(job)
    assert build["result"] == "succeeded" and build["finished_at"] <= released  # not killed
    snapshot = world.ado.agent(world.group.agents[second])
    assert snapshot is not None and snapshot["deleted"]  # not left behind


def test_an_emptied_list_with_nothing_to_check_it_against_does_not_start_the_grace(world: World) -> None:
    """Seed 550 (missing_fields with tag failures): the only waiting instance's agent runs a build, and every agent
    list comes back empty (`count` 0) for longer than the unregistered grace. No hold has seen an agent, so the audit
    has nothing to ask for; an empty answer is still no evidence that nothing is registered: held (an alarmed fail-safe
    hold) until the lists show the agent again, then released only after its build, which is not killed."""
    victim = world.group.instances[0]
    job = world.ado.start_build(world.group.agents[victim], 200)
    world.ado.inject("empty_list", seconds=150, path_contains="/agents")
    [iid] = world.scale_in(2, protect=[1, 2])
    assert iid == victim
    gate = world.gate(unregistered_grace_seconds=60)
    records = gate.tick(budget=140)  # every list empty for more than twice the grace
    assert "released" not in outcomes(records, iid), "released on an emptied list"
    assert any("came back empty" in r["reason"] for r in records if r["instance"] == iid)
    assert iid not in world.history("complete")
    records = gate.tick(budget=300)
    assert outcomes(records, iid)[-1] == "released"
    released = float(world.history("complete")[iid][0]["time"])
    build = world.ado.build(job)
    assert build["result"] == "succeeded" and build["finished_at"] <= released  # not killed
    snapshot = world.ado.agent(world.group.agents[victim])
    assert snapshot is not None and snapshot["deleted"]  # not left behind
