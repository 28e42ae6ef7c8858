"""EventBridge delivery as AWS does it, on moto's rules: patterns route events, schedules fire, Lambda targets run.

moto stores rules and targets, matches patterns and delivers to SQS, log groups and buses, but (5.2.5) it treats a
rule without an event pattern as matching every event and cannot deliver to a Lambda function. In AWS a rule has an
event pattern, a schedule, or both, and a schedule-only rule (the gate's tick) never receives events from a bus
(EventBridge User Guide, "Rules in Amazon EventBridge"). Here:

* `deliver` hands a bus event to each ENABLED rule whose event pattern matches; rules without a pattern get nothing;
  Lambda targets go to the registered function (`Targets.register`), the others to moto's own delivery;
* `Scheduler` fires each ENABLED rule's `rate(...)` schedule as "Scheduled Event" events to that rule's targets
  (`speedup` shortens the period for tests: rate(1 minute) at speedup 6 fires every 10 s; region `*`: every region).

Input transformers and per-target retry policies are not emulated for Lambda targets (the module uses neither).
"""

from __future__ import annotations

import copy
import logging
import re
import threading
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, cast

from moto.events.models import Rule, events_backends

from emulator.guard import OnceLog

__all__ = ["Scheduler", "Targets", "deliver", "rate_seconds"]

log = logging.getLogger(__name__)

LambdaInvoke = Callable[[dict[str, Any]], Any]


class Targets:
    """Function ARN -> how to invoke it (asynchronously, as EventBridge does). Unregistered functions: dropped."""

    def __init__(self) -> None:
        self._functions: dict[str, LambdaInvoke] = {}
        self._lock = threading.Lock()
        # Asked for functions nobody registered: `gate emulator` runs the ones deployed to it (emulator.functions).
        self.fallback: Callable[[str], LambdaInvoke | None] | None = None

    def register(self, function_arn: str, invoke: LambdaInvoke) -> None:
        with self._lock:
            self._functions[function_arn] = invoke

    def unregister(self, function_arn: str) -> None:
        with self._lock:
            self._functions.pop(function_arn, None)

    def lookup(self, arn: str) -> LambdaInvoke | None:
        with self._lock:
            found = self._functions.get(_function_arn(arn))
        if found is None and self.fallback is not None:
            return self.fallback(_function_arn(arn))
        return found


def _function_arn(arn: str) -> str:
    """arn:...:function:NAME[:QUALIFIER] -> the unqualified function ARN."""
    parts = arn.split(":")
    return ":".join(parts[:7])


def _is_lambda(arn: str) -> bool:
    return arn.split(":")[2:3] == ["lambda"]


def _has_pattern(rule: Rule) -> bool:
    return bool(rule.event_pattern.get_pattern())


def _iso(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _to_targets(rule: Rule, event: dict[str, Any], now: float, targets: Targets | None) -> None:
    """Send one event to every target of the rule: Lambda ones here, the rest through moto."""
    others = []
    for target in rule.targets:
        if _is_lambda(target["Arn"]):
            invoke = targets.lookup(target["Arn"]) if targets is not None else None
            if invoke is None:
                log.info("rule %s: no local function for %s; event dropped", rule.name, target["Arn"])
                continue
            try:
                invoke(copy.deepcopy(event))
            except Exception:  # delivery failures never fail the caller, as in AWS
                log.exception("rule %s: invoking %s failed", rule.name, target["Arn"])
        else:
            others.append(target)
    if not others:
        return
    message = copy.deepcopy(event)
    message["time"] = now  # moto's targets format a float epoch into the ISO form
    transform = any("InputTransformer" in target for target in others)
    if transform:  # moto's template parser needs it; without a transformer AWS does not send it
        message["ingestion-time"] = now
    saved = rule.targets
    try:
        rule.targets = others
        rule.send_to_targets(cast(Any, message), transform_input=transform)
    except Exception:
        log.exception("delivering an event to rule %s failed", rule.name)
    finally:
        rule.targets = saved


def deliver(
    event: dict[str, Any], account_id: str, region: str, now: float, targets: Targets | None = None
) -> list[str]:
    """Put one event on the default bus: every ENABLED rule with a matching event pattern gets it. Returns the
    names of the rules that matched."""
    bus = events_backends[account_id][region].event_buses["default"]
    matched = []
    for rule in list(bus.rules.values()):
        if rule.state != "ENABLED" or not _has_pattern(rule):
            continue  # a schedule-only rule never receives bus events
        if not rule.event_pattern.matches_event(cast(Any, event)):
            continue
        matched.append(rule.name)
        _to_targets(rule, event, now, targets)
    return matched


RATE = re.compile(r"^rate\((\d+) (minute|minutes|hour|hours|day|days)\)$")
UNIT_SECONDS = {"minute": 60, "hour": 3600, "day": 86400}


def rate_seconds(expression: str) -> float | None:
    """rate(5 minutes) -> 300; cron(...) and anything else -> None (not emulated)."""
    match = RATE.match(expression.strip())
    if not match:
        return None
    return int(match.group(1)) * UNIT_SECONDS[match.group(2).rstrip("s")]


class Scheduler:
    """Fires the schedules of the account's ENABLED rules, `speedup` times faster than their rate."""

    def __init__(
        self,
        account_id: str,
        region: str,
        targets: Targets,
        *,
        speedup: float = 1.0,
        clock: Callable[[], float] | None = None,
        poll: float = 0.2,
    ) -> None:
        import time

        self.account_id, self.region, self.targets = account_id, region, targets
        self.speedup = speedup
        self.now = clock or time.time
        self.poll = poll
        self.fired: list[tuple[str, float]] = []
        self._due: dict[str, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="eventbridge-scheduler", daemon=True)
        self.errors = OnceLog(log, "the EventBridge scheduler")

    def start(self) -> Scheduler:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()

    def __enter__(self) -> Scheduler:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()

    def _run(self) -> None:
        while not self._stop.wait(self.poll):
            try:
                self.fire_due()
            except Exception as exc:  # the scheduler must survive a bad rule, and log it once, not every pass
                self.errors.failed(exc)

    def _rules(self) -> list[Rule]:
        """The default bus's rules in `region`, or in every region EventBridge was used in when it is `*`."""
        backends = events_backends[self.account_id]
        regions = list(backends.keys()) if self.region == "*" else [self.region]
        return [rule for region in regions for rule in list(backends[region].event_buses["default"].rules.values())]

    def fire_due(self) -> None:
        now = self.now()
        seen = set()
        for rule in self._rules():
            period = rate_seconds(rule.scheduled_expression or "") if rule.state == "ENABLED" else None
            if period is None:
                continue
            seen.add(rule.arn)
            due = self._due.setdefault(rule.arn, now + period / self.speedup)  # first fire one period after creation
            if now < due:
                continue
            self._due[rule.arn] = now + period / self.speedup
            self.fired.append((rule.name, now))
            _to_targets(rule, self._scheduled_event(rule, now), now, self.targets)
        for arn in set(self._due) - seen:  # deleted or disabled rules start over when they come back
            del self._due[arn]

    def _scheduled_event(self, rule: Rule, now: float) -> dict[str, Any]:
        return {
            "version": "0",
            "id": str(uuid.uuid4()),
            "detail-type": "Scheduled Event",
            "source": "aws.events",
            "account": self.account_id,
            "time": _iso(now),
            "region": rule.region_name,
            "resources": [rule.arn],
            "detail": {},
        }
