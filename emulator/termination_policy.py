"""Custom termination policies (a Lambda function ARN in a group's TerminationPolicies), as Auto Scaling documents them
(EC2 Auto Scaling User Guide, "Create a custom termination policy with Lambda"), for the AWS emulator's scale-in.

* Auto Scaling invokes the function with the capacity to remove per Availability Zone and purchase option and the
  instances it suggests (those of the zones it would take them from, so the group stays balanced), `Cause` SCALE_IN;
* more instances answered than needed: the group's next policies choose among them (here: the oldest first); fewer:
  those go, and the function is invoked again for the rest;
* no instance answered, an error, or no answer within two seconds: nothing is terminated; Auto Scaling waits a short
  time (`retry_seconds`, on the emulator's clock) and invokes it again while the group is above desired capacity.

The function is the one registered for its ARN in `AwsEmulator.targets` (as for EventBridge's Lambda targets), called
with the payload and expected to return the answer. As in AWS, the scale-in of such a group is asynchronous: the
emulator's timer invokes the function, never an API request (a request that waited for it would hold the server's
request lock against the function's own calls, e.g. DescribeInstances); `wait` lets a test wait for it.

Not emulated: instance refresh, maximum instance lifetime and rebalancing (the emulator has none of them),
mixed-instances purchase options (every instance is on-demand), and the 30,000-instance cap (`HasMoreInstances`).
"""

from __future__ import annotations

import copy
import logging
import threading
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any

from moto.autoscaling.models import FakeAutoScalingGroup, InstanceState

from emulator.eventbridge import Targets

log = logging.getLogger(__name__)

TIME_LIMIT_SECONDS = 2.0  # "The maximum run time for your Lambda function is two seconds"
DefaultPick = Callable[[FakeAutoScalingGroup, int], list[InstanceState]]


def function_arn(group: FakeAutoScalingGroup) -> str | None:
    """The Lambda function among the group's termination policies (AWS allows one, listed first)."""
    for policy in group.termination_policies or []:
        if isinstance(policy, str) and policy.startswith("arn:") and policy.split(":")[2:3] == ["lambda"]:
            return policy
    return None


def _zone(state: InstanceState) -> str:
    return str(state.availability_zone)


def payload(
    group: FakeAutoScalingGroup, eligible: Sequence[InstanceState], default: Sequence[InstanceState]
) -> dict[str, Any]:
    """The input Auto Scaling sends: the capacity per zone that its own policies would remove (`default`), and
    every eligible instance of those zones."""
    capacity = Counter(_zone(s) for s in default)
    return {
        "AutoScalingGroupARN": group.arn,
        "AutoScalingGroupName": group.name,
        "CapacityToTerminate": [
            {"AvailabilityZone": zone, "Capacity": n, "InstanceMarketOption": "on-demand"}
            for zone, n in sorted(capacity.items())
        ],
        "Instances": [
            {
                "AvailabilityZone": _zone(s),
                "InstanceId": s.instance.id,
                "InstanceType": getattr(s.instance, "instance_type", "") or "",
                "InstanceMarketOption": "on-demand",
            }
            for s in eligible
            if _zone(s) in capacity
        ],
        "Cause": "SCALE_IN",
    }


class CustomPolicies:
    """The invocations of every group's custom policy, and when each group may invoke it again."""

    def __init__(self, targets: Targets, *, retry_seconds: float = 10.0, time_limit: float = TIME_LIMIT_SECONDS):
        self.targets = targets
        self.retry_seconds = retry_seconds
        self.time_limit = time_limit  # wall-clock seconds, like the real limit
        self.invocations: list[dict[str, Any]] = []  # payload, answer, outcome: ok | empty | error | timeout | invalid
        self._next: dict[str, float] = {}  # group ARN -> earliest next invocation (emulator clock)
        self._applied = 0  # invocations whose answer the scale-in has acted on
        self._changed = threading.Condition()

    def reset(self) -> None:
        with self._changed:
            self.invocations.clear()
            self._next.clear()
            self._applied = 0

    def applied(self) -> None:
        """The emulator acted on every answer so far (its victims wait on their hooks): wake `wait`."""
        with self._changed:
            self._applied = len(self.invocations)
            self._changed.notify_all()

    def wait(self, count: int, timeout: float = 30.0) -> bool:
        """Until `count` invocations have been answered and acted on (False: not within `timeout`, a broken run)."""
        with self._changed:
            return self._changed.wait_for(lambda: self._applied >= count, timeout)

    def victims(
        self, group: FakeAutoScalingGroup, count: int, default: DefaultPick, now: float, *, invoke: bool = True
    ) -> list[InstanceState]:
        """The instances to take out for `count`: the default policy's when the group names no function; none when
        it does and `invoke` is False (an API request: the timer asks), or it is not yet time to ask again."""
        arn = function_arn(group)
        if arn is None:
            return default(group, count)
        if not invoke or now < self._next.get(group.arn, 0.0):
            return []
        picks = default(group, count)
        if not picks:
            return []  # every candidate protected: nothing to ask
        eligible = [s for s in group.active_instances() if not s.protected_from_scale_in]
        event = payload(group, eligible, picks)
        answer, outcome = self._invoke(arn, event)
        offered = {i["InstanceId"] for i in event["Instances"]}
        chosen = [s for s in eligible if s.instance.id in set(answer) & offered][:count]
        if not chosen and outcome == "ok":
            outcome = "empty"
        self.invocations.append({"group": group.name, "payload": event, "answer": answer, "outcome": outcome})
        if len(chosen) < count:
            self._next[group.arn] = now + self.retry_seconds
        return chosen

    def _invoke(self, arn: str, event: dict[str, Any]) -> tuple[list[str], str]:
        function = self.targets.lookup(arn)
        if function is None:
            log.info("termination policy %s: no local function registered; nothing terminated", arn)
            return [], "error"
        result: dict[str, Any] = {}

        def run() -> None:
            try:
                result["answer"] = function(copy.deepcopy(event))
            except Exception as exc:  # the function failed: as a Lambda error, Auto Scaling retries later
                result["error"] = exc

        worker = threading.Thread(target=run, name="termination-policy", daemon=True)
        worker.start()
        worker.join(self.time_limit)
        if worker.is_alive():
            return [], "timeout"
        if "error" in result:
            return [], "error"
        answer = result.get("answer")
        ids = answer.get("InstanceIDs") if isinstance(answer, dict) else None
        if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
            return [], "invalid"
        return list(ids), "ok"
