"""An AWS emulator for tests and the simulator: moto's server plus the Auto Scaling lifecycle actions moto lacks.

moto 5.2.5 stores terminating lifecycle hooks but ignores them: scale-in terminates at once, no EventBridge event is
emitted, and CompleteLifecycleAction / RecordLifecycleActionHeartbeat answer 500 NotImplemented. The gate is built
around exactly that missing part, so this module patches moto *in process* (idempotently; every patch falls back to
moto's own code when no emulator runs or the group has no terminating hook) and serves it with `ThreadedMotoServer`.

Emulated, after the AWS docs (EC2 Auto Scaling User Guide "Amazon EC2 Auto Scaling lifecycle hooks", "Complete a
lifecycle action", "Control instance retention with instance lifecycle policies", and the API reference):

* scale-in of a group with an `autoscaling:EC2_INSTANCE_TERMINATING` hook (SetDesiredCapacity, UpdateAutoScalingGroup,
  TerminateInstanceInAutoScalingGroup, scaling policies) moves the victim to `Terminating:Wait`; its EC2 instance keeps
  running. Victims skip `ProtectedFromScaleIn` (except for TerminateInstanceInAutoScalingGroup) and instances already
  leaving; the group keeps trying as long as it is above desired capacity (so unprotecting an instance lets it go);
* one "EC2 Instance-terminate Lifecycle Action" event per hook on the default bus (moto rules and targets receive it);
* heartbeat and complete by token or instance id; the instance goes only when all its hooks are done, an ABANDON ends
  the other hooks at once; timeouts apply the hook's DefaultResult; DeleteLifecycleHook completes with CONTINUE;
* `InstanceLifecyclePolicy.RetentionTriggers.TerminateHookAbandon = retain`: ABANDON -> `Terminating:Retained`;
* a Lambda function ARN first in a group's TerminationPolicies (a custom termination policy) is invoked to choose the
  scale-in victims, with its documented payload, answer and two seconds (emulator/termination_policy.py);
* a minimal warm pool ("Warm pools for Amazon EC2 Auto Scaling"): PutWarmPool (moto) then `warm_instances` puts real
  EC2 instances in it (`Warmed:Running`, or `Warmed:Stopped` with the EC2 instance stopped); DescribeWarmPool lists
  them (MaxRecords <= 50, NextToken), DescribeAutoScalingGroups reports `WarmPoolSize`, DescribeAutoScalingInstances
  reports them too (DescribeAutoScalingGroups' `Instances` does not). `terminate_from_warm_pool`, and DeleteWarmPool
  (without ForceDelete: the pool is `PendingDelete` until its instances are gone), take an instance out through the
  terminating hooks: `Warmed:Terminating:Wait`, the same event with `Origin: WarmPool`, an activity
  "Terminating EC2 instance from warm pool: i-...", heartbeats, completion and timeouts as for a group's instance
  ("Manage retained instances": an ABANDON with retention leaves it `Warmed:Terminating:Retained`, still listed by
  DescribeWarmPool, until TerminateInstanceInAutoScalingGroup or EC2 TerminateInstances).

Not emulated: launching hooks (`Pending:Wait`), keeping a warm pool at its size (no launches into it, no shrink on
PutWarmPool), scale-in into a warm pool and scale-out from it (`Warmed:Pending:Wait`), SNS/SQS notification targets
and the test notification, instance refresh / health replacement / rebalancing, the ELB deregistration delay, and
parameter range validation.
All time comes from an injected `gate.domain.clock.Clock`, so a `ScaledClock` or `ManualClock` drives every timeout.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from types import TracebackType
from typing import Any

from moto.autoscaling.exceptions import ValidationError
from moto.autoscaling.models import (
    AutoScalingBackend,
    FakeAutoScalingGroup,
    InstanceState,
    LifecycleHook,
    TerminateInstanceActivity,
    autoscaling_backends,
)
from moto.autoscaling.responses import AutoScalingResponse
from moto.core.models import DEFAULT_ACCOUNT_ID
from moto.core.responses import EmptyResult
from moto.moto_api._internal.models import moto_api_backend
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
from moto.server import ThreadedMotoServer
from werkzeug.serving import make_server

from emulator import eventbridge, logs, termination_policy
from emulator.guard import Guard, OnceLog
from gate.domain.clock import Clock, SystemClock

__all__ = ["AwsEmulator"]

log = logging.getLogger(__name__)

from gate.domain.events import TERMINATING  # noqa: E402

WAIT = "Terminating:Wait"
WARM_WAIT = "Warmed:Terminating:Wait"  # leaving the warm pool to be terminated, on the terminating hooks
WARM_RETAINED = "Warmed:Terminating:Retained"  # ABANDON with TerminateHookAbandon = retain, from the warm pool
WARM_POOL_STATES = ("Running", "Stopped", "Hibernated")
MAX_WARM_POOL_RECORDS = 50  # DescribeWarmPool's MaxRecords: "The maximum value is 50"
RETAINED = "Terminating:Retained"
DETAIL_TYPE = "EC2 Instance-terminate Lifecycle Action"
MAX_GLOBAL_TIMEOUT = 172_800  # 48 h; the global timeout is min(48 h, 100 x HeartbeatTimeout)
RESULTS = ("CONTINUE", "ABANDON")


def _iso(t: float) -> str:
    """EventBridge's `time` format; moto's SQS/Logs targets render a float `time` the same way."""
    return datetime.fromtimestamp(t, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class _Action:
    """One hook's pending lifecycle action on one instance."""

    account_id: str
    region: str
    group: str
    instance_id: str
    hook: str
    token: str
    default_result: str
    heartbeat_timeout: int
    started_at: float
    heartbeat_deadline: float
    global_deadline: float
    heartbeats: int = 0
    state: str = WAIT  # the lifecycle state the instance waits in: Terminating:Wait or Warmed:Terminating:Wait

    @property
    def instance_key(self) -> tuple[str, str, str, str]:
        return (self.account_id, self.region, self.group, self.instance_id)


class _MotoServer(ThreadedMotoServer):
    """moto's ThreadedMotoServer, polling for shutdown every 50 ms instead of 0.5 s (tests stop many emulators), and
    reporting a failed bind (port in use) instead of leaving `start()` waiting forever."""

    error: BaseException | None = None

    faults: _Faults | None = None
    guard: Guard | None = None

    def _server_entry(self) -> None:
        app: Any = DomainDispatcherApplication(create_backend_app)
        if self.faults is not None:
            app = self.faults.wrap(app)
        if self.guard is not None:
            app = self.guard.wrap(app)
        try:
            self._server = make_server(self._ip_address, self._port, app, True, request_handler=MotoRequestHandler)
        except BaseException as exc:
            self.error = exc
            return
        finally:
            self._server_ready_event.set()
        self._server.serve_forever(poll_interval=0.05)


class _Faults:
    """Fault injection and a request log, as WSGI middleware in front of moto.

    AWS answers a throttled call with HTTP 400 `Throttling` ("Rate exceeded") and a contended one with HTTP 500
    `ResourceContention`; botocore retries both, which is exactly what the gate relies on (NTH #1174).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._rules: list[dict[str, Any]] = []
        self._serial = threading.Lock()
        self.calls: list[dict[str, Any]] = []

    def inject(
        self,
        action: str,
        *,
        code: str = "Throttling",
        status: int = 400,
        message: str = "Rate exceeded",
        count: int | None = 1,
        skip: int = 0,
        params: dict[str, str] | None = None,
    ) -> None:
        """Fail the next `count` calls of `action` (None: every one), after letting the first `skip` of them pass.
        `params`: only calls whose (Query protocol) parameters have these values, e.g. one AutoScalingGroupName."""
        rule = {"action": action, "code": code, "status": status, "message": message, "count": count, "skip": skip}
        rule["params"] = dict(params or {})
        with self._lock:
            self._rules.append(rule)

    def clear(self) -> None:
        with self._lock:
            self._rules.clear()

    def wrap(self, app: Any) -> Any:
        def middleware(environ: dict[str, Any], start_response: Any) -> Any:
            import io
            from urllib.parse import parse_qs

            length = int(environ.get("CONTENT_LENGTH") or 0)
            body = environ["wsgi.input"].read(length) if length else b""
            environ["wsgi.input"] = io.BytesIO(body)
            form = parse_qs(body.decode("utf-8", "replace"))
            action = (form.get("Action") or [""])[0]
            target = environ.get("HTTP_X_AMZ_TARGET", "")
            action = action or target.rsplit(".", 1)[-1]
            rule = self._take(action, {k: v[0] for k, v in form.items() if v})
            with self._lock:
                self.calls.append({"action": action, "status": rule["status"] if rule else 200})
            if rule is None:
                with self._serial:  # moto's backends are not thread-safe (EC2 tags raced under load)
                    return app(environ, start_response)
            xml = (
                f"<ErrorResponse><Error><Type>{'Sender' if rule['status'] < 500 else 'Receiver'}</Type>"
                f"<Code>{rule['code']}</Code><Message>{rule['message']}</Message></Error>"
                f"<RequestId>{uuid.uuid4()}</RequestId></ErrorResponse>"
            ).encode()
            start_response(f"{rule['status']} Error", [("Content-Type", "text/xml"), ("Content-Length", str(len(xml)))])
            return [xml]

        return middleware

    def _take(self, action: str, params: dict[str, str]) -> dict[str, Any] | None:
        with self._lock:
            for rule in self._rules:
                wanted = rule.get("params") or {}
                if rule["action"] in (action, "*") and all(params.get(k) == v for k, v in wanted.items()):
                    if rule.get("skip", 0) > 0:
                        rule["skip"] -= 1
                        return None
                    if rule["count"] is not None:
                        rule["count"] -= 1
                        if rule["count"] <= 0:
                            self._rules.remove(rule)
                    return rule
        return None


# The running emulator, if any: every patch routes through it, or falls back to moto when it is None.
_current: AwsEmulator | None = None
_registry_lock = threading.Lock()
_orig: dict[str, Any] = {}


class AwsEmulator:
    """moto server on 127.0.0.1 with terminating lifecycle hooks; one may run per process at a time.

    `start()` wipes moto's in-process state, so every emulator begins as an empty AWS account.
    """

    def __init__(
        self,
        port: int = 0,
        clock: Clock | None = None,
        region: str = "us-east-1",
        timer_interval: float = 0.2,
    ) -> None:
        self.port = port
        self.clock: Clock = clock or SystemClock()
        self.region = region
        self.timer_interval = timer_interval
        self.account_id: str = DEFAULT_ACCOUNT_ID
        self.endpoint = ""
        self.events: list[dict[str, Any]] = []
        self._lock = threading.RLock()
        self._actions: list[_Action] = []
        self._history: list[dict[str, Any]] = []
        self._activities: list[dict[str, Any]] = []  # scaling activities (terminations), oldest first
        self._seen: set[tuple[str, str]] = {(self.account_id, region)}
        self._server: _MotoServer | None = None
        self._timer: threading.Thread | None = None
        self._stopping = threading.Event()
        self.faults = _Faults()  # inject(action, code=..., status=..., count=...): AWS-side fault injection
        self.targets = eventbridge.Targets()  # function ARN -> local function, for rules' Lambda targets
        # A Lambda ARN in a group's TerminationPolicies: invoked (from `targets`) to choose scale-in victims.
        self.policies = termination_policy.CustomPolicies(self.targets)
        # Told (group, instance id) whenever an instance of a group ends: the sandbox tells the fake agent system
        # that the instance's agent is gone (a build running there then fails as on the service; `gate audit`).
        self.on_terminated: list[Callable[[str, str], None]] = []
        self.guard = Guard(log)  # unknown regions refused, a failing request answered (AWS-shaped), logged once
        self.tick_errors = OnceLog(log, "the AWS emulator's lifecycle timer")

    # -- lifecycle -------------------------------------------------------------------------------------------------

    def start(self) -> AwsEmulator:
        global _current
        with _registry_lock:
            if _current is not None:
                raise RuntimeError(
                    f"an AwsEmulator is already running in this process at {_current.endpoint or '(starting)'}: "
                    "stop it first (moto's state is process-global, so two cannot coexist)"
                )
            _install()
            logs.install()  # Logs Insights query definitions (aws_cloudwatch_query_definition), which moto lacks
            _current = self
        try:
            self.reset()
            werkzeug_log = logging.getLogger("werkzeug")
            if werkzeug_log.level == logging.NOTSET:  # one access-log line per request drowns the simulator's output
                werkzeug_log.setLevel(logging.WARNING)
            self._server = _MotoServer(ip_address="127.0.0.1", port=self.port, verbose=False)
            self._server.faults = self.faults
            self._server.guard = self.guard
            self._server.start()
            if self._server.error is not None:
                raise OSError(f"cannot serve on 127.0.0.1:{self.port}: {self._server.error}") from self._server.error
            host, port = self._server.get_host_and_port()
            self.port = port
            self.endpoint = f"http://{host}:{port}"
            self._stopping.clear()
            self._timer = threading.Thread(target=self._run_timer, name="aws-emulator-timer", daemon=True)
            self._timer.start()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        global _current
        self._stopping.set()
        if self._timer is not None:
            self._timer.join()
            self._timer = None
        if self._server is not None:
            self._server.stop()
            self._server = None
        with _registry_lock:
            if _current is self:
                _current = None

    def __enter__(self) -> AwsEmulator:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def reset(self) -> None:
        """Wipe every moto backend and the emulator's own records (events, actions, history)."""
        with self._lock:
            moto_api_backend.reset()
            self._actions.clear()
            self._history.clear()
            self._activities.clear()
            self.policies.reset()
            self.events.clear()

    # -- inspection ------------------------------------------------------------------------------------------------

    def lifecycle_actions(self) -> list[dict[str, Any]]:
        """Pending (not yet completed) lifecycle actions, one per hook per waiting instance."""
        with self._lock:
            return [
                {
                    "group": a.group,
                    "instance_id": a.instance_id,
                    "hook": a.hook,
                    "token": a.token,
                    "state": a.state,
                    "started_at": a.started_at,
                    "heartbeat_deadline": a.heartbeat_deadline,
                    "global_deadline": a.global_deadline,
                    "heartbeats": a.heartbeats,
                    "heartbeat_timeout": a.heartbeat_timeout,
                    "default_result": a.default_result,
                }
                for a in self._actions
            ]

    def history(self) -> list[dict[str, Any]]:
        """Transitions in order. `what`: wait|heartbeat|complete|timeout|terminated|retained; `by`: token|instance|
        timeout, or delete-hook / delete-group / api (TerminateInstanceInAutoScalingGroup on a retained instance) /
        external (instance or group vanished behind the emulator's back), or ec2 (EC2 TerminateInstances of a group's
        instance; `result` is then the lifecycle state it had, e.g. Terminating:Retained), or warm-pool (left the
        warm pool of a group without a terminating hook) / delete-warm-pool (DeleteWarmPool with ForceDelete)."""
        with self._lock:
            return [dict(h) for h in self._history]

    # -- warm pools (moto stores the configuration and answers DescribeWarmPool with no instances) --------------------

    def _group(self, name: str, account_id: str | None, region: str | None) -> FakeAutoScalingGroup:
        backend = autoscaling_backends[account_id or self.account_id][region or self.region]
        group = backend.autoscaling_groups.get(name)
        if group is None:
            raise ValueError(f"no Auto Scaling group {name!r}")
        return group

    def warm_instances(
        self,
        group_name: str,
        count: int,
        pool_state: str = "Running",
        *,
        account_id: str | None = None,
        region: str | None = None,
    ) -> list[str]:
        """Launch `count` instances of the group into its warm pool (PutWarmPool first), as Auto Scaling does when
        the pool is below its size: real EC2 instances from the group's launch template and tags, in
        `Warmed:<pool_state>`, stopped for Stopped and Hibernated. Returns their ids."""
        if pool_state not in WARM_POOL_STATES:
            raise ValueError(f"pool_state must be one of {WARM_POOL_STATES}")
        with self._lock:
            group = self._group(group_name, account_id, region)
            if group.warm_pool is None:
                raise ValueError(f"{group_name} has no warm pool: PutWarmPool first")
            kept = group.instance_states
            group.instance_states = []
            try:
                group.replace_autoscaling_group_instances(count, group.get_propagated_tags())
                launched = group.instance_states
            finally:
                group.instance_states = kept
            ids = [s.instance.id for s in launched]
            if pool_state != "Running":
                group.ec2_backend.stop_instances(ids)
            for state in launched:
                state.lifecycle_state = f"Warmed:{pool_state}"
            _warm(group).extend(launched)
            return ids

    def terminate_from_warm_pool(
        self, group_name: str, instance_id: str, *, account_id: str | None = None, region: str | None = None
    ) -> None:
        """The instance leaves the warm pool to be terminated (the pool shrank): with a terminating hook it waits in
        `Warmed:Terminating:Wait` (event with `Origin: WarmPool`, activity, lifecycle actions as for any instance);
        without one it is terminated at once."""
        with self._lock:
            group = self._group(group_name, account_id, region)
            state = next((s for s in _warm(group) if s.instance.id == instance_id), None)
            if state is None or not _resting(state):
                raise ValueError(f"{instance_id} is not waiting in the warm pool of {group_name}")
            self._leave_warm_pool(group, state)

    def _leave_warm_pool(self, group: FakeAutoScalingGroup, state: InstanceState) -> None:
        hooks = self._hooks(group)
        if hooks:
            self._begin_wait(group, state, hooks, warm=True)
            return
        self._begin_activity(group, state.instance.id, self.clock.now(), warm=True)
        self._terminate_now(group, state, None, None, "warm-pool")

    def warm_pool(self, group_name: str, *, account_id: str | None = None, region: str | None = None) -> dict[str, str]:
        """{instance id: lifecycle state} of the group's warm pool."""
        with self._lock:
            return {s.instance.id: s.lifecycle_state for s in _warm(self._group(group_name, account_id, region))}

    # -- timers ----------------------------------------------------------------------------------------------------

    def _run_timer(self) -> None:
        while not self._stopping.wait(self.timer_interval):
            try:
                with self._lock:
                    self._tick()
            except Exception as exc:  # a bug here must not stop later timeouts, nor log a traceback every 0.2 s
                self.tick_errors.failed(exc)

    def _tick(self) -> None:
        """Apply expired timeouts, then keep hooked groups scaling in while above desired capacity (AWS retries
        scale-in continuously, e.g. once protection is removed). Caller holds the lock."""
        now = self.clock.now()
        for action in list(self._actions):
            if action not in self._actions:  # an ABANDON earlier in this loop ended it
                continue
            group, state = self._locate(action)
            if group is None or state is None or state.lifecycle_state != action.state:
                self._actions.remove(action)
                self._record(action.group, action.instance_id, action.hook, "terminated", None, "external")
            elif now >= action.heartbeat_deadline:
                self._complete(action, action.default_result, by="timeout", what="timeout")
        for account_id, region in list(self._seen):
            if region not in autoscaling_backends[account_id]:  # never remember a region moto cannot serve
                self._seen.discard((account_id, region))
                continue
            for group in list(autoscaling_backends[account_id][region].autoscaling_groups.values()):
                excess = len(group.active_instances()) - (group.desired_capacity or 0)
                hooks = self._hooks(group)
                if excess > 0 and hooks:
                    self._scale_in(group, excess, hooks)

    # -- the lifecycle ---------------------------------------------------------------------------------------------

    @staticmethod
    def _hooks(group: FakeAutoScalingGroup) -> list[LifecycleHook]:
        hooks = group.autoscaling_backend.lifecycle_hooks.values()
        return [h for h in hooks if h.auto_scaling_group_name == group.name and h.lifecycle_transition == TERMINATING]

    @staticmethod
    def _pick_victims(group: FakeAutoScalingGroup, count: int) -> list[InstanceState]:
        """AWS's Default termination policy, simplified: the AZ with the most InService instances that has an
        unprotected one, then the oldest launched (newest with `NewestInstance`). Protected ones are never picked."""
        active = group.active_instances()
        if "NewestInstance" in group.termination_policies:
            active = active[::-1]
        chosen: list[InstanceState] = []
        for _ in range(count):
            remaining = [s for s in active if s not in chosen]
            eligible = [s for s in remaining if not s.protected_from_scale_in]
            if not eligible:
                break
            per_az = Counter(str(s.availability_zone) for s in remaining)
            az = max(sorted({str(s.availability_zone) for s in eligible}), key=lambda z: per_az[z])
            chosen.append(next(s for s in eligible if str(s.availability_zone) == az))
        return chosen

    def _scale_in(self, group: FakeAutoScalingGroup, count: int, hooks: list[LifecycleHook]) -> None:
        timer = threading.current_thread() is self._timer  # a custom policy is asked by the timer only
        for state in self.policies.victims(group, count, self._pick_victims, self.clock.now(), invoke=timer):
            self._begin_wait(group, state, hooks)
        self.policies.applied()
        if group.name in group.autoscaling_backend.autoscaling_groups:
            group.autoscaling_backend.update_attached_elbs(group.name)

    def _begin_wait(
        self, group: FakeAutoScalingGroup, state: InstanceState, hooks: list[LifecycleHook], *, warm: bool = False
    ) -> None:
        now = self.clock.now()
        state.lifecycle_state = WARM_WAIT if warm else WAIT
        self._begin_activity(group, state.instance.id, now, warm=warm)
        for hook in hooks:
            timeout = int(hook.heartbeat_timeout)
            global_deadline = now + min(MAX_GLOBAL_TIMEOUT, 100 * timeout)
            action = _Action(
                account_id=group.account_id,
                region=group.region,
                group=group.name,
                instance_id=state.instance.id,
                hook=hook.name,
                token=str(uuid.uuid4()),
                default_result=hook.default_result or "ABANDON",
                heartbeat_timeout=timeout,
                started_at=now,
                heartbeat_deadline=min(now + timeout, global_deadline),
                global_deadline=global_deadline,
                state=state.lifecycle_state,
            )
            self._actions.append(action)
            self._record(group.name, action.instance_id, hook.name, "wait", None, None)
            self._emit(group, hook, action, now, origin="WarmPool" if warm else "AutoScalingGroup")

    def _emit(self, group: FakeAutoScalingGroup, hook: LifecycleHook, action: _Action, now: float, origin: str) -> None:
        """Publish the event as Auto Scaling does (EC2 Auto Scaling User Guide, "Terminate lifecycle action" event
        reference, and "Warm pool instance lifecycle" for `Origin: WarmPool`): NotificationMetadata only when the
        hook has it. Delivered straight to the default bus's rules so
        that `id`, `time` and `account` survive (moto's PutEvents and default target template would drop them)."""
        detail: dict[str, Any] = {
            "LifecycleActionToken": action.token,
            "AutoScalingGroupName": group.name,
            "LifecycleHookName": hook.name,
            "EC2InstanceId": action.instance_id,
            "LifecycleTransition": TERMINATING,
        }
        metadata = getattr(hook, "notification_metadata", None)
        if metadata:
            detail["NotificationMetadata"] = metadata
        detail.update({"Origin": origin, "Destination": "EC2"})
        event: dict[str, Any] = {
            "version": "0",
            "id": str(uuid.uuid4()),
            "detail-type": DETAIL_TYPE,
            "source": "aws.autoscaling",
            "account": group.account_id,
            "time": _iso(now),
            "region": group.region,
            "resources": [group.arn],
            "detail": detail,
        }
        self.events.append(event)
        # Only rules whose event pattern matches (never schedule-only ones); Lambda targets via self.targets.
        eventbridge.deliver(event, group.account_id, group.region, now, self.targets)

    # -- scaling activities (DescribeScalingActivities; moto returns none) --------------------------------------------
    # One "Terminating EC2 instance: i-..." activity per termination, `MidLifecycleAction` while the instance waits on
    # its hooks, `Successful` once terminated (or retained: AWS documents no status for that; assumed ended). The gate
    # uses the ActivityId as the identity of the lifecycle action (gate.domain.holdstate).

    def _begin_activity(self, group: FakeAutoScalingGroup, instance_id: str, now: float, *, warm: bool = False) -> None:
        where = " from warm pool" if warm else ""
        cause = (
            f"At {_iso(now)} an instance was taken out of the warm pool in response to a change in its size."
            if warm
            else f"At {_iso(now)} an instance was taken out of service in response to a difference between "
            "desired and actual capacity, shrinking the capacity."
        )
        self._activities.append(
            {
                "ActivityId": str(uuid.uuid4()),
                "AutoScalingGroupName": group.name,
                "AutoScalingGroupARN": group.arn,
                "Description": f"Terminating EC2 instance{where}: {instance_id}",
                "Cause": cause,
                "StartTime": datetime.fromtimestamp(now, tz=UTC),
                "StatusCode": "MidLifecycleAction",
                "Progress": 50,
                "Details": "{}",
                "_key": (group.account_id, group.region, group.name, instance_id),
            }
        )

    def _end_activity(self, group: str, instance_id: str, status: str, message: str | None = None) -> None:
        for activity in reversed(self._activities):
            if activity["AutoScalingGroupName"] == group and activity["_key"][3] == instance_id:
                if activity["StatusCode"] == "MidLifecycleAction":
                    ended = datetime.fromtimestamp(self.clock.now(), UTC)
                    activity.update(StatusCode=status, Progress=100, EndTime=ended)
                    if message:
                        activity["StatusMessage"] = message
                return

    def scaling_activities(self, account_id: str, region: str, group: str) -> list[dict[str, Any]]:
        """Newest first, as AWS lists them."""
        with self._lock:
            found = [a for a in self._activities if a["_key"][:3] == (account_id, region, group)]
            return [{k: v for k, v in a.items() if k != "_key"} for a in reversed(found)]

    def _locate(self, action: _Action) -> tuple[FakeAutoScalingGroup | None, InstanceState | None]:
        group = autoscaling_backends[action.account_id][action.region].autoscaling_groups.get(action.group)
        if group is None:
            return None, None
        states = [*group.instance_states, *_warm(group)]
        state = next((s for s in states if s.instance.id == action.instance_id), None)
        return group, state

    def _find(
        self, account_id: str, region: str, group: str, hook: str, token: str | None, instance_id: str | None
    ) -> _Action:
        if not token and not instance_id:
            raise ValidationError("Either LifecycleActionToken or InstanceId must be specified.")
        for a in self._actions:
            if (a.account_id, a.region, a.group, a.hook) == (account_id, region, group, hook) and (
                a.token == token if token else a.instance_id == instance_id
            ):
                return a
        which = f"token {token}" if token else f"instance ID {instance_id}"
        raise ValidationError(f"No active Lifecycle Action found with {which}")

    def _heartbeat(self, action: _Action, by: str) -> None:
        """RecordLifecycleActionHeartbeat restarts the heartbeat timer, never past the global timeout."""
        action.heartbeats += 1
        action.heartbeat_deadline = min(self.clock.now() + action.heartbeat_timeout, action.global_deadline)
        self._record(action.group, action.instance_id, action.hook, "heartbeat", None, by)

    def _complete(self, action: _Action, result: str, by: str, what: str = "complete") -> None:
        """End one hook's action. The instance proceeds once all its hooks are done; for a terminating instance an
        ABANDON ends the remaining hooks at once ("Complete a lifecycle action": ABANDON stops any remaining actions,
        CONTINUE lets the other hooks finish); both results terminate, unless retention applies."""
        self._actions.remove(action)
        self._record(action.group, action.instance_id, action.hook, what, result, by)
        group, state = self._locate(action)
        if group is None or state is None:
            return
        siblings = [a for a in self._actions if a.instance_key == action.instance_key]
        if result == "ABANDON":
            for sibling in siblings:
                self._actions.remove(sibling)
        elif siblings:
            return
        retain = (getattr(group, "instance_lifecycle_policy", None) or {}).get("RetentionTriggers", {})
        if result == "ABANDON" and retain.get("TerminateHookAbandon") == "retain":
            # outside desired capacity until TerminateInstanceInAutoScalingGroup
            state.lifecycle_state = WARM_RETAINED if state.lifecycle_state == WARM_WAIT else RETAINED
            self._end_activity(group.name, state.instance.id, "Successful", "Instance retained (TerminateHookAbandon)")
            self._record(group.name, state.instance.id, action.hook, "retained", result, by)
        else:
            self._terminate_now(group, state, action.hook, result, by)

    def _terminate_now(
        self, group: FakeAutoScalingGroup, state: InstanceState, hook: str | None, result: str | None, by: str
    ) -> None:
        group.instance_states = [s for s in group.instance_states if s is not state]
        warm = _warm(group)
        if state in warm:
            warm.remove(state)
            pool = group.warm_pool
            if not warm and pool is not None and getattr(pool, "status", None) == "PendingDelete":
                group.warm_pool = None  # DeleteWarmPool completes once its last instance is gone
        group.ec2_backend.terminate_instances([state.instance.id])
        self._end_activity(group.name, state.instance.id, "Successful")
        self._record(group.name, state.instance.id, hook, "terminated", result, by)

    def _record(
        self, group: str, instance_id: str, hook: str | None, what: str, result: str | None, by: str | None
    ) -> None:
        self._history.append(
            {
                "time": self.clock.now(),
                "instance_id": instance_id,
                "group": group,
                "hook": hook,
                "what": what,
                "result": result,
                "by": by,
            }
        )
        if what == "terminated":
            for listener in self.on_terminated:
                listener(group, instance_id)

    def _ended_without_hook(self, group: FakeAutoScalingGroup, before: set[str], cause: str) -> None:
        """Instances a group without a terminating hook ended at once: a `Successful` terminate activity each (as
        AWS lists them) and a `terminated` record. Caller holds the lock."""
        now = self.clock.now()
        for iid in sorted(before - {s.instance.id for s in group.instance_states}):
            self._begin_activity(group, iid, now)
            self._activities[-1]["Cause"] = cause.format(at=_iso(now))
            self._end_activity(group.name, iid, "Successful")
            self._record(group.name, iid, None, "terminated", None, "scale-in")


# -- moto patches --------------------------------------------------------------------------------------------------
# Each takes the running emulator's lock and falls back to moto's original when no emulator runs or the group has no
# terminating hook, so groups without hooks (and plain `mock_aws` use) behave exactly as in moto.


def _warm(group: FakeAutoScalingGroup) -> list[InstanceState]:
    """The group's warm-pool instances (kept on moto's group object, so a reset or a deleted group drops them)."""
    found: list[InstanceState] | None = getattr(group, "emulated_warm_instances", None)
    if found is None:
        found = []
        setattr(group, "emulated_warm_instances", found)  # noqa: B010 - not a moto attribute
    return found


def _resting(state: InstanceState) -> bool:
    """In the warm pool and going nowhere (Warmed:Running, Warmed:Stopped, Warmed:Hibernated)."""
    return state.lifecycle_state in {f"Warmed:{pool}" for pool in WARM_POOL_STATES}


def _hooked(group: FakeAutoScalingGroup) -> tuple[AwsEmulator | None, list[LifecycleHook]]:
    emu = _current
    return (emu, AwsEmulator._hooks(group)) if emu is not None else (None, [])


def _set_desired_capacity(group: FakeAutoScalingGroup, new_capacity: int | None) -> None:
    """Scale-in through the hook: only InService instances count toward desired capacity (Terminating:* ones are
    neither re-picked nor replaced); if every candidate is protected, nothing happens and desired stays as set."""
    emu, hooks = _hooked(group)
    if emu is None:
        _orig["set_desired_capacity"](group, new_capacity)
        return
    if not hooks:  # moto terminates at once; the emulator keeps the activity and tells who listens
        with emu._lock:
            before = {s.instance.id for s in group.instance_states}
            _orig["set_desired_capacity"](group, new_capacity)
            emu._ended_without_hook(group, before, _SHRINK)
        return
    with emu._lock:
        group.desired_capacity = group.min_size if new_capacity is None else new_capacity
        excess = len(group.active_instances()) - (group.desired_capacity or 0)
        if excess > 0:
            emu._scale_in(group, excess, hooks)
        elif excess < 0:
            _orig["set_desired_capacity"](group, group.desired_capacity)  # moto launches the missing ones


_SHRINK = (
    "At {at} an instance was taken out of service in response to a difference between desired and actual capacity, "
    "shrinking the capacity."
)


def _update(group: FakeAutoScalingGroup, **kwargs: Any) -> None:
    """UpdateAutoScalingGroup: moto derives desired from len(instance_states), which counts waiting instances and would
    relaunch them; AWS clamps the current desired capacity into the new [MinSize, MaxSize] instead."""
    emu, hooks = _hooked(group)
    if emu is not None and hooks and kwargs.get("desired_capacity") is None:
        desired = group.desired_capacity or 0
        if kwargs.get("max_size") is not None:
            desired = min(desired, kwargs["max_size"])
        if kwargs.get("min_size") is not None:
            desired = max(desired, kwargs["min_size"])
        kwargs["desired_capacity"] = desired
    _orig["update"](group, **kwargs)


def _terminate_instance(
    backend: AutoScalingBackend, instance_id: str, should_decrement: bool
) -> TerminateInstanceActivity:
    """TerminateInstanceInAutoScalingGroup ignores scale-in protection (as in AWS) but honours the hooks; without
    decrement the group launches a replacement right away, since the waiting instance no longer counts."""
    found = next(
        (
            (g, s)
            for g in backend.autoscaling_groups.values()
            for s in [*g.instance_states, *_warm(g)]
            if s.instance.id == instance_id
        ),
        None,
    )
    emu, hooks = _hooked(found[0]) if found else (None, [])
    if emu is not None and found is not None and found[1] in _warm(found[0]):
        group, state = found
        with emu._lock:  # a warm-pool instance: retained ones go now, the others leave the pool (through the hooks)
            if state.lifecycle_state == WARM_RETAINED:
                emu._terminate_now(group, state, None, None, "api")
            elif _resting(state):
                emu._leave_warm_pool(group, state)
            return TerminateInstanceActivity(state.instance, group.desired_capacity or 0)
    if emu is None or found is None or not hooks:
        return _orig["terminate_instance"](backend, instance_id, should_decrement)  # type: ignore[no-any-return]
    group, state = found
    with emu._lock:
        original = group.desired_capacity or 0
        if state.lifecycle_state == RETAINED:
            emu._terminate_now(group, state, None, None, "api")
        elif state.lifecycle_state == "InService":
            if should_decrement:
                if original <= (group.min_size or 0):
                    raise ValidationError(
                        f"Currently, desiredSize equals minSize ({group.min_size}). Terminating instance without "
                        "replacement will violate group's min size constraint. Either set "
                        "shouldDecrementDesiredCapacity flag to false or lower group's min size."
                    )
                group.desired_capacity = original - 1
            emu._begin_wait(group, state, hooks)
            group.set_desired_capacity(group.desired_capacity)
        return TerminateInstanceActivity(state.instance, original)


def _delete_auto_scaling_group(backend: AutoScalingBackend, group_name: str) -> None:
    """Deleting a group deletes its hooks and outstanding lifecycle actions (DeleteAutoScalingGroup, ForceDelete)."""
    emu = _current
    group = backend.autoscaling_groups.get(group_name)
    if emu is not None and group is not None:
        with emu._lock:
            emu._actions = [
                a
                for a in emu._actions
                if (a.account_id, a.region, a.group) != (group.account_id, group.region, group_name)
            ]
            for state in [s for s in group.instance_states if s.lifecycle_state.startswith("Terminating")]:
                emu._terminate_now(group, state, None, None, "delete-group")
            for state in list(_warm(group)):  # ForceDelete: the warm pool goes with the group
                emu._terminate_now(group, state, None, None, "delete-group")
            for key in [k for k, h in backend.lifecycle_hooks.items() if h.auto_scaling_group_name == group_name]:
                del backend.lifecycle_hooks[key]
    _orig["delete_auto_scaling_group"](backend, group_name)


def _delete_lifecycle_hook(backend: AutoScalingBackend, as_name: str, name: str) -> None:
    """DeleteLifecycleHook: outstanding actions are completed first, with CONTINUE for terminating instances."""
    emu = _current
    if emu is not None:
        with emu._lock:
            ours = (backend.account_id, backend.region_name, as_name, name)
            for action in [a for a in emu._actions if (a.account_id, a.region, a.group, a.hook) == ours]:
                if action in emu._actions:
                    emu._complete(action, "CONTINUE", by="delete-hook")
    _orig["delete_lifecycle_hook"](backend, as_name, name)


def _notify_terminate_instances(backend: AutoScalingBackend, instance_ids: list[str]) -> None:
    """EC2 TerminateInstances edits groups from an EC2 request thread: serialise it with the emulator."""
    emu = _current
    if emu is None:
        _orig["notify_terminate_instances"](backend, instance_ids)
        return
    with emu._lock:
        for group in backend.autoscaling_groups.values():  # who ended which instance, in which state (chaos)
            for state in group.instance_states:
                if state.instance.id in instance_ids:
                    emu._record(group.name, state.instance.id, None, "terminated", state.lifecycle_state, "ec2")
            warm = _warm(group)
            for state in [s for s in warm if s.instance.id in instance_ids]:  # a warm instance is not replaced here
                warm.remove(state)
                emu._record(group.name, state.instance.id, None, "terminated", state.lifecycle_state, "ec2")
        _orig["notify_terminate_instances"](backend, instance_ids)


def _call_action(self: AutoScalingResponse) -> Any:
    """Every Auto Scaling request runs under the emulator lock, with timeouts evaluated before and after, so a
    ManualClock advanced by a test is honoured by the very next request."""
    emu = _current
    if emu is None:
        return _orig["call_action"](self)
    with emu._lock:
        if self.region in autoscaling_backends[self.current_account]:
            emu._seen.add((self.current_account, self.region))
        emu._tick()
        response = _orig["call_action"](self)
        emu._tick()
        return response


def _put_lifecycle_hook(self: AutoScalingResponse) -> Any:
    """moto drops NotificationMetadata and reports fixed ARNs and a 48 h GlobalTimeout; keep what was given."""
    response = _orig["put_lifecycle_hook"](self)
    if _current is None:
        return response
    group, name = self._get_param("AutoScalingGroupName"), self._get_param("LifecycleHookName")
    _annotate_hook(self.autoscaling_backend.lifecycle_hooks[f"{group}_{name}"], self._get_params())
    return response


def _annotate_hook(hook: LifecycleHook, spec: dict[str, Any]) -> None:
    setattr(hook, "notification_metadata", spec.get("NotificationMetadata"))  # noqa: B010 - not a moto attribute
    setattr(hook, "notification_target_arn", spec.get("NotificationTargetARN"))  # noqa: B010 - None when unset
    setattr(hook, "role_arn", spec.get("RoleARN"))  # noqa: B010
    hook.global_timeout = min(MAX_GLOBAL_TIMEOUT, 100 * int(hook.heartbeat_timeout))


def _create_auto_scaling_group(self: AutoScalingResponse) -> Any:
    """Also honour LifecycleHookSpecificationList and InstanceLifecyclePolicy, which moto ignores."""
    response = _orig["create_auto_scaling_group"](self)
    if _current is None:
        return response
    name = self._get_param("AutoScalingGroupName")
    backend = self.autoscaling_backend
    for spec in self._get_param("LifecycleHookSpecificationList", []) or []:
        hook = backend.create_lifecycle_hook(
            name=spec["LifecycleHookName"],
            as_name=name,
            transition=spec["LifecycleTransition"],
            timeout=int(spec["HeartbeatTimeout"]) if spec.get("HeartbeatTimeout") else None,
            result=spec.get("DefaultResult"),
        )
        _annotate_hook(hook, spec)
    _set_policy(backend.autoscaling_groups[name], self._get_param("InstanceLifecyclePolicy"))
    return response


def _update_auto_scaling_group(self: AutoScalingResponse) -> Any:
    response = _orig["update_auto_scaling_group"](self)
    if _current is None:
        return response
    policy = self._get_param("InstanceLifecyclePolicy")
    if policy is not None:
        _set_policy(self.autoscaling_backend.autoscaling_groups[self._get_param("AutoScalingGroupName")], policy)
    termination = self._get_param("TerminationPolicies")  # moto ignores them on update (a custom policy's ARN)
    if termination:
        group = self.autoscaling_backend.autoscaling_groups[self._get_param("AutoScalingGroupName")]
        group.termination_policies = list(termination)
    return response


def _set_policy(group: FakeAutoScalingGroup, policy: dict[str, Any] | None) -> None:
    # moto's serializer picks up `instance_lifecycle_policy`, so DescribeAutoScalingGroups reports it.
    setattr(group, "instance_lifecycle_policy", policy)  # noqa: B010 - not a moto attribute


def _lifecycle_request(self: AutoScalingResponse) -> tuple[AwsEmulator, _Action, str]:
    emu = _current
    if emu is None:
        raise NotImplementedError("lifecycle actions need a running emulator.aws.AwsEmulator")
    token, instance_id = self._get_param("LifecycleActionToken"), self._get_param("InstanceId")
    action = emu._find(
        self.current_account,
        self.region,
        self._get_param("AutoScalingGroupName"),
        self._get_param("LifecycleHookName"),
        token,
        instance_id,
    )
    return emu, action, "token" if token else "instance"


def _complete_lifecycle_action(self: AutoScalingResponse) -> EmptyResult:
    result = self._get_param("LifecycleActionResult")
    if result not in RESULTS:
        raise ValidationError(f"Invalid LifecycleActionResult {result!r}: must be CONTINUE or ABANDON")
    emu, action, by = _lifecycle_request(self)
    emu._complete(action, result, by)
    return EmptyResult()


def _record_lifecycle_action_heartbeat(self: AutoScalingResponse) -> EmptyResult:
    emu, action, by = _lifecycle_request(self)
    emu._heartbeat(action, by)
    return EmptyResult()


def _describe_scaling_activities(self: AutoScalingResponse) -> Any:
    """The emulator's terminate activities of one group, newest first, MaxRecords (<= 100) per page."""
    from moto.core.responses import ActionResult

    emu = _current
    if emu is None:
        return _orig["describe_scaling_activities"](self)
    group = self._get_param("AutoScalingGroupName")
    found = emu.scaling_activities(self.current_account, self.region, group) if group else []
    wanted = self._get_param("ActivityIds", []) or []
    if wanted:
        found = [a for a in found if a["ActivityId"] in wanted]
    size = min(int(self._get_param("MaxRecords") or 100), 100)
    start = int(self._get_param("NextToken") or 0)
    result: dict[str, Any] = {"Activities": found[start : start + size]}
    if start + size < len(found):
        result["NextToken"] = str(start + size)
    return ActionResult(result)


def _describe_warm_pool(self: AutoScalingResponse) -> Any:
    """The pool's configuration and instances (moto answers none), MaxRecords (<= 50) per page, as AWS pages them."""
    from moto.core.responses import ActionResult

    emu = _current
    if emu is None:
        return _orig["describe_warm_pool"](self)
    name = self._get_param("AutoScalingGroupName")
    group = self.autoscaling_backend.autoscaling_groups.get(name)
    if group is None:
        raise ValidationError(f"AutoScalingGroup name not found - AutoScalingGroup {name} not found")
    size = int(self._get_param("MaxRecords") or MAX_WARM_POOL_RECORDS)
    if not 1 <= size <= MAX_WARM_POOL_RECORDS:
        raise ValidationError(f"MaxRecords must be between 1 and {MAX_WARM_POOL_RECORDS}")
    token = self._get_param("NextToken")
    if token is not None and not str(token).isdigit():
        raise ValidationError(f"Invalid NextToken {token!r}")  # AWS: InvalidNextToken
    start = int(token or 0)
    found = _warm(group) if group.warm_pool is not None else []
    result: dict[str, Any] = {"Instances": found[start : start + size]}
    if group.warm_pool is not None:
        result["WarmPoolConfiguration"] = group.warm_pool
    if start + size < len(found):
        result["NextToken"] = str(start + size)
    return ActionResult(result)


def _delete_warm_pool(self: AutoScalingResponse) -> Any:
    """ForceDelete terminates the pool's instances at once (their lifecycle actions dropped); without it they leave
    through the terminating hooks and the pool is `PendingDelete` until the last one is gone."""
    emu = _current
    if emu is None:
        return _orig["delete_warm_pool"](self)
    name = self._get_param("AutoScalingGroupName")
    group = self.autoscaling_backend.autoscaling_groups.get(name)
    if group is None or not _warm(group):
        return _orig["delete_warm_pool"](self)
    force = str(self._get_param("ForceDelete")).lower() == "true"
    with emu._lock:
        if force:
            ids = {s.instance.id for s in _warm(group)}
            emu._actions = [a for a in emu._actions if not (a.group == name and a.instance_id in ids)]
            for state in list(_warm(group)):
                emu._terminate_now(group, state, None, None, "delete-warm-pool")
            group.warm_pool = None
        else:
            setattr(group.warm_pool, "status", "PendingDelete")  # noqa: B010 - WarmPoolConfiguration.Status
            for state in [s for s in _warm(group) if _resting(s)]:
                emu._leave_warm_pool(group, state)
    return EmptyResult()


def _describe_auto_scaling_instances(backend: AutoScalingBackend, instance_ids: list[str]) -> list[InstanceState]:
    """Warm-pool instances are Auto Scaling instances too (with their Warmed:* state)."""
    found: list[InstanceState] = _orig["describe_auto_scaling_instances"](backend, instance_ids)
    if _current is None:
        return found
    for group in backend.autoscaling_groups.values():
        found.extend(s for s in _warm(group) if not instance_ids or s.instance.id in instance_ids)
    return found


def _warm_pool_size(group: FakeAutoScalingGroup) -> int | None:
    """DescribeAutoScalingGroups' WarmPoolSize: only for a group with a warm pool."""
    return len(_warm(group)) if group.warm_pool is not None else None


_PATCHES: list[tuple[type, str, Any]] = [
    (FakeAutoScalingGroup, "set_desired_capacity", _set_desired_capacity),
    (FakeAutoScalingGroup, "update", _update),
    (AutoScalingBackend, "terminate_instance", _terminate_instance),
    (AutoScalingBackend, "delete_auto_scaling_group", _delete_auto_scaling_group),
    (AutoScalingBackend, "delete_lifecycle_hook", _delete_lifecycle_hook),
    (AutoScalingBackend, "notify_terminate_instances", _notify_terminate_instances),
    (AutoScalingResponse, "call_action", _call_action),
    (AutoScalingResponse, "put_lifecycle_hook", _put_lifecycle_hook),
    (AutoScalingResponse, "create_auto_scaling_group", _create_auto_scaling_group),
    (AutoScalingResponse, "update_auto_scaling_group", _update_auto_scaling_group),
    (AutoScalingResponse, "complete_lifecycle_action", _complete_lifecycle_action),
    (AutoScalingResponse, "record_lifecycle_action_heartbeat", _record_lifecycle_action_heartbeat),
    (AutoScalingResponse, "describe_scaling_activities", _describe_scaling_activities),
    (AutoScalingResponse, "describe_warm_pool", _describe_warm_pool),
    (AutoScalingResponse, "delete_warm_pool", _delete_warm_pool),
    (AutoScalingBackend, "describe_auto_scaling_instances", _describe_auto_scaling_instances),
    (FakeAutoScalingGroup, "warm_pool_size", property(_warm_pool_size)),
]


def _install() -> None:
    """Patch moto once per process (idempotent); the patches are inert while no emulator runs."""
    if _orig:
        return
    for cls, name, patch in _PATCHES:
        _orig[name] = cls.__dict__.get(name)
        setattr(cls, name, patch)
