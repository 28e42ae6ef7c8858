"""AWS Lambda entry point: `gate.handler.handle`. Parse, dispatch, log; never crash on a bad event.

Only the entry functions live here; how the gate is built (once per container) is `gate.bootstrap`.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from gate import bootstrap
from gate.adapters import logs
from gate.adapters.logs import DecisionLog, Record
from gate.domain.audit import audit_request
from gate.domain.events import LifecycleEvent, ScheduledEvent, Skipped, SpotInterruptionEvent, parse_event
from gate.domain.model import Outcome
from gate.domain.selection import fallback, parse_request
from gate.service.triggers import Gate


def dispatch(gate: Gate, event: Any, deadline: float | None = None) -> list[Record]:
    """Route one invocation. An unexpected failure becomes an `error` record: the next tick retries anyway.
    `deadline`: when the invocation must have finished, on the gate's clock (None: the settings' tick budget)."""
    try:
        return _dispatch(gate, event, deadline)
    except Exception as exc:
        return [gate.recorder.plain(Outcome.ERROR, f"unexpected {type(exc).__name__}: {exc}")]


def _dispatch(gate: Gate, event: Any, deadline: float | None) -> list[Record]:
    parsed = parse_event(event)
    if isinstance(parsed, Skipped):
        return [
            gate.recorder.plain(
                Outcome.SKIPPED,
                parsed.reason,
                group=parsed.group,
                instance=parsed.instance_id,
                hook=parsed.hook,
            )
        ]
    if isinstance(parsed, LifecycleEvent):
        return gate.on_lifecycle(parsed, deadline=deadline)
    if isinstance(parsed, SpotInterruptionEvent):
        return gate.on_spot(parsed)
    assert isinstance(parsed, ScheduledEvent)
    return gate.tick(deadline=deadline)


def invocation_deadline(gate: Gate, context: Any) -> float | None:
    """When this invocation must be done, on the gate's clock: the Lambda context's remaining time minus a margin
    (None without a context that knows it, e.g. the CLI: the settings' tick budget applies)."""
    remaining = getattr(context, "get_remaining_time_in_millis", None)
    if not callable(remaining):
        return None
    try:
        left = float(remaining()) / 1000
    except (TypeError, ValueError):
        return None
    return gate.clock.now() + max(0.0, left - gate.settings.invocation_margin_seconds)


def summary(records: list[Record]) -> dict[str, Any]:
    return {"decisions": len(records), "outcomes": dict(Counter(r["outcome"] for r in records))}


def handle(event: Any, context: Any = None) -> dict[str, Any]:
    """Lambda handler. Misconfiguration raises (so the Errors alarm and the DLQ see it), after heartbeating what
    waits under the configured hook when the groups and hook name can be read; bad events do not raise."""
    logs.bind_invocation(context)  # request_id and cold_start on every line of this invocation (gate/adapters/logs.py)
    try:
        gate = bootstrap.runtime(context)
    except Exception as exc:
        logs.configure()
        DecisionLog().error("gate_misconfigured", outcome="error", reason=str(exc))
        bootstrap.heartbeats_only(context)
        raise
    window = audit_request(event)
    if window is not None:  # the optional scheduled audit (Terraform `audit`), not a round
        return scheduled_audit(gate, window, invocation_deadline(gate, context))
    return summary(dispatch(gate, event, invocation_deadline(gate, context)))


def scheduled_audit(gate: Gate, window: float, deadline: float | None = None) -> dict[str, Any]:
    """Builds killed by scale-in over the last `window` seconds, published as a metric (gate.adapters.audit)."""
    from gate.adapters.audit import scheduled
    from gate.service.lazy import LazySource

    try:
        source = gate.source.get() if isinstance(gate.source, LazySource) else gate.source
    except Exception as exc:  # the credential unreadable: this run has no count (no metric: the alarm stays quiet)
        gate.log.error("audit_failed", reason=f"{type(exc).__name__}: {exc}")
        return {"audit": "failed"}
    set_deadline = getattr(source, "set_deadline", None)
    if callable(set_deadline):
        set_deadline(deadline)
    s = gate.settings
    return scheduled(
        bootstrap.aws_of(gate),
        source,
        gate.log,
        groups=s.groups,
        pools=s.pools,
        mapping=str(s.mapping),
        capability_name=s.capability_name,
        namespace=s.metrics_namespace,
        window=window,
        now=gate.clock.now(),
    )


def select_instances(event: Any, context: Any = None) -> dict[str, list[str]]:
    """Lambda handler of the optional custom termination policy (idle-first selection, gate.service.selection):
    Auto Scaling sends the capacity to remove and the instances it offers; the answer is `{"InstanceIDs": [...]}`.
    Never raises: an error would make Auto Scaling wait and retry, so misconfiguration answers every instance offered
    (the group's next policies choose; the hook gates whatever they choose)."""
    logs.bind_invocation(context)
    try:
        chooser = bootstrap.selector(context)
    except Exception as exc:
        logs.configure()
        DecisionLog().error("gate_misconfigured", outcome="error", reason=str(exc))
        request = parse_request(event)
        return fallback(None if isinstance(request, str) else request, "misconfigured").answer()
    remaining = getattr(context, "get_remaining_time_in_millis", None)
    try:
        left = float(remaining()) / 1000 if callable(remaining) else None
    except (TypeError, ValueError):
        left = None
    return chooser.select(event, left).answer()
