"""The service hook receiver (gate/servicehook.py) and the fake's web hooks (emulator/servicehooks.py)."""

from __future__ import annotations

import base64
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from emulator.azure_devops import FakeAzureDevOps
from emulator.servicehooks import BUILD_COMPLETE, JOB_STATE_CHANGED, WebHooks
from gate.domain.clock import ManualClock
from gate.servicehook import MAX_BODY_BYTES, check

SECRET = "hook-secret-0123456789-0123456789-abcdef"
PAYLOAD = {"eventType": "build.complete", "resource": {"id": 7, "status": "completed", "result": "succeeded"}}


def _event(
    body: Any = PAYLOAD, *, secret: str | None = SECRET, method: str = "POST", b64: bool = False, header: bool = False
) -> dict[str, Any]:
    raw = body if isinstance(body, str) else json.dumps(body)
    headers: dict[str, str] = {"content-type": "application/json"}
    if secret is not None and header:
        headers["X-Gate-Secret"] = secret
    elif secret is not None:
        headers["Authorization"] = "Basic " + base64.b64encode(f"gate:{secret}".encode()).decode()
    return {
        "version": "2.0",
        "requestContext": {"http": {"method": method}},
        "headers": headers,
        "body": base64.b64encode(raw.encode()).decode() if b64 else raw,
        "isBase64Encoded": b64,
    }


def test_a_build_completed_call_with_the_secret_asks_for_a_recheck() -> None:
    for event in (_event(), _event(header=True), _event(b64=True)):
        verdict = check(event, SECRET)
        assert (verdict.status, verdict.recheck, verdict.event_type) == (202, True, "build.complete")


@pytest.mark.parametrize(
    ("event", "secret", "status"),
    [
        (_event(secret=None), SECRET, 401),
        (_event(secret="wrong"), SECRET, 401),
        (_event(secret=SECRET[:-1]), SECRET, 401),
        (_event(), None, 401),  # no secret configured: nothing is accepted, and a stranger cannot tell
        (_event(), "", 401),
        (_event(secret="short"), "short", 401),  # under MIN_SECRET_LENGTH: refused at run time
        (_event(method="GET"), SECRET, 405),
        (_event(body="not json"), SECRET, 400),
        (_event(body=[1, 2]), SECRET, 400),
        (_event(body={"eventType": "git.push"}), SECRET, 202),
        (_event(body={"eventType": JOB_STATE_CHANGED, "resource": {"job": {"state": "inProgress"}}}), SECRET, 202),
    ],
)
def test_everything_else_is_refused_or_ignored(event: dict[str, Any], secret: str | None, status: int) -> None:
    verdict = check(event, secret)
    assert verdict.status == status
    assert not verdict.recheck


def test_a_large_body_is_refused_before_it_is_parsed() -> None:
    big = {"eventType": "build.complete", "pad": "x" * MAX_BODY_BYTES}
    assert check(_event(big), SECRET).status == 413
    assert check(_event(big, b64=True), SECRET).status == 413
    assert check(_event(big), SECRET, limit=10 * MAX_BODY_BYTES).status == 202


def test_a_malformed_authorization_header_is_a_wrong_secret() -> None:
    event = _event(secret=None)
    event["headers"]["authorization"] = "Basic !!!not-base64"
    assert check(event, SECRET).status == 401


# -- the fake sends the real payload shapes ---------------------------------------------------------------------


class _Receiver(BaseHTTPRequestHandler):
    got: list[tuple[dict[str, Any], Any]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"])).decode()
        event = {
            "requestContext": {"http": {"method": "POST"}},
            "headers": dict(self.headers.items()),
            "body": body,
        }
        verdict = check(event, SECRET)
        type(self).got.append((json.loads(body), verdict))
        self.send_response(verdict.status)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def receiver() -> Iterator[str]:
    _Receiver.got = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()


def test_the_fake_posts_build_completed_and_job_state_changed_when_a_build_ends(receiver: str) -> None:
    clock = ManualClock()
    with FakeAzureDevOps(clock=clock, pat="pat-0123456789abcdef") as ado:
        hooks = WebHooks(ado.url)
        ado.service_hooks = hooks  # type: ignore[attr-defined]
        hooks.subscribe(receiver, password=SECRET, event_types=(BUILD_COMPLETE, JOB_STATE_CHANGED))
        ado.add_pool("linux")
        agent = ado.add_agent("linux", "agent-1")
        request = ado.start_build(agent, 60)
        clock.advance(61)
        ado.builds()  # the fake ends due builds when it is looked at (WebHooks.watch does it on a timer)
        hooks.close()
    by_type = {payload["eventType"]: (payload, verdict) for payload, verdict in _Receiver.got}
    assert set(by_type) == {BUILD_COMPLETE, JOB_STATE_CHANGED}
    build, verdict = by_type[BUILD_COMPLETE]
    assert verdict.status == 202 and verdict.recheck
    assert build["resource"]["id"] == request and build["resource"]["status"] == "completed"
    assert build["resource"]["result"] == "succeeded" and build["resourceVersion"] == "2.0"
    assert {"subscriptionId", "notificationId", "id", "publisherId", "message", "createdDate"} <= set(build)
    job, verdict = by_type[JOB_STATE_CHANGED]
    assert verdict.recheck and job["resource"]["job"]["state"] == "completed"
    assert job["resourceVersion"] == "5.1-preview.1" and job["publisherId"] == "pipelines"
    assert [s["status"] for s in hooks.sent] == [202, 202]


def test_watch_ends_builds_on_time_without_queries(receiver: str) -> None:
    with FakeAzureDevOps(pat="pat-0123456789abcdef") as ado:  # wall clock
        hooks = WebHooks(ado.url)
        ado.service_hooks = hooks  # type: ignore[attr-defined]
        hooks.subscribe(receiver, password=SECRET)
        ado.add_pool("linux")
        ado.start_build(ado.add_agent("linux", "agent-1"), 0.2)
        hooks.watch(ado.builds, every=0.05)
        deadline = time.monotonic() + 5
        while not _Receiver.got and time.monotonic() < deadline:
            time.sleep(0.05)
        hooks.close()
    assert [p["eventType"] for p, _ in _Receiver.got] == [BUILD_COMPLETE]
