"""`gate replay`: find the EventBridge event inside what a user saved, and show the handler's records.

Failed events end up in the Lambda's on-failure destination (the module's DLQ) as an invocation record whose
`requestPayload` is the event; `aws sqs receive-message` wraps that record as a message `Body` string. A user
should be able to save any of these three and replay it.
"""

from __future__ import annotations

import json
from typing import Any

from rich.markup import escape

from cli.common import say


class NotAnEvent(ValueError):
    pass


def unwrap(data: Any, depth: int = 0) -> tuple[Any, str | None]:
    """The event inside `data`, and what it was found in (None: `data` is the event itself)."""
    if depth > 3 or not isinstance(data, dict):
        return data, None
    if "requestPayload" in data and "requestContext" in data:
        return unwrap(data["requestPayload"], depth + 1)[0], "an on-failure (DLQ) record's requestPayload"
    messages = data.get("Messages")
    if isinstance(messages, list) and "detail" not in data:
        if len(messages) != 1:
            raise NotAnEvent(f"holds {len(messages)} SQS messages: save one message's Body")
        return unwrap(messages[0], depth + 1)[0], "an SQS message's Body"
    body = data.get("Body")
    if isinstance(body, str) and "detail" not in data:
        try:
            inner = json.loads(body)
        except ValueError:
            raise NotAnEvent("an SQS message whose Body is not JSON") from None
        return unwrap(inner, depth + 1)[0], "an SQS message's Body"
    return data, None


def print_records(records: list[dict[str, Any]], dry_run: bool) -> None:
    for r in records:
        say(
            f"[bold]{escape(r['outcome'])}[/] {escape(r.get('group') or '-')} {escape(r.get('instance') or '-')}: "
            f"{escape(r['reason'])}"
        )
    if not records:
        say("no decision (nothing waiting)")
    if dry_run:
        say("dry run: nothing was done (--execute acts)")
