"""Azure DevOps service hooks as "re-check now": an optional receiver behind a Lambda function URL.

Azure DevOps can POST to a web hook when a build completes (`build.complete`) or a pipeline job changes state
(`ms.vss-pipelines.job-state-changed-event`). Either is only a trigger: the receiver runs one round of the tick (one
agent list per pool, the same rules, the same evidence), so a forged or replayed call can at worst cost one round.
Nothing in the payload is trusted; the event type only decides whether a round is worth running.

A call must carry the shared secret (the web hook's basic-auth password, or an `X-Gate-Secret` header), compared in
constant time; bodies over `MAX_BODY_BYTES` are refused before they are decoded; the function's reserved concurrency
(Terraform) is the rate limit. Without a configured secret every call is refused.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

# The largest real payload (build.complete with messages and links) is ~6 KB; 64 KiB leaves room for long names.
MAX_BODY_BYTES = 64 * 1024
SECRET_HEADER = "x-gate-secret"
# Events that can mean "an agent may just have become idle". A run can end without a job event reaching us.
RECHECK_EVENTS = frozenset(
    {
        "build.complete",
        "ms.vss-pipelines.job-state-changed-event",
        "ms.vss-pipelines.run-state-changed-event",
    }
)


@dataclass(frozen=True, slots=True)
class Verdict:
    status: int  # the HTTP status to answer with
    reason: str
    recheck: bool = False
    event_type: str | None = None


def _presented_secret(headers: Mapping[str, str]) -> str | None:
    """The secret the caller presented: the X-Gate-Secret header, or the password of Basic authorization."""
    if SECRET_HEADER in headers:
        return headers[SECRET_HEADER]
    scheme, _, value = headers.get("authorization", "").partition(" ")
    if scheme.lower() != "basic" or not value:
        return None
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    return decoded.partition(":")[2]


def _body(event: Mapping[str, Any], limit: int) -> bytes | None:
    """The raw body, or None when it is over `limit` (checked on the encoded length first: nothing big is decoded)."""
    raw = event.get("body") or ""
    if not isinstance(raw, str):
        return None
    encoded = bool(event.get("isBase64Encoded"))
    if len(raw) > (limit * 4 // 3 + 4 if encoded else limit * 4):  # 4 bytes per character at most in UTF-8
        return None
    try:
        data = base64.b64decode(raw) if encoded else raw.encode("utf-8")
    except (binascii.Error, ValueError):
        return b"\x00"  # undecodable: fails JSON parsing below
    return data if len(data) <= limit else None


def check(event: Mapping[str, Any], secret: str | None, limit: int = MAX_BODY_BYTES) -> Verdict:
    """Pure: what to answer to one function URL request (payload format 2.0), and whether to re-check."""
    method = str(event.get("requestContext", {}).get("http", {}).get("method", "")).upper()
    if method != "POST":
        return Verdict(405, f"method {method or '?'} not allowed")
    if not secret:
        return Verdict(503, "no service hook secret configured: refusing every call")
    headers = {str(k).lower(): str(v) for k, v in (event.get("headers") or {}).items()}
    presented = _presented_secret(headers)
    if presented is None or not hmac.compare_digest(presented.encode("utf-8"), secret.encode("utf-8")):
        return Verdict(401, "missing or wrong secret")
    body = _body(event, limit)
    if body is None:
        return Verdict(413, f"body over {limit} bytes")
    try:
        payload = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return Verdict(400, "body is not JSON")
    if not isinstance(payload, dict):
        return Verdict(400, "body is not a JSON object")
    event_type = payload.get("eventType")
    if event_type not in RECHECK_EVENTS:
        return Verdict(202, f"event type {str(event_type)[:80]!r} ignored")
    resource = payload.get("resource")
    job = resource.get("job") if isinstance(resource, dict) else None
    state = job.get("state") if isinstance(job, dict) else None
    if event_type == "ms.vss-pipelines.job-state-changed-event" and state not in ("completed", None):
        return Verdict(202, f"job {str(state)[:40]}: nothing can have become idle", event_type=event_type)
    return Verdict(202, "re-check scheduled", recheck=True, event_type=event_type)


# -- the Lambda entry point ---------------------------------------------------------------------------------------

_state: tuple[Any, Any] | None = None  # (the container's Gate, a reader of the shared secret)


def _runtime(context: Any) -> tuple[Any, Any]:
    """The container's gate and a reader of the shared secret. Building them reads no secret (liveness before
    construction, docs/liveness.md): the shared secret is read per call, cached, and a failure to read it is a 503
    for that call, never a dead container."""
    global _state
    if _state is None:
        from gate.adapters import logs
        from gate.bootstrap import build_gate
        from gate.settings import load_settings

        settings = load_settings()
        logs.configure(level=settings.log_level)
        region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
        _state = (build_gate(settings, region=region), _secret_reader(settings))
    return _state


def _secret_reader(settings: Any) -> Any:
    from gate.adapters.secrets import inline, read_secret

    def read() -> str | None:
        if settings.service_hook_secret is not None:
            return inline(settings.service_hook_secret)
        if settings.service_hook_secret_arn:
            return read_secret(
                settings.service_hook_secret_arn,
                what="the service hook secret",
                keys=("secret", "token", "password"),
                max_age=settings.secret_cache_seconds,
            )
        return None

    return read


def recheck(gate: Any, deadline: float | None = None) -> list[Any]:
    """One round of the tick (budget 0): heartbeats due, one agent list per pool, judgment. Not the tick's
    clean-up of retained instances: the scheduled tick does that, a build end changes nothing for it."""
    records: list[Any] = gate.run(None, 0, deadline=deadline)
    return records


def handle(event: Any, context: Any = None) -> dict[str, Any]:
    """Lambda handler for the function URL."""
    gate, read_secret = _runtime(context)
    try:
        secret = read_secret()
    except Exception as exc:  # SecretError names the ARN, never a value; the tick's heartbeats do not depend on it
        gate.log.error("service_hook_secret_unreadable", outcome="error", reason=str(exc))
        body = {"status": 503, "reason": "the service hook secret cannot be read", "decisions": 0}
        return {"statusCode": 503, "headers": {"content-type": "application/json"}, "body": json.dumps(body)}
    verdict = check(event if isinstance(event, Mapping) else {}, secret)
    decisions = 0
    if verdict.recheck:
        from gate.handler import invocation_deadline

        decisions = len(recheck(gate, invocation_deadline(gate, context)))
    gate.log.info("service_hook", status=verdict.status, reason=verdict.reason, event_type=verdict.event_type)
    body = {"status": verdict.status, "reason": verdict.reason, "decisions": decisions}
    return {"statusCode": verdict.status, "headers": {"content-type": "application/json"}, "body": json.dumps(body)}
