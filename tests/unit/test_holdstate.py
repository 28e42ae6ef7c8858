"""The hold's tag: bound to its lifecycle action, readable, and never trusted beyond what it proves."""

from __future__ import annotations

import pickle
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from gate.adapters.aws import lookup_actions
from gate.domain.holdstate import (
    HOLD_TAG,
    TAG_VALUE_MAX,
    ActionId,
    HoldState,
    Memory,
    action_hash,
    action_started,
    decode,
    encode,
    fits,
    load,
    stale_keys,
)
from gate.domain.model import HELD_SINCE_TAG
from gate.domain.timestamps import format_ts, parse_http_date, parse_ts

T0 = 1_800_000_000.0
ACTION = "5c2d9e0a-1111-4222-8333-944455556666"


def test_round_trip_and_readable_in_the_console() -> None:
    state = HoldState(action_hash(ACTION), T0, T0 + 5, frozenset({(7, 12), (7, 3)}), frozenset({(7, 3)}), T0 + 9)
    value = encode(state)
    assert decode(value) == state and len(value) <= TAG_VALUE_MAX
    assert f"h={format_ts(T0)}" in value and "s=7:3+7:12" in value and "g=7:3" in value


def test_a_tag_of_another_action_or_none_is_not_this_hold() -> None:
    tags = {HOLD_TAG: encode(HoldState(action_hash("another"), T0))}
    assert load(tags, ACTION, T0 + 10) is None
    assert load(tags, None, T0 + 10) is None  # no identity: nothing is believed
    assert load({HELD_SINCE_TAG: format_ts(T0)}, ACTION, T0 + 10) is None  # legacy tags name no action
    assert load({HOLD_TAG: "garbage"}, ACTION, T0) is None
    assert load({HOLD_TAG: encode(HoldState(action_hash(ACTION), T0)).replace("v=2", "v=9")}, ACTION, T0) is None


def test_future_timestamps_count_as_now() -> None:
    tags = {HOLD_TAG: encode(HoldState(action_hash(ACTION), T0 + 999, T0 + 999, absent_since=T0 + 999))}
    state = load(tags, ACTION, T0)
    assert state is not None and state.held_since == state.disabled_at == state.absent_since == T0


def test_too_many_agents_mark_the_hold_overflowed_instead_of_dropping_them_silently() -> None:
    state = HoldState(action_hash(ACTION), T0, seen=frozenset((7, 100_000 + i) for i in range(40)))
    assert not fits(state)
    back = decode(encode(state))
    assert back is not None and back.overflow and back.seen == frozenset() and back.held_since == T0
    assert len(encode(state)) <= TAG_VALUE_MAX


def test_stale_keys_are_the_hold_tags_with_a_value() -> None:
    assert stale_keys({HOLD_TAG: "x", HELD_SINCE_TAG: "", "gate:protected": "true", "Name": "n"}) == [HOLD_TAG]


class FakeAutoScaling:
    """DescribeScalingActivities answers, newest first, in pages of two."""

    def __init__(self, activities: list[dict[str, Any]]) -> None:
        self.activities = activities
        self.calls = 0

    def describe_scaling_activities(self, **kw: Any) -> dict[str, Any]:
        self.calls += 1
        start = int(kw.get("NextToken", "0"))
        page = self.activities[start : start + 2]
        more = start + 2 < len(self.activities)
        return {"Activities": page, **({"NextToken": str(start + 2)} if more else {})}


A, B = "i-0000000000000000a", "i-0000000000000000b"


def activity(iid: str, aid: str, status: str = "MidLifecycleAction") -> dict[str, Any]:
    return {"ActivityId": aid, "Description": f"Terminating EC2 instance: {iid}", "StatusCode": status}


def test_identity_is_the_newest_unfinished_terminate_activity() -> None:
    client = FakeAutoScaling(
        [
            activity(A, "new-a"),
            {"ActivityId": "x", "Description": "Launching a new EC2 instance: i-0000000c", "StatusCode": "Successful"},
            activity(B, "done-b", "Successful"),  # newest for i-b has ended: no identity
            activity(A, "old-a", "Successful"),
            activity(B, "old-b"),
        ]
    )
    assert lookup_actions(client, {"g": [A, B]}) == {A: "new-a"}


def test_lookup_stops_paging_once_every_instance_is_found() -> None:
    client = FakeAutoScaling([activity(A, "a"), activity(B, "b")] + [activity(f"i-{n:08x}", "z") for n in range(50)])
    assert lookup_actions(client, {"g": [A, B]}) == {A: "a", B: "b"} and client.calls == 1
    assert lookup_actions(client, {"g": []}) == {} and client.calls == 1


def test_a_wait_into_the_warm_pool_has_an_identity_too() -> None:
    client = FakeAutoScaling(
        [
            {
                "ActivityId": "w",
                "Description": "Moving EC2 instance i-0123456789abcdef0 to warm pool",
                "StatusCode": "InProgress",
            }
        ]
    )
    assert lookup_actions(client, {"g": ["i-0123456789abcdef0"]}) == {"i-0123456789abcdef0": "w"}


# -- one clock per comparison; facts over our own state (issue 18) ------------------------------------------------
def test_a_timestamp_without_a_zone_is_unknown() -> None:
    assert parse_ts("2027-01-15T08:00:20Z") == T0 + 20 and parse_ts("2027-01-15T08:00:20+01:00") == T0 + 20 - 3600
    assert parse_ts("2027-01-15T08:00:20") is None  # local or UTC? unknown: no bound rests on it
    assert parse_http_date("Fri, 15 Jan 2027 08:00:20 GMT") == T0 + 20
    assert parse_http_date("Fri, 15 Jan 2027 08:00:20 -0000") is None and parse_http_date(None) is None


def test_the_acknowledgement_never_pushes_the_agents_out_of_the_tag() -> None:
    """A `k=` stamp is optional evidence: when the state with it does not fit, the stamp goes, not the agents."""
    seen = frozenset((7, 1000 + i) for i in range(20))
    state = HoldState(action_hash(ACTION), T0, T0, seen, absent_since=T0)
    stamped = replace(state, confirmed_at=T0 + 1)
    assert fits(state) and not fits(stamped)
    back = decode(encode(stamped))
    assert back is not None and not back.overflow and back.seen == seen and back.confirmed_at is None


def test_the_hold_starts_when_the_scaling_activity_started() -> None:
    started = datetime.fromtimestamp(T0 - 30, UTC)
    client = FakeAutoScaling([{**activity(A, "a"), "StartTime": started}, activity(B, "b")])
    found = lookup_actions(client, {"g": [A, B]})
    assert found == {A: "a", B: "b"} and isinstance(found[A], ActionId)
    assert action_started(found[A]) == T0 - 30 and action_started(found[B]) is None
    assert action_started("plain-string") is None and pickle.loads(pickle.dumps(found[A])).started == T0 - 30


def test_memory_wins_over_a_missing_or_older_tag_and_a_newer_tag_wins_over_memory() -> None:
    memory = Memory()
    first = encode(HoldState(action_hash(ACTION), T0))
    second = encode(HoldState(action_hash(ACTION), T0, T0 + 5, frozenset({(7, 1)})))
    assert memory.recall({}, ACTION) == {}  # nothing remembered: the tags as read
    memory.remember(ACTION, {}, first)  # the tag write failed: nothing on the instance
    assert memory.recall({}, ACTION) == {HOLD_TAG: first}
    memory.remember(ACTION, {HOLD_TAG: first}, second)
    assert memory.recall({HOLD_TAG: first}, ACTION) == {HOLD_TAG: second}  # the tag is older than memory
    other = encode(HoldState(action_hash(ACTION), T0, T0 + 9, frozenset({(7, 1), (7, 2)})))
    assert memory.recall({HOLD_TAG: other}, ACTION) == {HOLD_TAG: other}  # written by another container since
    foreign = encode(HoldState(action_hash("another"), T0))
    assert memory.recall({HOLD_TAG: foreign}, ACTION) == {HOLD_TAG: second}
    assert memory.recall({}, "another") == {}
    memory.remember(ACTION, {}, None)  # the hold ended
    assert memory.recall({}, ACTION) == {}
