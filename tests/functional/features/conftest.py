"""Fixtures for the fleet-feature tests: a Sandbox (AWS emulator + fake Azure DevOps) on a ManualClock, so whole
scenarios run in about a second: the gate's own re-check sleeps advance the clock instead of waiting."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from moto.ec2.models.amis import AMIS

from emulator.sandbox import Group, Sandbox
from gate.adapters.logs import Record
from gate.domain.clock import ManualClock
from gate.handler import dispatch
from gate.service.triggers import Gate

ACCOUNT = "123456789012"


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(start=time.time())


@pytest.fixture
def sandbox(clock: ManualClock) -> Iterator[Sandbox]:
    with Sandbox(clock) as sb:
        yield sb


def make_group(sandbox: Sandbox, name: str = "ci-agents", size: int = 3, **kw: Any) -> Group:
    """Sandbox.create_group with a known AMI (listing moto's AMIs costs ~2 s per world)."""
    return sandbox.create_group(name, size, image_id=AMIS[0]["ami_id"], **kw)


def deliver(gate: Gate, sandbox: Sandbox) -> list[Record]:
    """Invoke the handler with every lifecycle event EventBridge routed since the last call (sequentially)."""
    records: list[Record] = []
    for event in sandbox.receive_events():
        records += dispatch(gate, event)
    return records


def history(sandbox: Sandbox, what: str) -> dict[str, list[dict[str, Any]]]:
    assert sandbox.emulator is not None
    out: dict[str, list[dict[str, Any]]] = {}
    for h in sandbox.emulator.history():
        if h["what"] == what:
            out.setdefault(h["instance_id"], []).append(h)
    return out


def protect(sandbox: Sandbox, group: str, ids: list[str], value: bool = True) -> None:
    sandbox.client("autoscaling").set_instance_protection(
        AutoScalingGroupName=group, InstanceIds=ids, ProtectedFromScaleIn=value
    )


def protection(sandbox: Sandbox, group: str) -> dict[str, bool]:
    resp = sandbox.client("autoscaling").describe_auto_scaling_groups(AutoScalingGroupNames=[group])
    return {i["InstanceId"]: bool(i["ProtectedFromScaleIn"]) for g in resp["AutoScalingGroups"] for i in g["Instances"]}


def tags(sandbox: Sandbox, instance_id: str) -> dict[str, str]:
    resp = sandbox.client("ec2").describe_instances(InstanceIds=[instance_id])
    inst = resp["Reservations"][0]["Instances"][0]
    return {t["Key"]: t["Value"] for t in inst.get("Tags", [])}


# -- a webhook receiver on 127.0.0.1 ---------------------------------------------------------------------------
@dataclass
class Receiver:
    url: str
    mode: str = "ok"  # ok | error (HTTP 500) | hang (sleeps `hang_seconds` before answering)
    hang_seconds: float = 3.0
    bodies: list[Any] = field(default_factory=list)
    requests: int = 0


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    state = Receiver(url="")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", 0))
            raw = self.rfile.read(length)
            state.requests += 1
            if state.mode == "hang":
                time.sleep(state.hang_seconds)
            if state.mode == "error":
                self.send_response(500)
                self.end_headers()
                return
            state.bodies.append(json.loads(raw))
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args: Any) -> None:
            pass

    class Server(ThreadingHTTPServer):
        def handle_error(self, request: Any, client_address: Any) -> None:
            pass  # a hanging answer finds the client gone (it timed out): expected, not noise

    server = Server(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    state.url = f"http://127.0.0.1:{server.server_port}/hooks/T000/B000/secret-path"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield state
    server.shutdown()
    server.server_close()
