"""The kill-rate attribution (gate.domain.audit): which jobs a termination killed, which were lost otherwise, and what
the holds cost. Pure: facts in, report out."""

from __future__ import annotations

import pytest

from gate.domain.audit import (
    Hold,
    Job,
    Kind,
    Termination,
    agent_lost,
    attribute,
    audit_emf,
    audit_request,
    hold_cost,
    holds_from_records,
    termination_kind,
)

IID = "i-0123456789abcdef0"
OTHER = "i-0fedcba9876543210"
LOST = (
    "We stopped hearing from agent agent-i-0123456789abcdef0. Verify the agent machine is running and has a healthy "
    "network connection."
)
SHRINK = "At 2026-12-07T10:00:00Z an instance was taken out of service in response to a difference between desired "
SHRINK += "and actual capacity, shrinking the capacity from 3 to 2."


def job(
    start: float,
    end: float | None,
    result: str | None,
    instance: str | None = IID,
    messages: tuple[str, ...] = (),
    jid: str = "pool/1",
) -> Job:
    return Job(jid, f"agent-{instance}", instance, start, end, result, messages)


def term(at: float, cause: str = SHRINK, instance: str = IID, status: str = "Successful") -> Termination:
    return Termination("ci-agents", instance, at - 1, at, cause, status)


def report(jobs: list[Job], terms: list[Termination], tolerance: float = 60.0) -> tuple[int, int]:
    r = attribute(jobs, terms, [], since=0, until=10_000, tolerance=tolerance)
    return len(r.killed_by_scale_in), len(r.lost_other)


@pytest.mark.parametrize(
    ("cause", "kind"),
    [
        (SHRINK, Kind.SCALE_IN),
        (
            "At ... a user request update of AutoScalingGroup constraints to min: 0, max: 0, desired: 0 changing the "
            "desired capacity from 2 to 0.",
            Kind.SCALE_IN,
        ),
        (
            "At ... an instance was taken out of service in response to a user request, shrinking the capacity from 2 "
            "to 1.",
            Kind.SCALE_IN,
        ),
        (
            "At ... an instance was taken out of service in response to an EC2 health check indicating it has been "
            "terminated or stopped.",
            Kind.HEALTH,
        ),
        ("At ... an instance was taken out of service in response to an instance refresh.", Kind.REPLACEMENT),
        ("At ... an instance was taken out of service in response to a maximum instance lifetime.", Kind.REPLACEMENT),
        ("At ... an instance was taken out of service in response to a Spot interruption notice.", Kind.SPOT),
        ("", Kind.OTHER),
    ],
)
def test_the_cause_text_says_why(cause: str, kind: Kind) -> None:
    assert termination_kind(cause) is kind


def test_the_agent_lost_messages_of_azure_devops_and_github() -> None:
    assert agent_lost([LOST])
    assert agent_lost(["The agent: ip-10-0-0-1 lost communication with the server. Verify the machine is running."])
    assert agent_lost(["The runner has received a shutdown signal. This can happen when the runner service is stopped"])
    assert not agent_lost(["Bash exited with code '1'."])


def test_a_build_running_when_a_scale_in_terminated_its_instance_was_killed() -> None:
    assert report([job(100, None, None)], [term(500)]) == (1, 0)  # still running at the audit: the service lags
    assert report([job(100, 800, "failed", messages=(LOST,))], [term(500)]) == (1, 0)  # failed at lock expiry
    assert report([job(100, 800, "failed")], [term(500)]) == (1, 0)  # clearly after the death, message unread


def test_a_build_that_ended_normally_or_before_the_termination_was_not_killed() -> None:
    assert report([job(100, 400, "succeeded")], [term(500)]) == (0, 0)  # the gate's case: released once idle
    assert report([job(100, 400, "failed")], [term(500)]) == (0, 0)  # an ordinary failure, then the scale-in
    assert report([job(600, None, None)], [term(500)]) == (0, 0)  # started after (another instance's id reused?)
    assert report([job(100, 800, "succeeded")], [term(500)]) == (0, 0)  # the service says it finished: believed


def test_near_the_termination_only_the_services_word_counts() -> None:
    """Within the skew tolerance an ordinary failure is not a kill; an agent-lost one is."""
    assert report([job(100, 530, "failed")], [term(500)]) == (0, 0)
    assert report([job(100, 470, "failed", messages=(LOST,))], [term(500)]) == (1, 0)
    assert report([job(100, 470, "abandoned")], [term(500)]) == (1, 0)
    assert report([job(100, 530, "failed")], [term(500)], tolerance=10) == (1, 0)


def test_other_terminations_and_lost_agents_are_lost_for_other_reasons() -> None:
    spot = "At ... an instance was taken out of service in response to a Spot interruption notice."
    assert report([job(100, None, None)], [term(500, spot)]) == (0, 1)
    assert report([job(100, 800, "failed", messages=(LOST,))], []) == (0, 1)  # no termination: a crash, a network
    assert report([job(100, 800, "failed", instance=None, messages=(LOST,))], [term(500)]) == (0, 1)  # unmapped
    assert report([job(100, None, None)], [term(500, status="Cancelled")]) == (0, 0)


def test_each_job_is_counted_once_against_its_own_instance() -> None:
    jobs = [job(100, None, None, jid="p/1"), job(100, None, None, instance=OTHER, jid="p/2")]
    r = attribute(jobs, [term(500), term(900, instance=OTHER), term(950)], [], since=0, until=10_000)
    assert [x.job.job_id for x in r.killed_by_scale_in] == ["p/1", "p/2"]
    assert r.as_dict()["builds_killed_by_scale_in"] == 2


def test_hold_cost_splits_busy_from_idle() -> None:
    holds = [
        Hold("g", IID, 0, 3600, "released"),
        Hold("g", OTHER, 0, 1800, "forced"),
        Hold("g", IID, 7200, 9000, "held"),
    ]
    jobs = [job(-100, 1800, "succeeded"), job(1000, 2000, "succeeded"), job(8000, None, None)]
    cost = hold_cost(holds, jobs, until=9000)
    assert cost.holds == 3 and cost.forced == 1 and cost.still_holding == 1
    assert cost.busy_hours == pytest.approx((2000 + 1000) / 3600)  # overlapping builds counted once
    assert cost.idle_hours == pytest.approx((1600 + 1800 + 800) / 3600)


def test_holds_from_decision_records() -> None:
    def rec(at: float, outcome: str, held: float | None, instance: str = IID) -> dict[str, object]:
        return {
            "_aws": {"Timestamp": at * 1000},
            "outcome": outcome,
            "held_seconds": held,
            "instance": instance,
            "group": "g",
        }

    records: list[dict[str, object]] = [
        rec(110, "held", 10),
        rec(500, "held", 400),
        rec(700, "released", 600),
        rec(200, "held", 0, OTHER),
        {"ts": "1970-01-01T00:00:20Z", "outcome": "skipped", "instance": OTHER},  # not a hold
        rec(100, "error", None, "i-00000000"),
    ]
    holds = sorted(holds_from_records(records, until=1000), key=lambda h: h.instance_id)
    assert holds == [Hold("g", IID, 100, 700, "released"), Hold("g", OTHER, 200, 1000, "held")]


def test_the_scheduled_audit_event_and_its_metric_line() -> None:
    assert audit_request({"gate-audit": {"window_seconds": 3600}}) == 3600
    assert audit_request({"gate-audit": {"window_seconds": "x"}}) == 86400  # malformed: a day
    assert audit_request({"gate-audit": {"window_seconds": 10**9}}) == 86400
    assert audit_request({"source": "aws.events", "detail-type": "Scheduled Event"}) is None
    assert audit_request(["gate-audit"]) is None
    r = attribute([job(100, None, None)], [term(500)], [], since=0, until=3600)
    line = audit_emf(r, "fn", "Ns", 3_600_000)
    assert (line["BuildsKilledByScaleIn"], line["BuildsLostOther"], line["FunctionName"]) == (1, 0, "fn")
    assert line["_aws"] == {
        "Timestamp": 3_600_000,
        "CloudWatchMetrics": [
            {
                "Namespace": "Ns",
                "Dimensions": [["FunctionName"]],
                "Metrics": [
                    {"Name": "BuildsKilledByScaleIn", "Unit": "Count"},
                    {"Name": "BuildsLostOther", "Unit": "Count"},
                ],
            }
        ],
    }
