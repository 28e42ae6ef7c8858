"""The thin receiver (gate/servicehook.py): bad input is always a 4xx, the secret's cache and rotation, one 401 body,
503 without raising, and the coalescing of re-checks (issue 19)."""

from __future__ import annotations

import base64
import contextlib
import json
from collections.abc import Iterator
from typing import Any

import pytest
import structlog
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gate import servicehook
from gate.domain.clock import ManualClock
from gate.servicehook import (
    MIN_SECRET_LENGTH,
    UNAUTHORIZED,
    Coalescer,
    Receiver,
    SecretCache,
    bucket,
    check,
    consume_batch,
    covers_until,
)

pytestmark = pytest.mark.serverless  # no server: part of make test-fast

SECRET = "s" * MIN_SECRET_LENGTH
OLD = "o" * MIN_SECRET_LENGTH
BUILD = json.dumps({"eventType": "build.complete", "resource": {"id": 7}})


def _event(body: Any = BUILD, *, secret: str | None = SECRET, headers: dict[str, Any] | None = None) -> dict[str, Any]:
    h: dict[str, Any] = {"content-type": "application/json"}
    if secret is not None:
        h["authorization"] = "Basic " + base64.b64encode(f"gate:{secret}".encode()).decode()
    h.update(headers or {})
    return {"requestContext": {"http": {"method": "POST"}}, "headers": h, "body": body, "isBase64Encoded": False}


# -- bad input: a 4xx, never an exception -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("event", "status"),
    [
        (_event("[" * 2000 + "]" * 2000), 400),  # under 64 KiB, 2,000 deep: was RecursionError
        (_event('{"a":' * 3000 + "1" + "}" * 3000), 400),
        (_event(json.dumps({"eventType": ["build.complete"]})), 400),  # was TypeError (unhashable)
        (_event(json.dumps({"eventType": {"x": 1}})), 400),
        (_event(secret=None, headers={"x-gate-secret": "\ud800"}), 401),  # lone surrogate: was UnicodeEncodeError
        (_event(secret=None, headers={"authorization": "Basic \udcff"}), 401),
        (_event(secret=None, headers={"x-gate-secret": ["a"]}), 401),
        (_event("\ud800"), 400),
        (_event(12), 400),
        ({"requestContext": "POST", "headers": [], "body": None}, 405),
        ({"requestContext": {"http": {"method": ["POST"]}}}, 405),
        ({"requestContext": {"http": {"method": "POST"}}, "headers": None}, 401),
    ],
)
def test_crafted_input_is_a_4xx(event: dict[str, Any], status: int) -> None:
    assert check(event, SECRET).status == status


def test_a_non_mapping_event_is_a_4xx() -> None:
    assert check([1, 2], SECRET).status == 400  # type: ignore[arg-type]


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=20,
)
_bodies = st.one_of(
    st.text(max_size=300),
    _json.map(json.dumps),
    st.builds(lambda t, r: json.dumps({"eventType": t, "resource": r}), _json, _json),
    st.integers(1, 5000).map(lambda n: "[" * n + "]" * n),
    st.binary(max_size=200).map(lambda b: b.decode("latin-1")),
    st.none(),
    st.integers(),
)
_header_values = st.one_of(st.text(max_size=60), st.none(), st.integers(), st.lists(st.text(max_size=5), max_size=2))


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    body=_bodies,
    b64=st.one_of(st.booleans(), st.none(), st.text(max_size=3)),
    encode=st.booleans(),
    method=st.one_of(st.sampled_from(["POST", "post", "GET", ""]), st.text(max_size=8), st.none(), st.integers()),
    auth=st.one_of(
        st.none(),
        st.just(SECRET),
        st.text(max_size=60),
        st.binary(max_size=60).map(lambda b: "Basic " + base64.b64encode(b).decode()),
    ),
    extra=st.dictionaries(st.text(max_size=20), _header_values, max_size=4),
)
def test_any_input_is_answered_never_raised(
    body: Any, b64: Any, encode: bool, method: Any, auth: str | None, extra: dict[str, Any]
) -> None:
    """Bodies, headers and encodings of every kind: the receiver answers (2xx for a good call, 4xx otherwise)."""
    if encode and isinstance(body, str):
        with contextlib.suppress(UnicodeEncodeError):
            body = base64.b64encode(body.encode("utf-8", "surrogatepass")).decode()
        b64 = True
    headers: dict[str, Any] = dict(extra)
    if auth is not None:
        headers["x-gate-secret"] = auth
    event = {"requestContext": {"http": {"method": method}}, "headers": headers, "body": body, "isBase64Encoded": b64}
    verdict = check(event, [SECRET, OLD])
    assert 200 <= verdict.status < 500
    assert verdict.status != 202 or auth == SECRET  # nothing is accepted without the secret
    assert verdict.recheck == (verdict.status == 202 and verdict.event_type is not None and verdict.recheck)
    reply = Receiver(SecretCache(lambda: [SECRET, OLD], 300), lambda _: None, _Log())(event)
    assert reply["statusCode"] == verdict.status
    if reply["statusCode"] == 401:
        assert json.loads(reply["body"]) == {"status": 401, "reason": UNAUTHORIZED}


# -- the secret ---------------------------------------------------------------------------------------------------


class _Log:
    def __init__(self) -> None:
        self.lines: list[dict[str, Any]] = []

    def info(self, event: str, **fields: Any) -> None:
        self.lines.append({"event": event, **fields})

    def error(self, event: str, **fields: Any) -> None:
        self.lines.append({"event": event, "level": "error", **fields})


class _Store:
    """Secrets Manager's AWSCURRENT and AWSPREVIOUS, or a failure."""

    def __init__(self, *values: str) -> None:
        self.values = list(values)
        self.fail = False
        self.reads = 0

    def __call__(self) -> list[str]:
        self.reads += 1
        if self.fail:
            raise RuntimeError("cannot read the service hook secret from arn:...: AccessDeniedException")
        return list(self.values)


def _receiver(store: _Store, clock: ManualClock, sent: list[int] | None = None) -> tuple[Receiver, _Log]:
    log = _Log()
    box = sent if sent is not None else []
    return Receiver(SecretCache(store, ttl=300, clock=clock.now), box.append, log, clock=clock.now), log


def test_both_versions_are_accepted_during_a_rotation_and_the_cache_follows_it() -> None:
    clock = ManualClock()
    store = _Store(OLD)
    receive, _ = _receiver(store, clock)
    assert receive(_event(secret=OLD))["statusCode"] == 202
    store.values = [SECRET, OLD]  # rotated: AWSCURRENT new, AWSPREVIOUS old
    assert receive(_event(secret=SECRET))["statusCode"] == 401  # still cached
    clock.advance(301)  # the TTL: read again
    assert receive(_event(secret=SECRET))["statusCode"] == 202
    assert receive(_event(secret=OLD))["statusCode"] == 202  # Azure DevOps not yet updated: still accepted
    store.values = [SECRET, "n" * MIN_SECRET_LENGTH]  # the next rotation: the old one is gone
    clock.advance(301)
    assert receive(_event(secret=OLD))["statusCode"] == 401
    assert store.reads == 3  # once per TTL, not per call


def test_a_secret_store_failure_answers_503_without_raising_and_keeps_the_last_good_value() -> None:
    clock = ManualClock()
    store = _Store(SECRET)
    store.fail = True
    receive, log = _receiver(store, clock)
    for _ in range(3):
        reply = receive(_event())
        assert reply["statusCode"] == 503 and SECRET not in reply["body"]
    assert store.reads == 3  # one read per call while nothing was ever read (no retry storm inside a call)
    assert [line["event"] for line in log.lines] == ["service_hook_secret_unreadable"] * 3
    store.fail = False
    assert receive(_event())["statusCode"] == 202
    store.fail = True
    clock.advance(301)
    assert receive(_event())["statusCode"] == 202  # the last good value, while the re-read fails
    assert receive(_event())["statusCode"] == 202
    assert store.reads == 5  # the failed re-read is retried after SecretCache.retry, not on every call


def test_every_authentication_failure_gets_the_same_401_body() -> None:
    clock = ManualClock()
    bodies = set()
    for configured, presented in [(SECRET, None), (SECRET, "wrong"), ("short", "short"), ("", SECRET), (SECRET, "")]:
        store = _Store(*([configured] if configured else []))
        receive, log = _receiver(store, clock)
        reply = receive(_event(secret=presented))
        assert reply["statusCode"] == 401
        bodies.add(reply["body"])
        assert SECRET not in json.dumps(log.lines)
    assert bodies == {json.dumps({"status": 401, "reason": UNAUTHORIZED})}


def test_a_short_secret_is_refused_at_run_time_and_logged_as_an_error() -> None:
    receive, log = _receiver(_Store("x" * (MIN_SECRET_LENGTH - 1)), ManualClock())
    assert receive(_event(secret="x" * (MIN_SECRET_LENGTH - 1)))["statusCode"] == 401
    assert log.lines[0]["event"] == "service_hook_secret_unusable"


def test_the_lambda_handler_never_raises_even_when_building_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(servicehook, "_receiver", None)

    def broken(env: Any) -> Receiver:
        raise ValueError("bad GATE_SECRET_CACHE_SECONDS")

    monkeypatch.setattr(servicehook, "_build_receiver", broken)
    assert servicehook.handle(_event())["statusCode"] == 503


def test_the_receiver_hands_one_bucket_to_the_queue_and_runs_nothing() -> None:
    clock = ManualClock()
    sent: list[int] = []
    receive, log = _receiver(_Store(SECRET), clock, sent)
    assert receive(_event())["statusCode"] == 202
    assert sent == [bucket(clock.now())]
    assert receive(_event(secret="wrong"))["statusCode"] == 401 and len(sent) == 1
    assert SECRET not in json.dumps(log.lines)


def test_a_failed_handoff_is_a_503() -> None:
    def down(_: int) -> None:
        raise ConnectionError("sqs")

    receive = Receiver(SecretCache(lambda: [SECRET], 300), down, _Log())
    assert receive(_event())["statusCode"] == 503


# -- coalescing -----------------------------------------------------------------------------------------------------


def test_the_coalescer_spaces_rounds_by_the_window_and_covers_every_call() -> None:
    c = Coalescer(window=5)
    assert c.plan(until=101, now=100.2) == 101  # the first: at the end of its dedup bucket
    c.started(101)
    assert c.plan(until=101, now=101.5) is None  # covered by the round that started at 101
    assert c.plan(until=102, now=101.9) == 106  # within the window: one round when it ends
    c.started(106)
    for until in (103, 104, 105, 106):
        assert c.plan(until, now=106.2) is None
    assert c.plan(until=200, now=199.5) == 200  # quiet since: at once (after its bucket)


class _CountingGate:
    def __init__(self, clock: ManualClock) -> None:
        self.clock = clock
        self.log = _Log()
        self.rounds: list[float] = []

    def run(
        self, waiting: None, budget: float, *, deadline: float | None = None, heartbeats: bool = True
    ) -> list[dict[str, Any]]:
        assert waiting is None and budget == 0 and not heartbeats  # one round of the tick, without heartbeats
        self.rounds.append(self.clock.now())
        return []


def test_a_storm_of_600_calls_a_minute_causes_at_most_12_rounds() -> None:
    clock = ManualClock(start=1_000_000.0)
    gate, coalescer = _CountingGate(clock), Coalescer(window=5)
    calls = [clock.now() + i * 0.1 for i in range(600)]  # ten a second for a minute
    buckets = sorted({bucket(t) for t in calls})  # what the FIFO queue keeps after deduplication
    for k in buckets:
        arrives = covers_until(k) - 1 + 0.05
        if clock.now() < arrives:
            clock.advance(arrives - clock.now())
        consume_batch(gate, coalescer, covers_until(k))
    assert len(buckets) == 60
    per_minute = max(sum(1 for r in gate.rounds if t <= r < t + 60) for t in gate.rounds)
    assert per_minute <= 12 and len(gate.rounds) <= 13  # the 13th starts after the storm's minute, covering its end
    assert all(b - a >= 5 for a, b in zip(gate.rounds, gate.rounds[1:], strict=False))
    assert max(calls) <= gate.rounds[-1]  # the last call is covered by a round that started after it


def test_the_consumer_reads_the_latest_bucket_of_an_sqs_batch_and_ignores_anything_else() -> None:
    records = [
        {"body": json.dumps({"recheck": True, "bucket": 100, "every": 1.0})},
        {"body": json.dumps({"recheck": True, "bucket": 102, "every": 1.0})},
        {"body": "not json"},
        {"body": json.dumps({"bucket": "x"})},
        {},
    ]
    assert servicehook._until(records) == covers_until(102)
    assert servicehook._until([{"body": "[]"}]) is None
    clock = ManualClock(start=200.0)
    gate = _CountingGate(clock)
    assert consume_batch(gate, Coalescer(), None) == [] and gate.rounds == []


def test_the_sqs_sender_uses_one_group_and_the_bucket_as_deduplication_id() -> None:
    sent: list[dict[str, Any]] = []

    class _Sqs:
        def send_message(self, **kwargs: Any) -> None:
            sent.append(kwargs)

    send = servicehook.sqs_sender("https://sqs.example/q.fifo", client=_Sqs())
    send(7)
    send(7)
    assert [m["MessageDeduplicationId"] for m in sent] == ["recheck-7", "recheck-7"]
    assert {m["MessageGroupId"] for m in sent} == {"recheck"}
    assert json.loads(sent[0]["MessageBody"]) == {"recheck": True, "bucket": 7, "every": 1.0}


class _Context:
    aws_request_id = "req-19"

    def get_remaining_time_in_millis(self) -> int:
        return 10_000


@pytest.fixture
def restored_logging() -> Iterator[None]:
    """The receiver configures structlog for the container: put the previous configuration back afterwards."""
    saved = structlog.get_config()
    try:
        yield
    finally:
        structlog.configure(**saved)


@pytest.mark.usefixtures("restored_logging")
def test_every_receiver_line_carries_the_request_id(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    sent: list[int] = []
    monkeypatch.setattr(servicehook, "_receiver", None)
    monkeypatch.setattr(servicehook, "sqs_sender", lambda url, every: sent.append)
    env = {"GATE_SERVICE_HOOK_SECRET": SECRET, "GATE_SERVICE_HOOK_QUEUE_URL": "https://sqs.example/q.fifo"}
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("GATE_SERVICE_HOOK_SECRET_ARN", raising=False)
    assert servicehook.handle(_event(), _Context())["statusCode"] == 202
    assert servicehook.handle(_event(secret="wrong"), _Context())["statusCode"] == 401
    assert servicehook.handle(_event("[" * 100), _Context())["statusCode"] == 400
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    assert len(lines) == 3 and all(line["request_id"] == "req-19" for line in lines)
    assert SECRET not in json.dumps(lines) and len(sent) == 1


def test_a_failed_round_does_not_cover_the_redelivered_batch() -> None:
    clock = ManualClock(start=1_000.0)
    coalescer = Coalescer(window=5)

    class _Failing(_CountingGate):
        def run(
            self, waiting: None, budget: float, *, deadline: float | None = None, heartbeats: bool = True
        ) -> list[dict[str, Any]]:
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        consume_batch(_Failing(clock), coalescer, 1_000.5)
    gate = _CountingGate(clock)
    consume_batch(gate, coalescer, 1_000.5)  # the queue's redelivery
    assert len(gate.rounds) == 1


def test_the_consume_handler_runs_one_round_for_an_sqs_batch(
    monkeypatch: pytest.MonkeyPatch, restored_logging: None
) -> None:
    clock = ManualClock(start=2_000_000_000.0)
    gate = _CountingGate(clock)
    gate.settings = type("S", (), {"invocation_margin_seconds": 5})()  # type: ignore[attr-defined]
    monkeypatch.setattr(servicehook, "_consumer", (gate, Coalescer(window=5)))
    body = json.dumps({"recheck": True, "bucket": bucket(clock.now() - 2), "every": 1.0})
    event = {"Records": [{"body": body, "eventSource": "aws:sqs"}] * 3}
    assert servicehook.consume(event, _Context()) == {"batchItemFailures": [], "decisions": 0}
    assert servicehook.consume(event, _Context())["decisions"] == 0  # the same calls: covered, no second round
    assert len(gate.rounds) == 1
    assert servicehook.consume({"Records": "nonsense"}, _Context())["decisions"] == 0
    assert len(gate.rounds) == 1
