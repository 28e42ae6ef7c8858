"""The fleet simulation: structural facts on a small fleet (no timing assertions: numbers come from `gate bench`)."""

from __future__ import annotations

import dataclasses
import itertools
import subprocess
import sys
from typing import Any

import pytest

from bench.faultbench import POSTURES, fault_matrix, posture_under_outage
from bench.faults import SCENARIOS, Faults, Window, by_name
from bench.fleet import (
    STRATEGIES,
    FleetConfig,
    StrategyResult,
    _Lockstep,
    _SimWorkers,
    run_fleet,
    simulate,
)
from bench.workload import EPOCH, WorkloadConfig, generate, profile

SMALL = FleetConfig(instances=20, hours=3, start_hour=14, seed=7)


@pytest.fixture(scope="module")
def small() -> dict[str, StrategyResult]:
    return run_fleet(SMALL)


def _without_timing(r: StrategyResult) -> dict[str, Any]:
    d = dataclasses.asdict(r)
    d.pop("wall_seconds")
    d.pop("cpu_seconds")
    return d


def test_gate_kills_nothing_where_no_gate_kills(small: dict[str, StrategyResult]) -> None:
    assert small["none"].builds_killed > 0
    for hooked in ("gate", "gate+protect"):
        assert small[hooked].builds_killed == 0
        assert small[hooked].hooks_timed_out == 0


def test_every_strategy_sees_the_same_day(small: dict[str, StrategyResult]) -> None:
    assert len({r.builds for r in small.values()}) == 1
    assert small["none"].builds == len(generate(SMALL.workload()))


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_counts_are_consistent(small: dict[str, StrategyResult], strategy: str) -> None:
    r = small[strategy]
    assert r.builds_started <= r.builds
    assert r.builds_completed + r.builds_killed <= r.builds_started
    assert len(r.kill_times_h) == r.builds_killed
    assert 0 < r.busy_instance_hours <= r.instance_hours
    assert r.idle_instance_hours == pytest.approx(r.instance_hours - r.busy_instance_hours, abs=0.02)
    assert r.held_instance_hours <= r.instance_hours
    assert r.aws_calls == sum(r.aws_calls_by_operation.values())
    assert r.azure_calls == sum(r.azure_calls_by_kind.values())
    assert r.scale_in_victims <= r.launches + SMALL.min_size
    series = r.series
    assert len({len(v) for v in series.values()}) == 1
    assert all(a >= 0 for a in series["alive"])


def test_without_a_gate_nothing_is_held_or_called(small: dict[str, StrategyResult]) -> None:
    none, protection = small["none"], small["protection"]
    assert none.aws_calls == none.azure_calls == none.lambda_invocations == 0
    assert none.holds == protection.holds == 0
    assert none.held_instance_hours == protection.held_instance_hours == 0
    assert set(protection.aws_calls_by_operation) == {"SetInstanceProtection"}
    assert protection.azure_calls > 0  # the sidecars ask Azure DevOps for their agent


def test_the_gate_path_is_the_real_handler(small: dict[str, StrategyResult]) -> None:
    g = small["gate"]
    assert "error" not in g.decisions and not any(k.startswith("log:") for k in g.decisions)
    completes = g.aws_calls_by_operation["CompleteLifecycleAction"]
    assert g.holds == completes == g.decisions["released"]
    assert g.holds + g.holds_open_at_end == g.scale_in_victims
    # Every victim's agent was disabled once and deleted on release; job requests checked before each release.
    assert g.azure_calls_by_kind["PATCH disable"] == g.scale_in_victims
    assert g.azure_calls_by_kind["DELETE agent"] == g.azure_calls_by_kind["GET jobrequests"] == g.holds
    # Agent lists and group reads happen in rounds: at least one DescribeAutoScalingGroups per tick.
    assert g.azure_calls_by_kind["list agents (pages)"] > 0
    assert g.aws_calls_by_operation["DescribeAutoScalingGroups"] >= int(SMALL.hours * 3600 / SMALL.tick_seconds)
    assert g.lambda_invocations >= g.scale_in_victims
    assert g.held_instance_hours > 0 and g.hold_p95_s is not None and g.release_latency_p95_s is not None


def test_gate_with_protection_uses_the_real_protector(small: dict[str, StrategyResult]) -> None:
    """GATE_PROTECT_BUSY: the tick's agent list drives SetInstanceProtection, so fewer busy instances are chosen."""
    both, gate = small["gate+protect"], small["gate"]
    assert both.aws_calls_by_operation["SetInstanceProtection"] > 0
    assert "error" not in both.decisions and not any(k.startswith("log:") for k in both.decisions)
    assert both.held_instance_hours < gate.held_instance_hours
    # No extra call to Azure DevOps: protection reuses the tick's agent list.
    assert "sidecar GET agent" not in both.azure_calls_by_kind


def test_the_gate_honours_its_settings() -> None:
    """A max hold shorter than the builds forces releases, and forced completes do kill: the real policy runs."""
    r = simulate(dataclasses.replace(SMALL, gate_settings={"max_hold_seconds": 60}), "gate")
    assert r.decisions.get("forced", 0) > 0
    assert r.builds_killed > 0


def test_same_seed_same_result() -> None:
    cfg = dataclasses.replace(SMALL, hours=1)
    for strategy in STRATEGIES:
        assert _without_timing(simulate(cfg, strategy)) == _without_timing(simulate(cfg, strategy))


def test_workload_is_seeded_and_bounded() -> None:
    cfg = WorkloadConfig(capacity=50, hours=6, start_hour=8, seed=3)
    builds = generate(cfg)
    assert builds == generate(cfg)
    assert builds != generate(dataclasses.replace(cfg, seed=4))
    assert all(a.arrival < b.arrival for a, b in itertools.pairwise(builds))
    assert all(EPOCH + 8 * 3600 <= b.arrival < EPOCH + 14 * 3600 for b in builds)
    assert all(120 <= b.duration <= 7200 for b in builds)
    assert all(0.08 <= profile(h / 4, 0.08) <= 1 for h in range(96))
    assert profile(3, 0.08) < 0.1 < 0.9 < profile(10.5, 0.08)


def test_lockstep_interleaves_invocations_by_simulated_time() -> None:
    import heapq
    from collections.abc import Callable

    now = [0.0]
    heap: list[tuple[float, int, Callable[[], None]]] = []
    seq = [0]

    def schedule(t: float, fn: Callable[[], None]) -> None:
        heapq.heappush(heap, (t, seq[0], fn))
        seq[0] += 1

    lockstep = _Lockstep(schedule, lambda: now[0])
    trace: list[tuple[float, str]] = []

    def invocation(name: str, step: float) -> Callable[[], None]:
        def body() -> None:
            for _ in range(3):
                trace.append((now[0], name))
                lockstep.sleep(step)

        return body

    lockstep.start(invocation("a", 10))
    lockstep.start(invocation("b", 4))
    while heap:
        t, _, fn = heapq.heappop(heap)
        now[0] = t
        fn()
    assert trace == [(0, "a"), (0, "b"), (4, "b"), (8, "b"), (10, "a"), (20, "a")]

    def broken() -> None:
        raise ValueError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        lockstep.start(broken)

    lockstep.start(invocation("c", 5))  # still sleeping when the day ends: cancelled, its thread unwinds
    lockstep.cancel_all()
    for _, _, fn in heap:  # a stale wake-up for a cancelled invocation is harmless
        fn()
    assert [name for _, name in trace].count("c") == 1


def test_the_handler_never_imports_the_benchmarks() -> None:
    code = "import sys, gate.handler; print(sorted(m for m in sys.modules if m.startswith('bench')))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    assert out.stdout.strip() == "[]"


# -- the strategies users would pick instead, and the fault model ------------------------------------------------


def _with(faults: Faults, cfg: FleetConfig = SMALL) -> FleetConfig:
    return dataclasses.replace(cfg, faults=faults)


def test_the_pool_manager_runs_its_own_capacity_and_deletes_what_it_terminates(
    small: dict[str, StrategyResult],
) -> None:
    pm = small["pool-manager"]
    assert pm.builds_killed == 0 and pm.holds == 0 and pm.lambda_invocations == 0
    assert pm.agents_left_registered == 0
    assert set(pm.aws_calls_by_operation) <= {
        "DescribeAutoScalingGroups",
        "SetDesiredCapacity",
        "TerminateInstanceInAutoScalingGroup",
    }
    # It keeps idle agents for 30 minutes: more idle instance-hours than the gate's capacity policy.
    assert pm.idle_instance_hours > small["gate"].idle_instance_hours


def test_drain_on_signal_waits_for_the_build_without_azure_devops(small: dict[str, StrategyResult]) -> None:
    d = small["drain-on-signal"]
    assert d.builds_killed == 0 and d.hooks_timed_out == 0
    assert d.holds == d.scale_in_victims - d.holds_open_at_end
    assert set(d.azure_calls_by_kind) == {"agent remove (config.sh)"}  # busy is read from the local process
    assert d.aws_calls_by_operation["SQS ReceiveMessage (daemon long poll)"] > 0
    assert d.autoscaling_calls < d.aws_calls  # the SQS polls are not on the Auto Scaling bucket


def test_every_lost_event_is_found_by_the_gate_tick_but_strands_the_daemon() -> None:
    lost = _with(Faults("all lost", lost_event_fraction=1.0))
    gate, daemon = simulate(lost, "gate"), simulate(lost, "drain-on-signal")
    assert gate.events_lost == gate.scale_in_victims > 0
    assert gate.builds_killed == gate.hooks_timed_out == 0
    assert daemon.events_lost == daemon.scale_in_victims
    assert daemon.hooks_timed_out == daemon.scale_in_victims - daemon.holds_open_at_end > 0


def test_azure_down_stops_every_call_but_the_gate_still_holds() -> None:
    down = _with(Faults("down", azure_outage=Window(14.0, 3.0)))
    gate = simulate(down, "gate")
    assert gate.builds_killed == gate.hooks_timed_out == 0
    assert gate.decisions.get("released", 0) == 0  # no evidence, no release
    assert gate.holds_open_at_end > 0
    pm = simulate(down, "pool-manager")
    assert pm.scale_in_victims == 0  # the pool manager cannot judge either: it does nothing


def test_the_busy_flag_lag_hides_a_new_assignment_from_the_rest_api() -> None:
    from bench.fleet import _Agent, _Build, _Instance
    from bench.workload import BuildSpec

    inst = _Instance(1, 0, 0.0)
    agent = _Agent(1, "a", inst, registered=True)
    agent.build = _Build(BuildSpec(1, 100.0, 600.0), start=100.0)
    assert agent.snapshot(110.0, lag=30.0).assigned_request is None
    assert agent.snapshot(131.0, lag=30.0).assigned_request == 1
    assert agent.snapshot(110.0).assigned_request == 1


def test_a_gate_outage_kills_builds_unless_the_group_retains_abandoned_instances() -> None:
    # 14:00-18:00: the outage (16:30-17:00) and an hour after it for the clean-up.
    rows = {r["posture"]: r for r in posture_under_outage(dataclasses.replace(SMALL, hours=4))["rows"]}
    assert set(rows) == {p.name for p in POSTURES}
    plain = rows["DefaultResult ABANDON, no retention"]
    retained = rows["DefaultResult ABANDON + TerminateHookAbandon=retain"]
    assert plain["hooks_timed_out"] > 0 and plain["builds_killed"] > 0
    assert retained["hooks_timed_out"] > 0 and retained["builds_killed"] == 0 and retained["retained"] > 0
    # The gate's tick cleans the retained instances up once their agents are idle (gate/service/retained.py).
    assert retained["retained_at_end"] == 0 and retained["agents_left_registered"] == 0


def test_the_service_hook_runs_the_real_receiver_on_every_build_end() -> None:
    from bench.hookbench import release_with_and_without_hook

    doc = release_with_and_without_hook(SMALL, strategies=("gate",))
    polling, hooked = doc["rows"]
    assert (polling["release"], hooked["release"]) == ("polling alone", "service hook + polling")
    assert polling["service_hook_calls"] == 0 < hooked["service_hook_calls"]
    assert polling["builds_killed"] == hooked["builds_killed"] == 0
    assert polling["holds"] == hooked["holds"] > 0


def test_aws_throttling_costs_attempts() -> None:
    throttled = simulate(_with(Faults("t", aws_throttle=Window(14.0, 3.0), aws_throttle_fraction=0.5)), "protection")
    fair = simulate(SMALL, "protection")
    assert throttled.aws_calls > fair.aws_calls


def test_fault_matrix_covers_every_strategy_and_scenario() -> None:
    cfg = dataclasses.replace(SMALL, hours=1, start_hour=16)
    doc = fault_matrix(cfg, scenarios=(by_name("fair weather"), by_name("lost events")))
    assert [s["name"] for s in doc["scenarios"]] == ["fair weather", "lost events"]
    assert all(set(cells) == set(STRATEGIES) for cells in doc["cells"].values())
    assert {"builds_killed", "hooks_timed_out", "instance_hours", "autoscaling_calls"} <= set(
        doc["cells"]["lost events"]["gate"]
    )
    assert {f.name for f in SCENARIOS} >= {"Azure slow", "Azure down", "busy-flag lag", "gate down 30 min"}


def test_sim_workers_overlap_latency_on_lanes_and_stop_at_the_deadline() -> None:
    from bench.fleet import _SimClock

    class World:
        now = 0.0

        def __init__(self) -> None:
            self.clock = _SimClock(self)  # type: ignore[arg-type]
            self.slept: list[float] = []
            self.lockstep = self

        def sleep(self, seconds: float) -> None:
            self.slept.append(seconds)

    world = World()
    starts: list[float] = []

    def call(item: int) -> int:
        starts.append(world.clock.now())
        world.clock.sleep(10.0)
        return item * 2

    out = _SimWorkers(2, world).map(call, [1, 2, 3, 4, 5], deadline=25.0)  # type: ignore[arg-type]
    assert starts == [0.0, 0.0, 10.0, 10.0, 20.0]  # two lanes: pairs of calls overlap
    assert out == [(1, 2), (2, 4), (3, 6), (4, 8)]  # the fifth ends at 30 s, after the deadline
    assert world.slept == [25.0]  # the batch waited until the deadline, not 50 s


def test_the_handler_imports_nothing_a_decision_does_not_need() -> None:
    """Cold start (issue 15): ECS, GitHub, notifications, protection, the CLI views and the retained clean-up are
    imported only when configured or used, never by `import gate.handler`."""
    lazy = (
        "gate.adapters.ecs",
        "gate.adapters.github",
        "gate.adapters.notify",
        "gate.service.protection",
        "gate.service.views",
        "gate.service.retained",
        "gate.adapters.entra",
    )
    code = f"import sys, gate.handler; print(sorted(m for m in {lazy!r} if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    assert out.stdout.strip() == "[]"


def test_a_faulty_day_replays_exactly() -> None:
    """Throttled attempts are drawn in call order, and the gate shuffles each round: both seeded."""
    throttled = Faults("t", aws_throttle=Window(14.0, 1.0), aws_throttle_fraction=0.8)
    cfg = _with(throttled, dataclasses.replace(SMALL, hours=1))
    assert _without_timing(simulate(cfg, "gate")) == _without_timing(simulate(cfg, "gate"))
