"""Idle-first selection, the pure part (gate/domain/selection.py): the payload Auto Scaling documents, what counts as
ready, and the answer per zone and purchase option; "cannot tell" and "nothing idle" hand the choice back to the
group's next policies (every instance offered), never an empty answer that would stall the scale-in."""

from __future__ import annotations

from typing import Any

import pytest

from gate.domain.decide import Observation
from gate.domain.model import Agent
from gate.domain.selection import (
    CAUSES,
    Readiness,
    choose,
    fallback,
    parse_request,
    readiness,
)

# The example payload of the EC2 Auto Scaling User Guide ("Create a custom termination policy with Lambda").
PAYLOAD: dict[str, Any] = {
    "AutoScalingGroupARN": "arn:aws:autoscaling:us-east-1:123456789012:autoScalingGroup:d4738357:"
    "autoScalingGroupName/my-asg",
    "AutoScalingGroupName": "my-asg",
    "CapacityToTerminate": [
        {"AvailabilityZone": "us-east-1b", "Capacity": 2, "InstanceMarketOption": "on-demand"},
        {"AvailabilityZone": "us-east-1b", "Capacity": 1, "InstanceMarketOption": "spot"},
        {"AvailabilityZone": "us-east-1c", "Capacity": 3, "InstanceMarketOption": "on-demand"},
    ],
    "Instances": [
        {
            "AvailabilityZone": "us-east-1b",
            "InstanceId": "i-0056faf8da3e1f75d",
            "InstanceType": "t2.nano",
            "InstanceMarketOption": "on-demand",
        },
        {
            "AvailabilityZone": "us-east-1c",
            "InstanceId": "i-02e1c69383a3ed501",
            "InstanceType": "t2.nano",
            "InstanceMarketOption": "on-demand",
        },
        {
            "AvailabilityZone": "us-east-1c",
            "InstanceId": "i-036bc44b6092c01c7",
            "InstanceType": "t2.nano",
            "InstanceMarketOption": "on-demand",
        },
    ],
    "Cause": "SCALE_IN",
}


def agent(name: str = "a", *, busy: bool = False, enabled: bool = True, known: bool = True, pool: int = 1) -> Agent:
    return Agent(
        "azure-devops",
        pool,
        "linux",
        hash(name) % 1000,
        name,
        enabled,
        assigned_request=7 if busy else None,
        assigned_known=known,
    )


def test_the_documented_payload_parses() -> None:
    request = parse_request(PAYLOAD)
    assert not isinstance(request, str)
    assert request.group == "my-asg" and request.cause == "SCALE_IN" and not request.has_more
    assert request.capacity == {
        ("us-east-1b", "on-demand"): 2,
        ("us-east-1b", "spot"): 1,
        ("us-east-1c", "on-demand"): 3,
    }
    assert [c.instance_id for c in request.candidates] == [i["InstanceId"] for i in PAYLOAD["Instances"]]
    assert request.wanted == 6
    assert {"SCALE_IN", "INSTANCE_REFRESH", "MAX_INSTANCE_LIFETIME", "REBALANCE"} == CAUSES


@pytest.mark.parametrize("event", [None, [], {}, {"AutoScalingGroupName": "g"}, {"Instances": []}, "SCALE_IN"])
def test_what_is_not_a_payload_is_said_so(event: Any) -> None:
    assert isinstance(parse_request(event), str)


def test_bad_entries_are_skipped_not_fatal() -> None:
    event = {
        **PAYLOAD,
        "CapacityToTerminate": [{"AvailabilityZone": "z", "Capacity": True}, {"Capacity": -1}, "x"],
        "Instances": [{"InstanceId": ""}, 5, {"InstanceId": "i-1", "AvailabilityZone": "z"}],
        "HasMoreInstances": True,
    }
    request = parse_request(event)
    assert not isinstance(request, str)
    assert request.capacity == {} and [c.instance_id for c in request.candidates] == ["i-1"] and request.has_more
    assert request.candidates[0].market == "on-demand"


def test_readiness_from_the_agents() -> None:
    now = 1000.0

    def ready(agents: list[Agent]) -> Readiness:
        return readiness(Observation(agents=agents), None, now, 300)

    assert ready([agent()]) is Readiness.IDLE
    assert ready([agent(enabled=False)]) is Readiness.DRAINED
    assert ready([agent(enabled=False), agent("b")]) is Readiness.IDLE
    assert ready([agent(), agent("b", busy=True)]) is Readiness.BUSY
    # No assignedRequest field (how Azure DevOps lists an idle agent): idle for the pick; the hook still checks the
    # job requests before it releases anything.
    assert ready([agent(known=False)]) is Readiness.IDLE
    assert readiness(Observation(agents=None, error="down"), None, now, 300) is Readiness.UNKNOWN
    assert readiness(Observation(agents=[agent()], ambiguous=("x",)), None, now, 300) is Readiness.UNKNOWN


def test_a_failing_pool_it_may_use_makes_it_unknown() -> None:
    failed: dict[int | str, str] = {2: "HTTP 500"}
    names: dict[int | str, str] = {1: "linux", 2: "windows"}
    obs = Observation(agents=[agent()], failed_pools=failed, pool_names=names)
    assert readiness(obs, None, 0, 300) is Readiness.UNKNOWN  # its group's pools not configured: any pool counts
    mine = Observation(agents=[agent()], failed_pools=failed, pool_names=names, group_pools=frozenset({"linux"}))
    assert readiness(mine, None, 0, 300) is Readiness.IDLE  # GATE_GROUP_POOLS says it never uses windows
    unresolved = Observation(agents=[agent()], failed_pools={"gone": "404"}, group_pools=frozenset({"linux"}))
    assert readiness(unresolved, None, 0, 300) is Readiness.IDLE
    named = Observation(agents=[agent()], failed_pools={"linux": "404"}, group_pools=frozenset({"linux"}))
    assert readiness(named, None, 0, 300) is Readiness.UNKNOWN


def test_an_agentless_instance_is_ready_only_past_the_grace_on_a_believed_list() -> None:
    obs = Observation(agents=[])
    assert readiness(obs, 100.0, 500.0, 300) is Readiness.AGENTLESS
    assert readiness(obs, 300.0, 500.0, 300) is Readiness.UNKNOWN  # its agent may be registering now
    assert readiness(obs, None, 500.0, 300) is Readiness.UNKNOWN  # launch time not known
    assert readiness(Observation(agents=[], listed_any=False), 100.0, 500.0, 300) is Readiness.UNKNOWN


def test_ready_ones_first_per_zone_and_market_never_more_than_asked() -> None:
    request = parse_request(
        {
            **PAYLOAD,
            "CapacityToTerminate": [
                {"AvailabilityZone": "a", "Capacity": 1, "InstanceMarketOption": "on-demand"},
                {"AvailabilityZone": "b", "Capacity": 2, "InstanceMarketOption": "on-demand"},
            ],
            "Instances": [
                {"AvailabilityZone": z, "InstanceId": i, "InstanceMarketOption": "on-demand"}
                for z, i in [("a", "i-a1"), ("a", "i-a2"), ("b", "i-b1"), ("b", "i-b2"), ("b", "i-b3"), ("c", "i-c1")]
            ],
        }
    )
    assert not isinstance(request, str)
    ready = {
        "i-a1": Readiness.IDLE,
        "i-a2": Readiness.DRAINED,  # preferred over idle in its zone
        "i-b1": Readiness.BUSY,
        "i-b2": Readiness.AGENTLESS,
        "i-b3": Readiness.IDLE,
        "i-c1": Readiness.IDLE,  # no capacity asked in zone c: never answered
    }
    selection = choose(request, ready)
    assert not selection.fallback
    assert selection.instance_ids == ("i-a2", "i-b3", "i-b2")
    assert selection.answer() == {"InstanceIDs": ["i-a2", "i-b3", "i-b2"]}


def test_fewer_ready_than_asked_answers_only_those() -> None:
    request = parse_request(PAYLOAD)
    assert not isinstance(request, str)
    selection = choose(request, {"i-02e1c69383a3ed501": Readiness.IDLE, "i-036bc44b6092c01c7": Readiness.BUSY})
    assert selection.instance_ids == ("i-02e1c69383a3ed501",) and not selection.fallback
    assert "invokes the policy again" in selection.reason


def test_spot_and_on_demand_are_separate_buckets() -> None:
    request = parse_request(
        {
            **PAYLOAD,
            "CapacityToTerminate": [{"AvailabilityZone": "a", "Capacity": 1, "InstanceMarketOption": "spot"}],
            "Instances": [
                {"AvailabilityZone": "a", "InstanceId": "i-od", "InstanceMarketOption": "on-demand"},
                {"AvailabilityZone": "a", "InstanceId": "i-spot", "InstanceMarketOption": "spot"},
            ],
        }
    )
    assert not isinstance(request, str)
    assert choose(request, {"i-od": Readiness.IDLE, "i-spot": Readiness.BUSY}).fallback
    assert choose(request, {"i-od": Readiness.IDLE, "i-spot": Readiness.IDLE}).instance_ids == ("i-spot",)


@pytest.mark.parametrize(
    "ready",
    [
        {},
        {"i-0056faf8da3e1f75d": Readiness.BUSY, "i-02e1c69383a3ed501": Readiness.UNKNOWN},
    ],
)
def test_nothing_ready_hands_every_candidate_back(ready: dict[str, Readiness]) -> None:
    request = parse_request(PAYLOAD)
    assert not isinstance(request, str)
    selection = choose(request, ready)
    assert selection.fallback and len(selection.instance_ids) == 3  # never [] (that would stall the scale-in)


def test_an_unknown_cause_hands_every_candidate_back() -> None:
    request = parse_request({**PAYLOAD, "Cause": "SOMETHING_NEW"})
    assert not isinstance(request, str)
    selection = choose(request, {c.instance_id: Readiness.IDLE for c in request.candidates})
    assert selection.fallback and "not served" in selection.reason and len(selection.instance_ids) == 3
    assert fallback(None, "x").answer() == {"InstanceIDs": []}
