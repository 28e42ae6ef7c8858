"""The composition root: how the gate is built for every entry point (the tick, lifecycle and spot events, the
service hook, the CLI, tests and benchmarks), the per-container cache, and the liveness-only path.

Liveness before construction (docs/liveness.md): building the gate reads no secret, signs in nowhere and calls no agent
system; the agent source is built on its first use, after the invocation's first heartbeat pass, and its failure is a
hold, never a dead container. Nothing here knows about the local emulator: endpoints come from the environment
(AWS_ENDPOINT_URL...) or from the caller.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from gate.adapters import logs
from gate.adapters.aws import Aws, make_session
from gate.adapters.azure import AzureDevOps, PatCredential
from gate.adapters.logs import DecisionLog
from gate.adapters.secrets import PAT_KEYS, Rotation, inline, versions_reader
from gate.domain.clock import Clock, SystemClock
from gate.service.heartbeats import Heartbeats
from gate.service.lazy import LazySource
from gate.service.selection import Selector
from gate.service.sources import AgentSource
from gate.service.triggers import Gate
from gate.settings import AgentSystem, Settings, load_settings

_gate: Gate | None = None
_selector: Selector | None = None

# The busy probes: GATE_AGENT_SYSTEM -> factory(settings, boto3 session, AWS endpoint, clock). Another system is one
# new module with a class implementing gate.service.sources.AgentSource plus a `build` function (as gitlab.py), one
# line here and one AgentSystem value in gate/settings.py (docs/features.md, "Adding another CI system").
SourceFactory = Callable[[Settings, Any, str | None, Clock | None], AgentSource]


def azure_credential(
    settings: Settings, session: Any = None, endpoint_url: str | None = None, now: Callable[[], float] | None = None
) -> Any:
    """The Azure DevOps credential the settings name, as a `gate.adapters.azure.Credential`: a PAT or a Microsoft
    Entra service
    principal, each from its secret's AWSCURRENT and AWSPREVIOUS versions. Reads nothing here: the secret is read at
    the first request (after the heartbeat pass), so an unreadable secret is a hold, never a dead container.
    `now`: the gate's clock (TTL and back-off)."""
    max_age = settings.secret_cache_seconds
    if settings.azure_auth == "entra":
        from gate.adapters.entra import EntraCredential  # msal only where Entra is used

        assert settings.entra_secret_arn is not None  # settings validation guarantees it
        what = "the Entra service principal"
        read = versions_reader(
            settings.entra_secret_arn, what=what, keys=(), session=session, endpoint_url=endpoint_url
        )
        rotation = Rotation(read, what=what, now=now, max_age=max_age)
        return EntraCredential(
            rotation, authority_host=settings.entra_authority_host, timeout=settings.http_timeout_seconds
        )
    if settings.pat is not None:
        return PatCredential.static(inline(settings.pat))
    assert settings.pat_secret_arn is not None  # settings validation guarantees one source
    read = versions_reader(
        settings.pat_secret_arn, what="the PAT", keys=PAT_KEYS, session=session, endpoint_url=endpoint_url
    )
    return PatCredential(Rotation(read, what="the PAT", now=now, max_age=max_age))


def _azure_devops(settings: Settings, session: Any, aws_endpoint: str | None, clock: Clock | None) -> AgentSource:
    return AzureDevOps(
        settings.azure_org_url,
        azure_credential(settings, session, aws_endpoint, clock.now if clock is not None else None),
        settings.pools,
        timeout=settings.http_timeout_seconds,
        max_retry_after=settings.max_retry_after_seconds,
        clock=clock,
        api_version=settings.azure_api_version,
    )


def _github(settings: Settings, session: Any, aws_endpoint: str | None, clock: Clock | None) -> AgentSource:
    from gate.adapters import github

    return github.build(settings, session, aws_endpoint, clock)


def _gitlab(settings: Settings, session: Any, aws_endpoint: str | None, clock: Clock | None) -> AgentSource:
    from gate.adapters import gitlab

    return gitlab.build(settings, session, aws_endpoint, clock)


SOURCES: dict[AgentSystem, SourceFactory] = {
    AgentSystem.AZURE_DEVOPS: _azure_devops,
    AgentSystem.GITHUB: _github,
    AgentSystem.GITLAB: _gitlab,
}


def build_gate(
    settings: Settings,
    *,
    aws_endpoint: str | None = None,
    clock: Clock | None = None,
    log: DecisionLog | None = None,
    region: str | None = None,
    account: str | None = None,
    session: Any = None,
) -> Gate:
    """Wire the real edges together; the CLI and the tests use this too, with their own endpoints.

    Touches no network: the agent source (and its credential) is built on first use (gate.service.lazy.LazySource)."""
    session = session or make_session(region)
    clock = clock or SystemClock()
    factory = SOURCES[settings.agent_system]

    def build_source() -> AgentSource:
        return factory(settings, session, aws_endpoint, clock)

    source = LazySource(build_source, clock.now, what=str(settings.agent_system))
    aws = Aws(session, aws_endpoint)
    log = log or DecisionLog(settings.metrics_namespace)
    ecs = protector = notifier = None
    if settings.ecs_drain:
        from gate.adapters.ecs import Ecs

        ecs = Ecs(
            session,
            settings.ecs_cluster,
            endpoint_url=aws_endpoint,
            wait_tasks=settings.ecs_wait_tasks,
            ignore_task_groups=settings.ecs_ignore_task_groups,
        )
    if settings.protect_busy:
        from gate.service.protection import Protector

        protector = Protector(aws, settings.groups, settings.hook_name, clock=clock, log=log)
    if settings.webhook_url is not None:
        from gate.adapters.notify import Notifier

        notifier = Notifier(
            settings.webhook_url.get_secret_value(),
            fmt=str(settings.webhook_format),
            timeout=settings.webhook_timeout_seconds,
            hold_after=settings.hold_notify_seconds,
            aws=aws,
            clock=clock,
            log=log,
        )
    return Gate(
        settings,
        aws,
        source,
        clock,
        log,
        region=region,
        account=account,
        ecs=ecs,
        protector=protector,
        notifier=notifier,
    )


def _account_from(context: Any) -> str | None:
    arn = getattr(context, "invoked_function_arn", None)
    parts = arn.split(":") if isinstance(arn, str) else []
    return parts[4] if len(parts) > 4 and parts[4] else None


def runtime(context: Any) -> Gate:
    """This container's gate, built on its first invocation and reused by warm ones."""
    global _gate
    if _gate is None:
        settings = load_settings()
        logs.configure(level=settings.log_level)
        region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
        _gate = build_gate(settings, region=region, account=_account_from(context))
    return _gate


def selector(context: Any) -> Selector:
    """This container's custom termination policy (gate.service.selection): the gate's own settings, agent source
    (built on first use) and AWS clients, built once like `runtime`."""
    global _selector
    if _selector is None:
        _selector = build_selector(runtime(context))
    return _selector


def aws_of(gate: Gate) -> Aws:
    """The gate's AWS edge as the real client. The round needs only its port (gate.service.triggers.GateEdge); the
    entry points beyond it (the termination policy, the audit, benchmarks that count calls) need the client."""
    if not isinstance(gate.aws, Aws):
        raise TypeError(f"this entry point needs gate.adapters.aws.Aws, not {type(gate.aws).__name__}")
    return gate.aws


def build_selector(gate: Gate) -> Selector:
    """The termination policy on a gate's edges (the Lambda, the tests and the simulator wire it the same way)."""
    return Selector(gate.settings, gate.source, aws_of(gate), gate.clock, gate.log)


def heartbeats_only(context: Any) -> int:
    """Settings that fail validation stop judgment, never liveness: when GATE_GROUPS and GATE_HOOK_NAME can be read,
    every instance waiting in those groups is heartbeated under that hook (Auto Scaling only) and nothing else is done:
    no tag, no agent call, no completion. A hook that is not ours answers "no active action", which changes nothing.
    Returns the heartbeats sent; never raises (the caller raises the settings error for the Errors alarm)."""
    groups = [g.strip() for g in os.environ.get("GATE_GROUPS", "").split(",") if g.strip()]
    hook = os.environ.get("GATE_HOOK_NAME", "").strip()
    if not groups or not hook or len(hook) > 255:
        return 0
    log = DecisionLog()
    try:
        clock = SystemClock()
        region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
        aws = Aws(make_session(region), None)
        remaining = getattr(context, "get_remaining_time_in_millis", None)
        left = float(remaining()) / 1000 - 5 if callable(remaining) else 30.0
        deadline = clock.now() + max(1.0, left)
        aws.set_deadline(deadline, clock.now)
        waiting = aws.find_waiting(groups, hook)
        beats = Heartbeats(aws, clock).run([(w, 0.0) for w in waiting], deadline)
    except Exception as exc:  # liveness is best effort here: the settings error is what the invocation reports
        log.error("heartbeats_only_failed", outcome="error", reason=f"{type(exc).__name__}: {exc}")
        return 0
    sent = sum(1 for b in beats if b.sent)
    log.error("heartbeats_only", outcome="error", reason="invalid gate settings: heartbeats only", sent=sent)
    return sent
