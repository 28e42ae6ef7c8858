"""Azure DevOps service hooks as "re-check now": a thin receiver behind a Lambda function URL, and its consumer.

Azure DevOps can POST to a web hook when a build completes (`build.complete`) or a pipeline job changes state
(`ms.vss-pipelines.job-state-changed-event`). Either is only a trigger. Nothing in the payload is trusted; the event
type only decides whether a re-check is worth asking for.

Two Lambda entry points (docs/operations.md, "The service hook receiver"):

* `handle` (the receiver, behind the function URL, a role of its own): authenticate, validate, send one "re-check"
  message to a FIFO queue and answer 202 at once. It builds no gate, reads no PAT and never talks to Auto Scaling
  or Azure DevOps. The queue's deduplication id is the `DEDUP_SECONDS` bucket of the call, so a storm of calls
  becomes at most one message per bucket, whatever the number of receiver containers.
* `consume` (the re-check function: the gate's code and role, reserved concurrency 1, fed by the queue in order):
  each message says "every call up to time T wants a round that starts after T". A round that already started
  after T covers it (nothing to do); otherwise one round starts at the later of T and the last round's start plus
  the coalescing window (`Coalescer`). So any number of calls within a window cause at most one round, and a build
  end is never left to the tick alone.

A call must carry the shared secret (the web hook's basic-auth password, or an `X-Gate-Secret` header), compared in
constant time with the secret's current and previous versions (a rotation needs no synchronised change on the Azure
DevOps side); bodies over `MAX_BODY_BYTES` are refused before they are decoded; bad input of any kind is a 4xx,
never an exception. Every authentication failure (no, wrong, malformed secret; no usable secret configured) gets
the same 401 body; only a secret store that cannot be read answers 503 (Azure DevOps retries).
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import math
import os
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from gate.adapters.recheck_queue import DEDUP_SECONDS as DEDUP_SECONDS
from gate.adapters.recheck_queue import sqs_sender as sqs_sender

# The largest real payload (build.complete with messages and links) is ~6 KB; 64 KiB leaves room for long names.
MAX_BODY_BYTES = 64 * 1024
# A real payload nests 6 deep; anything past this is refused before it is parsed (no RecursionError).
MAX_NESTING = 64
# Shorter shared secrets are refused at run time (every call: 401, and an error line) and in Terraform.
MIN_SECRET_LENGTH = 32
SECRET_HEADER = "x-gate-secret"
# Events that can mean "an agent may just have become idle". A run can end without a job event reaching us.
RECHECK_EVENTS = frozenset(
    {
        "build.complete",
        "ms.vss-pipelines.job-state-changed-event",
        "ms.vss-pipelines.run-state-changed-event",
    }
)
# The consumer's coalescing window (the receiver's deduplication bucket, DEDUP_SECONDS, is the queue adapter's).
WINDOW_SECONDS = 5.0
UNAUTHORIZED = "unauthorized"  # the one body for every authentication failure
UNAVAILABLE = "temporarily unavailable"
JSON_HEADERS = {"content-type": "application/json"}


@dataclass(frozen=True, slots=True)
class Verdict:
    status: int  # the HTTP status to answer with
    reason: str  # for the log line; the caller of a 401 sees only UNAUTHORIZED
    recheck: bool = False
    event_type: str | None = None


def _text(value: object) -> str:
    """A header value as text; a lone surrogate or other unencodable character makes it unusable (empty)."""
    if not isinstance(value, str):
        return ""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return ""
    return value


def _headers(event: Mapping[str, Any]) -> dict[str, str]:
    raw = event.get("headers")
    if not isinstance(raw, Mapping):
        return {}
    return {str(k).lower(): _text(v) for k, v in raw.items() if isinstance(k, str)}


def _presented_secret(headers: Mapping[str, str]) -> str | None:
    """The secret the caller presented: the X-Gate-Secret header, or the password of Basic authorization."""
    if SECRET_HEADER in headers:
        return headers[SECRET_HEADER] or None
    scheme, _, value = headers.get("authorization", "").partition(" ")
    if scheme.lower() != "basic" or not value:
        return None
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None
    return decoded.partition(":")[2] or None


def _matches(presented: str, accepted: Sequence[str]) -> bool:
    """Constant time against every accepted version (each compared, whatever the first gave)."""
    given = presented.encode("utf-8")
    found = False
    for secret in accepted:
        found |= hmac.compare_digest(given, secret.encode("utf-8"))
    return found


def usable(secrets: Sequence[str]) -> list[str]:
    """The configured versions that may authenticate: non-empty, encodable and at least MIN_SECRET_LENGTH long."""
    return [s for s in secrets if isinstance(s, str) and len(s) >= MIN_SECRET_LENGTH and _text(s)]


def _body(event: Mapping[str, Any], limit: int) -> bytes | None:
    """The raw body, or None when it is over `limit` (checked on the encoded length first: nothing big is decoded)."""
    raw = event.get("body") or ""
    if not isinstance(raw, str):
        return b"\x00"  # not a string: fails JSON parsing below
    encoded = event.get("isBase64Encoded") is True
    if len(raw) > (limit * 4 // 3 + 4 if encoded else limit * 4):  # 4 bytes per character at most in UTF-8
        return None
    try:
        data = base64.b64decode(raw) if encoded else raw.encode("utf-8")
    except (binascii.Error, ValueError, UnicodeEncodeError):
        return b"\x00"  # undecodable: fails JSON parsing below
    return data if len(data) <= limit else None


def _too_deep(body: bytes, limit: int = MAX_NESTING) -> bool:
    """More than `limit` open brackets at once (counted outside strings): refused before json.loads recurses."""
    depth, in_string, escaped = 0, False, False
    for byte in body:
        if in_string:
            if escaped:
                escaped = False
            elif byte == 0x5C:  # backslash
                escaped = True
            elif byte == 0x22:  # quote
                in_string = False
        elif byte == 0x22:
            in_string = True
        elif byte in (0x5B, 0x7B):  # [ {
            depth += 1
            if depth > limit:
                return True
        elif byte in (0x5D, 0x7D):
            depth -= 1
    return False


def _method(event: Mapping[str, Any]) -> str:
    context = event.get("requestContext")
    http = context.get("http") if isinstance(context, Mapping) else None
    method = http.get("method") if isinstance(http, Mapping) else None
    return method.upper() if isinstance(method, str) else ""


def check(event: Mapping[str, Any], secret: str | Sequence[str] | None, limit: int = MAX_BODY_BYTES) -> Verdict:
    """Pure and total: what to answer to one function URL request (payload format 2.0), and whether to re-check.
    `secret`: the accepted value, or the accepted versions (current, previous). Never raises."""
    try:
        return _check(event, secret, limit)
    except Exception as exc:  # a bug here must still be a 4xx for the caller (and a line for us)
        return Verdict(400, f"bad request ({type(exc).__name__})")


def _check(event: Mapping[str, Any], secret: str | Sequence[str] | None, limit: int) -> Verdict:
    if not isinstance(event, Mapping):
        return Verdict(400, "not a function URL event")
    method = _method(event)
    if method != "POST":
        return Verdict(405, f"method {method[:16] or '?'} not allowed")
    accepted = usable([secret] if isinstance(secret, str) else list(secret or ()))
    if not accepted:  # the same answer as a wrong secret: a stranger learns nothing about the configuration
        return Verdict(401, f"no usable service hook secret configured (at least {MIN_SECRET_LENGTH} characters)")
    presented = _presented_secret(_headers(event))
    if presented is None or not _matches(presented, accepted):
        return Verdict(401, "missing or wrong secret")
    body = _body(event, limit)
    if body is None:
        return Verdict(413, f"body over {limit} bytes")
    if _too_deep(body):
        return Verdict(400, f"body nested over {MAX_NESTING} deep")
    try:
        payload = json.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError):
        return Verdict(400, "body is not JSON")
    if not isinstance(payload, dict):
        return Verdict(400, "body is not a JSON object")
    event_type = payload.get("eventType")
    if not isinstance(event_type, str):
        return Verdict(400, "eventType is not a string")
    shown = ascii(event_type[:80])
    if event_type not in RECHECK_EVENTS:
        return Verdict(202, f"event type {shown} ignored")
    resource = payload.get("resource")
    job = resource.get("job") if isinstance(resource, dict) else None
    state = job.get("state") if isinstance(job, dict) else None
    if event_type == "ms.vss-pipelines.job-state-changed-event" and state not in ("completed", None):
        return Verdict(202, f"job {str(state)[:40]!a}: nothing can have become idle", event_type=event_type)
    return Verdict(202, "re-check requested", recheck=True, event_type=event_type)


def answer(verdict: Verdict) -> dict[str, Any]:
    """The function URL response: a 401 says only UNAUTHORIZED, whatever the reason."""
    reason = UNAUTHORIZED if verdict.status == 401 else verdict.reason
    body = {"status": verdict.status, "reason": reason}
    return {"statusCode": verdict.status, "headers": dict(JSON_HEADERS), "body": json.dumps(body)}


# -- coalescing --------------------------------------------------------------------------------------------------


def bucket(received_at: float, every: float = DEDUP_SECONDS) -> int:
    """The deduplication bucket of a call: one message per bucket reaches the queue."""
    return math.floor(received_at / every)


def covers_until(bucket_index: int, every: float = DEDUP_SECONDS) -> float:
    """A message of bucket k stands for every call up to the bucket's end."""
    return (bucket_index + 1) * every


class Coalescer:
    """Rounds at least `window` seconds apart, each call covered by a round that starts after it was received.

    `plan(until, now)`: None when a round already started at or after `until` (the call is covered), else when the
    next round must start: not before `until`, not before the last start plus the window. A new container knows no
    last start: its first round runs at once (more rounds, never a missed re-check)."""

    def __init__(self, window: float = WINDOW_SECONDS) -> None:
        self.window = window
        self.last_start: float | None = None

    def plan(self, until: float, now: float) -> float | None:
        if self.last_start is not None and self.last_start >= until:
            return None
        start = max(now, until)
        if self.last_start is not None:
            start = max(start, self.last_start + self.window)
        return start

    def started(self, at: float) -> None:
        self.last_start = at if self.last_start is None else max(self.last_start, at)


# -- the secret --------------------------------------------------------------------------------------------------


class SecretCache:
    """The accepted versions of the shared secret, re-read after `ttl` seconds (current and previous of a Secrets
    Manager secret). A failed read keeps the last good versions, and is retried no sooner than `retry` seconds
    later; with nothing read yet it raises (the caller answers 503)."""

    def __init__(
        self,
        read: Callable[[], Sequence[str]],
        ttl: float,
        clock: Callable[[], float] = time.monotonic,
        retry: float = 5.0,
    ) -> None:
        self._read, self.ttl, self._clock, self.retry = read, ttl, clock, retry
        self._values: list[str] | None = None
        self._next = 0.0
        self._lock = threading.Lock()
        self.reads = 0

    def values(self) -> list[str]:
        with self._lock:
            now = self._clock()
            if self._values is not None and now < self._next:
                return self._values
            self.reads += 1
            try:
                self._values = list(self._read())
                self._next = now + self.ttl
            except Exception:
                self._next = now + min(self.retry, self.ttl) if self._values is not None else now
                if self._values is None:
                    raise
            return self._values


def _secret_reader(env: Mapping[str, str]) -> Callable[[], Sequence[str]]:
    inline = env.get("GATE_SERVICE_HOOK_SECRET")
    arn = env.get("GATE_SERVICE_HOOK_SECRET_ARN")
    if inline:
        from gate.domain.redact import register_secret

        register_secret(inline)
        return lambda: [inline]
    if not arn:
        return lambda: []
    from gate.adapters.secrets import versions_reader

    read = versions_reader(
        arn,
        what="the service hook secret",
        keys=("secret", "token", "password"),
        session=None,
        endpoint_url=env.get("AWS_ENDPOINT_URL_SECRETS_MANAGER") or env.get("AWS_ENDPOINT_URL"),
    )
    return lambda: read(False)


# -- the receiver (function URL) -------------------------------------------------------------------------------


class Receiver:
    """One container's receiver: the secret cache, a `send(bucket)` to the queue and a logger."""

    def __init__(
        self,
        secrets: SecretCache,
        send: Callable[[int], None] | None,
        log: Any,
        clock: Callable[[], float] = time.time,
        every: float = DEDUP_SECONDS,
    ) -> None:
        self.secrets, self.send, self.log, self.clock, self.every = secrets, send, log, clock, every

    def __call__(self, event: Any) -> dict[str, Any]:
        received = self.clock()
        try:
            accepted = self.secrets.values()
        except Exception as exc:  # SecretError names the ARN, never a value
            self.log.error("service_hook_secret_unreadable", outcome="error", status=503, reason=str(exc)[:300])
            return answer(Verdict(503, UNAVAILABLE))
        if not usable(accepted) and accepted is not None:
            self.log.error("service_hook_secret_unusable", outcome="error", min_length=MIN_SECRET_LENGTH)
        verdict = check(event if isinstance(event, Mapping) else {}, accepted)
        if verdict.recheck:
            if self.send is None:
                self.log.error("service_hook_no_queue", outcome="error", status=503)
                return answer(Verdict(503, UNAVAILABLE))
            try:
                self.send(bucket(received, self.every))
            except Exception as exc:
                self.log.error("service_hook_handoff_failed", outcome="error", status=503, error=type(exc).__name__)
                return answer(Verdict(503, UNAVAILABLE))
        self.log.info("service_hook", status=verdict.status, reason=verdict.reason, event_type=verdict.event_type)
        return answer(verdict)


_receiver: Receiver | None = None


def _build_receiver(env: Mapping[str, str]) -> Receiver:
    from gate.adapters import logs

    logs.configure(level=env.get("GATE_LOG_LEVEL", "INFO"))
    ttl = float(env.get("GATE_SECRET_CACHE_SECONDS") or 300)
    every = float(env.get("GATE_SERVICE_HOOK_DEDUP_SECONDS") or DEDUP_SECONDS)
    queue = env.get("GATE_SERVICE_HOOK_QUEUE_URL")
    return Receiver(
        SecretCache(_secret_reader(env), ttl),
        sqs_sender(queue, every) if queue else None,
        logs.DecisionLog(env.get("GATE_METRICS_NAMESPACE") or "TerminationGate"),
        every=every,
    )


def handle(event: Any, context: Any = None) -> dict[str, Any]:
    """Lambda handler for the function URL: authenticate, validate, hand a re-check to the queue, answer."""
    global _receiver
    from gate.adapters import logs

    logs.bind_invocation(context)  # the request id on every line
    try:
        if _receiver is None:
            _receiver = _build_receiver(os.environ)
        return _receiver(event)
    except Exception as exc:  # never a function error (502): the caller gets a 503 and Azure DevOps retries
        line = {"event": "service_hook_failed", "outcome": "error", "error": type(exc).__name__}
        print(json.dumps({**line, "request_id": getattr(context, "aws_request_id", None)}))
        return answer(Verdict(503, UNAVAILABLE))


# -- the consumer (the re-check function: the gate's code and role) --------------------------------------------


def recheck(gate: Any, deadline: float | None = None) -> list[Any]:
    """One round of the tick (budget 0) without its heartbeat pass: one agent list per pool, judgment. The tick
    keeps every hook alive (every minute, whatever else runs); a re-check only makes a release sooner. Not the tick's
    clean-up of retained instances either: a build end changes nothing for it."""
    records: list[Any] = gate.run(None, 0, deadline=deadline, heartbeats=False)
    return records


def _until(records: Sequence[Any]) -> float | None:
    """The latest `covers_until` of an SQS batch; None when no record is a re-check message."""
    latest: float | None = None
    for record in records:
        try:
            body = json.loads(record["body"])
            until = covers_until(int(body["bucket"]), float(body["every"]))
        except (KeyError, TypeError, ValueError):
            continue
        latest = until if latest is None else max(latest, until)
    return latest


def consume_batch(gate: Any, coalescer: Coalescer, until: float | None, deadline: float | None = None) -> list[Any]:
    """One batch of re-check messages: a round unless one already started after the calls (gate's clock: wall)."""
    if until is None:
        return []
    now = gate.clock.now()
    start = coalescer.plan(until, now)
    if start is None:
        gate.log.info("service_hook_recheck", outcome="coalesced", until=until)
        return []
    if deadline is not None and start > deadline:
        start = max(now, deadline - 1)
    if start > now:
        gate.clock.sleep(start - now)
    previous = coalescer.last_start
    coalescer.started(gate.clock.now())
    try:
        records = recheck(gate, deadline)
    except BaseException:  # the queue redelivers the batch: it must not count as covered by a round that failed
        coalescer.last_start = previous
        raise
    gate.log.info("service_hook_recheck", outcome="round", decisions=len(records), waited=round(start - now, 3))
    return records


_consumer: tuple[Any, Coalescer] | None = None


def consume(event: Any, context: Any = None) -> dict[str, Any]:
    """Lambda handler of the re-check function (SQS FIFO trigger, reserved concurrency 1)."""
    global _consumer
    from gate.adapters import logs

    logs.bind_invocation(context)
    if _consumer is None:
        from gate.bootstrap import build_gate
        from gate.settings import load_settings

        settings = load_settings()
        logs.configure(level=settings.log_level)
        region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
        window = float(os.environ.get("GATE_SERVICE_HOOK_WINDOW_SECONDS") or WINDOW_SECONDS)
        _consumer = (build_gate(settings, region=region), Coalescer(window))
    gate, coalescer = _consumer
    from gate.handler import invocation_deadline

    records = event.get("Records") if isinstance(event, Mapping) else None
    done = consume_batch(
        gate, coalescer, _until(records if isinstance(records, list) else []), invocation_deadline(gate, context)
    )
    return {"batchItemFailures": [], "decisions": len(done)}
