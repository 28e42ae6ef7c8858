"""`gate replay` finds the event in what a user saved from the DLQ: the on-failure record, an SQS message's Body, or
a whole `aws sqs receive-message` answer with one message. No servers: unwrapping is pure."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from cli.replay import NotAnEvent, unwrap
from gate.domain.events import LifecycleEvent, ScheduledEvent, SpotInterruptionEvent, parse_event
from tests.functional.cli.conftest import ROOT, gate, one_line_error

EVENTS = ROOT / "examples" / "events"


def load(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((EVENTS / name).read_text())
    return data


def test_every_sample_event_parses_as_the_kind_it_names() -> None:
    assert isinstance(parse_event(load("lifecycle-action.json")), LifecycleEvent)
    assert isinstance(parse_event(load("scheduled-tick.json")), ScheduledEvent)
    assert isinstance(parse_event(load("spot-interruption.json")), SpotInterruptionEvent)
    event, found_in = unwrap(load("dlq-on-failure-record.json"))
    assert found_in == "an on-failure (DLQ) record's requestPayload" and isinstance(parse_event(event), LifecycleEvent)


def test_the_three_shapes_a_dlq_record_is_saved_in() -> None:
    record = load("dlq-on-failure-record.json")
    inner = record["requestPayload"]
    message = {"MessageId": "m-1", "ReceiptHandle": "r", "Body": json.dumps(record)}
    assert unwrap(record) == (inner, "an on-failure (DLQ) record's requestPayload")
    assert unwrap(message)[0] == inner
    assert unwrap({"Messages": [message]})[0] == inner
    event = load("lifecycle-action.json")
    assert unwrap(event) == (event, None)  # an event is replayed as it is


@pytest.mark.parametrize(
    ("data", "needle"),
    [
        ({"Messages": []}, "holds 0 SQS messages"),
        ({"Messages": [{"Body": "{}"}, {"Body": "{}"}]}, "holds 2 SQS messages"),
        ({"MessageId": "m", "Body": "not json"}, "Body is not JSON"),
    ],
)
def test_what_is_not_one_event(data: dict[str, Any], needle: str) -> None:
    with pytest.raises(NotAnEvent, match=needle):
        unwrap(data)


def test_replay_says_so_in_one_line(tmp_path: Path) -> None:
    path = tmp_path / "two.json"
    path.write_text(json.dumps({"Messages": [{"Body": "{}"}, {"Body": "{}"}]}))
    one_line_error(gate("replay", path), "holds 2 SQS messages", "save one message's Body")
