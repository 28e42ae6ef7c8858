"""The group's own lifecycle hook, read rather than assumed: it sets the heartbeat cadence and caps the hold.

AWS's limits (EC2 Auto Scaling API reference, LifecycleHook): HeartbeatTimeout is 30-7200 s and the action ends
with the hook's DefaultResult when no heartbeat arrives in time, or in any case after the global timeout,
min(48 h, 100 x HeartbeatTimeout). So the gate heartbeats after a third of the hook's own HeartbeatTimeout (two
misses still leave a heartbeat in time) and forces its own result a margin before the global timeout, so that the
gate, never AWS's default, decides how a hold ends. A hook that is missing, named differently or on another
transition is a misconfiguration the gate cannot work around: it says so (an `error` decision, alarmed).

Other terminating hooks on the same group are read too. The instance leaves Terminating:Wait only when every hook's
action is done, and (EC2 Auto Scaling User Guide, "Lifecycle action result") for a terminating instance ABANDON
"stops any remaining actions, such as other lifecycle hooks", while CONTINUE "allows any other lifecycle hooks to
complete". So a foreign hook whose DefaultResult is ABANDON and which times out before the gate's max hold ends the
gate's hold with it and kills the build; one that defaults to CONTINUE only finishes its own part. ECS managed
draining's `ecs-managed-draining-termination-hook` is created with DefaultResult CONTINUE and completed by ECS: by
the same rule it is never reported (unless someone changed it to ABANDON with a short timeout).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from gate.domain.errors import AwsError
from gate.domain.events import TERMINATING
from gate.settings import AWS_MAX_GLOBAL_TIMEOUT

# Hooks change rarely (Terraform applies); five minutes keeps DescribeLifecycleHooks off the shared Auto Scaling
# rate bucket (one call per group per five minutes per container) while a fix to a hook is seen soon enough.
CACHE_SECONDS = 300.0
# The gate's hold clock starts at first sight (up to a tick after AWS's), ticks are a minute apart and an invocation
# may run for a minute: force five minutes before AWS's global timeout would apply the DefaultResult.
GLOBAL_TIMEOUT_MARGIN_SECONDS = 300.0
AWS_MAX_HEARTBEAT_TIMEOUT = 7200.0  # PutLifecycleHook's HeartbeatTimeout range is 30-7200 s
# When the hook cannot be read and nothing is cached: heartbeat as often as the shortest legal hook needs (30 s / 3).
UNKNOWN_HOOK_HEARTBEAT_SECONDS = 10.0
# After a failed lookup, ask again no sooner than this: botocore already retried, and every round asks.
RETRY_FAILED_LOOKUP_SECONDS = 60.0


@dataclass(frozen=True, slots=True)
class Hook:
    """Our terminating hook on one group, as DescribeLifecycleHooks reports it."""

    group: str
    name: str
    heartbeat_timeout: float
    default_result: str = "ABANDON"
    global_timeout: float = AWS_MAX_GLOBAL_TIMEOUT

    @property
    def heartbeat_every(self) -> float:
        return self.heartbeat_timeout / 3

    def max_hold(self, configured: float) -> float:
        """The configured max hold, capped a margin below the global timeout (never below one heartbeat)."""
        return max(self.heartbeat_every, min(configured, self.global_timeout - GLOBAL_TIMEOUT_MARGIN_SECONDS))


@dataclass(frozen=True, slots=True)
class HookProblem:
    """The group has no usable hook of ours: the reason names what was found instead."""

    group: str
    reason: str


@dataclass(frozen=True, slots=True)
class ForeignHook:
    """Another terminating hook on the same group, as DescribeLifecycleHooks reports it."""

    name: str
    heartbeat_timeout: float
    default_result: str
    global_timeout: float

    def ends_the_wait_within(self) -> float | None:
        """Seconds after which this hook, unheartbeated, ends the whole wait (ABANDON on timeout); None: never
        (a CONTINUE lets the other hooks finish). Heartbeats would stretch it to the global timeout at most, but
        nothing says anyone heartbeats it: the heartbeat timeout is what counts."""
        return self.heartbeat_timeout if self.default_result == "ABANDON" else None


class HookSource(Protocol):
    """What reading the hook asks of Auto Scaling (DescribeLifecycleHooks). Errors: AwsError."""

    def lifecycle_hooks(self, group: str) -> list[dict[str, Any]]: ...


def _timeouts(hook: dict[str, Any]) -> tuple[float, float]:
    """(HeartbeatTimeout, global timeout) with AWS's defaults and caps."""
    timeout = float(hook.get("HeartbeatTimeout") or 3600)
    global_timeout = min(
        float(hook.get("GlobalTimeout") or AWS_MAX_GLOBAL_TIMEOUT), AWS_MAX_GLOBAL_TIMEOUT, 100 * timeout
    )
    return timeout, global_timeout


def read_foreign(name: str, described: list[dict[str, Any]]) -> tuple[ForeignHook, ...]:
    """Pure: the group's terminating hooks other than ours (named `name`)."""
    out = []
    for h in described:
        if h.get("LifecycleTransition") == TERMINATING and h.get("LifecycleHookName") != name:
            timeout, global_timeout = _timeouts(h)
            result = str(h.get("DefaultResult") or "ABANDON")
            out.append(ForeignHook(str(h.get("LifecycleHookName", "?")), timeout, result, global_timeout))
    return tuple(out)


def foreign_hook_problem(group: str, foreign: tuple[ForeignHook, ...], max_hold: float) -> str | None:
    """Pure: what is wrong with the group's other terminating hooks, given the gate's effective max hold (None: they
    cannot end a hold before the gate does). One line naming each such hook and the fixes.

    The margin: the gate's hold clock may start up to a tick (and an invocation) after the wait began, so a hook
    timing out just after the max hold can still end the wait before the gate forces its own result."""
    bound = max_hold + GLOBAL_TIMEOUT_MARGIN_SECONDS
    bad = [h for h in foreign if (end := h.ends_the_wait_within()) is not None and end < bound]
    if not bad:
        return None
    parts = []
    for h in bad:
        capped = ", which caps even a heartbeated wait" if h.global_timeout < bound else ""
        parts.append(
            f"{h.name} (DefaultResult {h.default_result}, HeartbeatTimeout {h.heartbeat_timeout:.0f} s, global "
            f"timeout {h.global_timeout:.0f} s{capped})"
        )
    fixes = ["have its owner heartbeat it until the gate completes its own hook"]
    if bound <= AWS_MAX_HEARTBEAT_TIMEOUT:
        fixes.append(f"raise its HeartbeatTimeout to at least {bound:.0f} s")
    fixes += ["set its DefaultResult to CONTINUE (a CONTINUE ends only its own part)", "or remove it"]
    return (
        f"group {group}: terminating lifecycle hook {'; '.join(parts)} ends the wait before the gate's max hold "
        f"({max_hold:.0f} s) and kills a running build (an ABANDON ends every hook's wait). Fix: {', '.join(fixes)}"
    )


def read_hook(group: str, name: str, described: list[dict[str, Any]]) -> Hook | HookProblem:
    """Pure: our hook out of the group's DescribeLifecycleHooks answer, or what is wrong with it."""
    ours = [h for h in described if h.get("LifecycleHookName") == name]
    if not ours:
        terminating = [
            h.get("LifecycleHookName", "?") for h in described if h.get("LifecycleTransition") == TERMINATING
        ]
        found = f"its terminating hooks: {', '.join(terminating)}" if terminating else "it has no terminating hook"
        return HookProblem(group, f"group {group} has no lifecycle hook named {name} ({found}): check GATE_HOOK_NAME")
    hook = ours[0]
    transition = hook.get("LifecycleTransition")
    if transition != TERMINATING:
        return HookProblem(group, f"hook {name} on group {group} is on {transition}, not {TERMINATING}")
    timeout, global_timeout = _timeouts(hook)
    return Hook(group, name, timeout, str(hook.get("DefaultResult") or "ABANDON"), global_timeout)


class Hooks:
    """Per-container cache of each group's hook. A failed lookup keeps the last answer (however old): liveness must
    not depend on DescribeLifecycleHooks; with no answer at all the caller heartbeats at the safest cadence."""

    def __init__(
        self,
        aws: HookSource,
        name: str,
        now: Callable[[], float],
        on_failure: Callable[[str, str], None] | None = None,
        ttl: float = CACHE_SECONDS,
    ) -> None:
        self.aws = aws
        self.name = name
        self.now = now
        self.ttl = ttl
        self.on_failure = on_failure
        self._cache: dict[str, tuple[float, Hook | HookProblem]] = {}
        self._foreign: dict[str, tuple[ForeignHook, ...]] = {}  # group -> its other terminating hooks (same read)
        self._failed: dict[str, float] = {}  # group -> when its lookup last failed
        self._lock = threading.Lock()  # judgment threads ask too: one lookup when the cache expires, not eight

    def lookup(self, group: str) -> Hook | HookProblem | None:
        """None: unknown (the lookup failed and nothing is cached)."""
        with self._lock:
            return self._lookup(group)

    def _lookup(self, group: str) -> Hook | HookProblem | None:
        now = self.now()
        cached = self._cache.get(group)
        if cached is not None and now - cached[0] < self.ttl:
            return cached[1]
        if now - self._failed.get(group, -RETRY_FAILED_LOOKUP_SECONDS) < RETRY_FAILED_LOOKUP_SECONDS:
            return cached[1] if cached is not None else None
        try:
            described = self.aws.lifecycle_hooks(group)
            found = read_hook(group, self.name, described)
        except AwsError as exc:
            self._failed[group] = now
            if self.on_failure is not None:
                self.on_failure(group, str(exc))
            return cached[1] if cached is not None else None
        self._failed.pop(group, None)
        self._cache[group] = (now, found)
        self._foreign[group] = read_foreign(self.name, described)
        return found

    def foreign(self, group: str) -> tuple[ForeignHook, ...]:
        """The group's other terminating hooks, from the same (cached) DescribeLifecycleHooks answer as `lookup`."""
        with self._lock:
            self._lookup(group)
            return self._foreign.get(group, ())

    def heartbeat_every(self, group: str) -> float:
        hook = self.lookup(group)
        return hook.heartbeat_every if isinstance(hook, Hook) else UNKNOWN_HOOK_HEARTBEAT_SECONDS
