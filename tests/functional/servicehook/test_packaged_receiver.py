"""The deployed chain, as Lambda runs it: a build ends in the fake Azure DevOps -> its web hook POSTs the real
"Build completed" payload to a function-URL front -> the packaged zip's receiver (gate.servicehook.handle), run by
AWS's runtime interface client with the function's environment, reads the secret from Secrets Manager (AWSCURRENT
and AWSPREVIOUS) in the AWS emulator and sends its bucket to the FIFO queue there -> the re-check consumer takes the
queue and runs one round -> the held instance is released."""

from __future__ import annotations

import json
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from emulator.servicehooks import BUILD_COMPLETE, WebHooks
from gate.servicehook import Coalescer, _until, consume_batch
from tests.functional.servicehook.conftest import World  # the shared world, wherever the reorganisation puts it

REPO_ROOT = Path(__file__).resolve().parents[3]
OLD = "old-hook-secret-" + "o" * 32
NEW = "new-hook-secret-" + "n" * 32


def _function_url_front(invoke: Any) -> tuple[ThreadingHTTPServer, str]:
    """What the function URL does: the HTTP request as a payload format 2.0 event, the function's answer as HTTP."""

    class Front(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"])).decode()
            event = {
                "version": "2.0",
                "routeKey": "$default",
                "rawPath": self.path,
                "headers": {k.lower(): v for k, v in self.headers.items()},
                "requestContext": {"http": {"method": "POST", "path": self.path, "sourceIp": "127.0.0.1"}},
                "body": body,
                "isBase64Encoded": False,
            }
            result = invoke(event)
            status = int(result.get("statusCode", 502)) if isinstance(result, dict) else 502
            self.send_response(status)
            self.end_headers()
            self.wfile.write(str(result.get("body", "") if isinstance(result, dict) else "").encode())

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Front)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}/"


@pytest.fixture
def receiver(world: World, lambda_zip: Path) -> Iterator[tuple[str, str, list[str], list[Any]]]:
    from tests.support.lambda_runtime import LambdaFunction

    sb = world.sb
    secrets = sb.client("secretsmanager")
    arn = secrets.create_secret(Name="ado/service-hook", SecretString=OLD)["ARN"]
    secrets.put_secret_value(SecretId=arn, SecretString=NEW)  # rotated: NEW is AWSCURRENT, OLD AWSPREVIOUS
    queue = sb.client("sqs").create_queue(QueueName="gate-recheck.fifo", Attributes={"FifoQueue": "true"})["QueueUrl"]
    region = sb.region
    configuration = {
        "FunctionName": "gate-service-hook",
        "FunctionArn": f"arn:aws:lambda:{region}:123456789012:function:gate-service-hook",
        "Handler": "gate.servicehook.handle",
        "Timeout": 10,
        "Runtime": f"python{sys.version_info.major}.{sys.version_info.minor}",
        "Environment": {"Variables": {"GATE_SERVICE_HOOK_SECRET_ARN": arn, "GATE_SERVICE_HOOK_QUEUE_URL": queue}},
    }
    credentials = {"AccessKeyId": "testing", "SecretAccessKey": "testing", "SessionToken": "testing"}
    lines: list[str] = []
    invocations: list[Any] = []

    with LambdaFunction(
        lambda_zip, configuration, credentials, endpoint_url=sb.aws_endpoint, log_sink=lines.append
    ) as fn:

        def invoke(event: dict[str, Any]) -> Any:
            invocation = fn.invoke(event)
            invocations.append(invocation)
            assert invocation.wait(60), "no answer from the packaged receiver"
            return invocation.result

        server, url = _function_url_front(invoke)
        try:
            yield url, queue, lines, invocations
        finally:
            server.shutdown()


def test_a_build_end_goes_through_the_packaged_receiver_and_the_queue_and_releases_its_instance(
    world: World, receiver: tuple[str, str, list[str], list[Any]]
) -> None:
    url, queue, lines, invocations = receiver
    hooks = WebHooks(world.ado.url)
    world.ado.service_hooks = hooks  # type: ignore[attr-defined]
    hooks.subscribe(url, password=OLD, event_types=(BUILD_COMPLETE,))  # not yet updated after the rotation
    hooks.subscribe(url, password="wrong-" + "w" * 32, event_types=(BUILD_COMPLETE,))
    victim = world.group.instances[0]
    world.ado.start_build(world.group.agents[victim], 200)
    [iid] = world.scale_in(2)
    assert iid == victim
    gate = world.gate()
    assert [r["outcome"] for r in gate.tick(budget=0) if r["instance"] == iid] == ["held"]
    world.clock.advance(201)  # the build has ended: the fake notices when it is next looked at
    world.ado.builds()
    hooks.close(wait=120)  # delivers what is queued: each delivery waits for the function's answer
    assert sorted(s["status"] for s in hooks.sent) == [202, 401]
    assert not world.history("complete")  # the receiver released nothing itself: it only asked

    sqs = world.sb.client("sqs")
    messages = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10, WaitTimeSeconds=1).get("Messages", [])
    assert len(messages) == 1
    heartbeats = sum(len(h) for h in world.history("heartbeat").values())
    records = consume_batch(gate, Coalescer(), _until([{"body": m["Body"]} for m in messages]))
    assert sum(len(h) for h in world.history("heartbeat").values()) == heartbeats  # the tick keeps hooks alive
    assert "released" in [r["outcome"] for r in records if r.get("instance") == iid]
    [completed] = world.history("complete")[iid]
    assert json.dumps(completed).count("CONTINUE") >= 1

    assert all(i.error is None and not i.timed_out for i in invocations)
    give_up = time.monotonic() + 10  # the function's stdout is read on its own thread
    while sum(line.startswith("{") for line in lines) < len(invocations) and time.monotonic() < give_up:
        time.sleep(0.05)
    logged = [json.loads(line) for line in lines if line.startswith("{")]
    assert {entry["request_id"] for entry in logged} == {i.request_id for i in invocations}
    assert OLD not in "\n".join(lines) and NEW not in "\n".join(lines)
