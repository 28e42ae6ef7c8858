"""End to end over HTTP: a build ends in the fake Azure DevOps -> its web hook POSTs "build completed" to the
receiver -> the thin receiver answers 202 and hands its bucket to the queue -> the consumer runs one coalesced round
of the real gate -> the lifecycle action completes in the AWS emulator."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from emulator.servicehooks import BUILD_COMPLETE, WebHooks
from gate.service.triggers import Gate
from gate.servicehook import Coalescer, Receiver, SecretCache, consume_batch, covers_until
from tests.support.world import World

SECRET = "e2e-hook-secret-0123456789-0123456789"


class _Log:
    def info(self, event: str, **fields: Any) -> None:
        pass

    def error(self, event: str, **fields: Any) -> None:
        raise AssertionError(f"receiver error: {event} {fields}")


@pytest.fixture
def receiver(world: World) -> Iterator[tuple[str, list[dict[str, Any]], list[Gate]]]:
    """A function-URL stand-in on 127.0.0.1: the real `check`, then one round of the gate given in `gates[0]`."""
    calls: list[dict[str, Any]] = []
    gates: list[Gate] = []

    coalescer = Coalescer()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"])).decode()
            event = {"requestContext": {"http": {"method": "POST"}}, "headers": dict(self.headers), "body": body}
            queue: list[int] = []  # the FIFO queue: what the receiver sent
            receive = Receiver(SecretCache(lambda: [SECRET], 300), queue.append, _Log(), clock=world.clock.now)
            reply = receive(event)
            records = [r for k in queue for r in consume_batch(gates[0], coalescer, covers_until(k))] if gates else []
            calls.append({"status": reply["statusCode"], "outcomes": [r["outcome"] for r in records]})
            self.send_response(reply["statusCode"])
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/", calls, gates
    finally:
        server.shutdown()


def test_a_build_end_releases_its_held_instance_through_the_service_hook(
    world: World, receiver: tuple[str, list[dict[str, Any]], list[Gate]]
) -> None:
    url, calls, gates = receiver
    hooks = WebHooks(world.ado.url)
    world.ado.service_hooks = hooks  # type: ignore[attr-defined]
    hooks.subscribe(url, password=SECRET, event_types=(BUILD_COMPLETE,))
    victim = world.group.instances[0]
    world.ado.start_build(world.group.agents[victim], 200)
    [iid] = world.scale_in(2)
    assert iid == victim
    gate = world.gate()
    gates.append(gate)
    assert [r["outcome"] for r in gate.tick(budget=0) if r["instance"] == iid] == ["held"]  # disabled, tagged
    world.clock.advance(120)  # past the assignment lag bound; the build still runs
    gate.tick(budget=0)
    assert not world.history("complete")
    world.clock.advance(81)  # the build has ended: the fake notices when it is next looked at
    world.ado.builds()
    deadline = time.monotonic() + 20
    while not world.history("complete") and time.monotonic() < deadline:
        time.sleep(0.05)
    hooks.close()
    assert calls and calls[0]["status"] == 202 and "released" in calls[0]["outcomes"]
    [completed] = world.history("complete")[iid]
    assert json.dumps(completed).count("CONTINUE") >= 1
    agent = world.ado.agent(world.group.agents[iid])
    assert agent is not None and agent["deleted"]  # the release deleted the registration
    [build] = world.ado.builds()
    assert build["result"] == "succeeded"
