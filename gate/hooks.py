"""The group's own lifecycle hook, read rather than assumed: it sets the heartbeat cadence and caps the hold.

AWS's limits (EC2 Auto Scaling API reference, LifecycleHook): HeartbeatTimeout is 30-7200 s and the action ends
with the hook's DefaultResult when no heartbeat arrives in time, or in any case after the global timeout,
min(48 h, 100 x HeartbeatTimeout). So the gate heartbeats after a third of the hook's own HeartbeatTimeout (two
misses still leave a heartbeat in time) and forces its own result a margin before the global timeout, so that the
gate, never AWS's default, decides how a hold ends. A hook that is missing, named differently or on another
transition is a misconfiguration the gate cannot work around: it says so (an `error` decision, alarmed).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from gate.aws import AwsError
from gate.settings import AWS_MAX_GLOBAL_TIMEOUT

TERMINATING = "autoscaling:EC2_INSTANCE_TERMINATING"
# Hooks change rarely (Terraform applies); five minutes keeps DescribeLifecycleHooks off the shared Auto Scaling
# rate bucket (one call per group per five minutes per container) while a fix to a hook is seen soon enough.
CACHE_SECONDS = 300.0
# The gate's hold clock starts at first sight (up to a tick after AWS's), ticks are a minute apart and an invocation
# may run for a minute: force five minutes before AWS's global timeout would apply the DefaultResult.
GLOBAL_TIMEOUT_MARGIN_SECONDS = 300.0
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


class _HookSource(Protocol):
    def lifecycle_hooks(self, group: str) -> list[dict[str, Any]]: ...


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
    timeout = float(hook.get("HeartbeatTimeout") or 3600)
    global_timeout = min(
        float(hook.get("GlobalTimeout") or AWS_MAX_GLOBAL_TIMEOUT), AWS_MAX_GLOBAL_TIMEOUT, 100 * timeout
    )
    return Hook(group, name, timeout, str(hook.get("DefaultResult") or "ABANDON"), global_timeout)


class Hooks:
    """Per-container cache of each group's hook. A failed lookup keeps the last answer (however old): liveness must
    not depend on DescribeLifecycleHooks; with no answer at all the caller heartbeats at the safest cadence."""

    def __init__(
        self,
        aws: _HookSource,
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
            found = read_hook(group, self.name, self.aws.lifecycle_hooks(group))
        except AwsError as exc:
            self._failed[group] = now
            if self.on_failure is not None:
                self.on_failure(group, str(exc))
            return cached[1] if cached is not None else None
        self._failed.pop(group, None)
        self._cache[group] = (now, found)
        return found

    def heartbeat_every(self, group: str) -> float:
        hook = self.lookup(group)
        return hook.heartbeat_every if isinstance(hook, Hook) else UNKNOWN_HOOK_HEARTBEAT_SECONDS
