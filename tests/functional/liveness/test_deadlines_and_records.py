"""Deadlines from the invocation, and no stale record when two invocations judge the same instance."""

from __future__ import annotations

import dataclasses
import time
from typing import Any

import pytest

from gate.adapters.aws import AwsError
from gate.domain.model import Waiting
from gate.handler import invocation_deadline
from gate.service.triggers import Gate
from tests.functional.liveness.conftest import TICK, Context, assert_live, lambda_for, make_world
from tests.support.world import World


def test_the_deadline_comes_from_the_lambda_context(world: World) -> None:
    gate = world.gate(invocation_margin_seconds=5)
    assert invocation_deadline(gate, Context(world.clock, 70)) == world.clock.now() + 65
    assert invocation_deadline(gate, None) is None  # the CLI: the settings' tick budget applies


def test_no_aws_call_starts_past_the_deadline_and_each_read_is_bounded_by_what_is_left(world: World) -> None:
    iid = world.scale_in(2)[0]
    gate = world.gate()
    contexts: list[dict[str, Any]] = []
    gate.aws.autoscaling.meta.events.register("before-send", lambda request, **_: contexts.append(request.context))
    gate.aws.set_deadline(time.time() + 3)
    gate.aws.heartbeat(Waiting("ci-agents", iid, world.group.hook))
    assert 0 < contexts[-1]["read_timeout"] <= 3
    gate.aws.set_deadline(time.time() - 1)
    with pytest.raises(AwsError, match="deadline"):
        gate.aws.heartbeat(Waiting("ci-agents", iid, world.group.hook))


def test_slow_release_calls_end_before_the_function_timeout() -> None:
    """Twelve idle instances released at once while Azure DevOps takes 4 s per call (a release is several calls
    each): every invocation stops inside the 70 s function timeout, and all twelve are released over the ticks."""
    for world in make_world(size=12):
        waiting = world.scale_in(0)
        world.ado.inject("latency", count=None, delay=4)
        fn = lambda_for(world, agent_concurrency=1)  # see conftest: latency on a ManualClock adds up
        fn.minutes(20, events=False)
        assert_live(world, fn)
        released = {r["instance"] for r in fn.records if r["outcome"] == "released"}
        assert released == set(waiting)
        assert max(fn.durations) > 60  # the invocations really were cut by the deadline, not idle


def test_no_held_record_after_a_concurrent_release(world: World) -> None:
    """Invocation A reads the agent list; meanwhile invocation B releases the instance; A's (stale) list says busy.
    A's `held` would be a lie after B's `released`: A proves it with a heartbeat, learns the action is gone, and
    records `gone` instead."""
    iid = world.scale_in(2)[0]
    a, b = world.gate(), world.gate()
    a.tick(budget=0)  # first sight: proof, tag, disable
    world.clock.advance(90)  # past the assignment lag bound: B will release
    _race_a_release(world, a, b, iid)


def test_a_tick_with_a_context_returns_before_the_function_timeout(world: World) -> None:
    world.scale_in(1)
    fn = lambda_for(world)
    fn.timeout = 20  # a short function timeout: the deadline, not the 50 s budget, ends the invocation
    fn.invoke(TICK)
    assert fn.durations[0] <= 20


def test_a_heartbeat_pass_cut_short_by_the_deadline_is_an_alarmed_error(world: World, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    world.scale_in(1)  # two waiting
    gate = world.gate(heartbeat_concurrency=1)
    real = gate.aws.heartbeat

    def slow(w):  # type: ignore[no-untyped-def]
        world.clock.advance(20)  # past the 15 s a zero-budget invocation has, after the first one
        return real(w)

    monkeypatch.setattr(gate.aws, "heartbeat", slow)
    records = gate.tick(budget=0)
    cut = [r for r in records if r["outcome"] == "error" and "heartbeat pass cut short" in r["reason"]]
    assert len(cut) == 1 and "1 due heartbeat(s) not sent" in cut[0]["reason"]


def test_a_first_sight_held_claim_is_proven_even_right_after_the_heartbeat_pass(world: World) -> None:
    """The same race seen by a container that meets the instance for the first time: its heartbeat pass has just
    heartbeated the action (first sight), and B releases while A reads its stale list. That heartbeat came before the
    list, so it cannot stand as proof of A's `busy`: only a `held` that disabled an agent may count the round's own
    heartbeat (an agent still enabled cannot have been released by anyone). A proves, learns the action is gone."""
    iid = world.scale_in(2)[0]
    b = world.gate()
    b.tick(budget=0)  # B: first sight, tag, disable
    world.clock.advance(90)  # past the assignment lag bound: B will release
    a = world.gate()  # a fresh container: its heartbeat pass heartbeats everything waiting, in this round
    _race_a_release(world, a, b, iid)


def _race_a_release(world: World, a: Gate, b: Gate, iid: str) -> None:
    """A reads the agent list; B releases before A records; A's list is stale (busy). A must record `gone`."""
    real = a.source.list_pools  # type: ignore[attr-defined]

    def stale_list():  # type: ignore[no-untyped-def]
        snapshot = real()
        b.tick(budget=0)  # B releases while A is between reading and recording
        agents = [dataclasses.replace(x, assigned_request=4242) if iid in x.name else x for x in snapshot.agents]
        return dataclasses.replace(snapshot, agents=agents)

    a.source.list_pools = stale_list  # type: ignore[attr-defined]
    a.tick(budget=0)
    log = [(r["instance"], r["outcome"]) for r in world.sb.log.records if r["instance"] == iid]
    released_at = log.index((iid, "released"))
    assert (iid, "held") not in log[released_at:], log
    assert log[-1] == (iid, "gone")
