"""The local Lambda service: a zip run by AWS's runtime interface client (awslambdaric) against our Runtime API."""

from __future__ import annotations

import json
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.lambda_runtime import LambdaFunction

HANDLER = """\
import json, os, sys, time


def handle(event, context):
    print(json.dumps({"event": event, "left_ms": context.get_remaining_time_in_millis(),
                      "request_id": context.aws_request_id, "fn": os.environ["AWS_LAMBDA_FUNCTION_NAME"],
                      "setting": os.environ.get("GATE_X"), "path0": sys.path[0]}))
    if event.get("fail"):
        raise ValueError("failed on purpose")
    if event.get("sleep"):
        time.sleep(event["sleep"])
    try:
        import pytest  # installed here, but not in the Lambda runtime: must not be importable
        leaked = True
    except ImportError:
        leaked = False
    return {"ok": True, "leaked": leaked}
"""


@pytest.fixture
def function(tmp_path: Path) -> Iterator[tuple[LambdaFunction, list[str]]]:
    package = tmp_path / "fn.zip"
    with zipfile.ZipFile(package, "w") as zf:
        zf.writestr("app.py", HANDLER)
    configuration = {
        "FunctionName": "fn",
        "FunctionArn": "arn:aws:lambda:us-east-1:123456789012:function:fn",
        "Handler": "app.handle",
        "Timeout": 2,
        "Runtime": "python3.11",
        "Environment": {"Variables": {"GATE_X": "from-terraform"}},
    }
    lines: list[str] = []
    credentials = {"AccessKeyId": "ASIAEXAMPLE", "SecretAccessKey": "secret", "SessionToken": "token"}
    fn = LambdaFunction(package, configuration, credentials, endpoint_url="http://127.0.0.1:9", log_sink=lines.append)
    with fn:
        yield fn, lines


def test_invocations_run_in_the_unpacked_zip_with_lambdas_environment_and_deadline(
    function: tuple[LambdaFunction, list[str]],
) -> None:
    fn, lines = function
    ok = fn.invoke({"n": 1})
    assert ok.wait(30), "no response from the runtime interface client"
    assert ok.result == {"ok": True, "leaked": False} and ok.error is None
    # The function's stdout is read on its own thread: its line may land just after the response (as in Lambda,
    # where logs reach CloudWatch asynchronously). Seen once on a loaded CI host.
    give_up = time.monotonic() + 10
    while not any(line.startswith("{") for line in lines) and time.monotonic() < give_up:
        time.sleep(0.05)
    [printed] = [json.loads(line) for line in lines if line.startswith("{")]
    assert printed["event"] == {"n": 1} and printed["request_id"] == ok.request_id
    assert printed["fn"] == "fn" and printed["setting"] == "from-terraform"
    assert printed["path0"] == str(fn.task_root)
    assert 0 < printed["left_ms"] <= 2000


def test_a_raised_error_is_reported_and_a_timeout_replaces_the_environment(
    function: tuple[LambdaFunction, list[str]],
) -> None:
    fn, _ = function
    failed = fn.invoke({"fail": True})
    assert failed.wait(30)
    assert failed.error is not None and failed.error["errorType"] == "ValueError"
    slow = fn.invoke({"sleep": 10})
    assert slow.wait(30) and slow.timed_out and fn.timeouts == 1
    after = fn.invoke({"n": 2})  # a fresh environment takes the next one
    assert after.wait(30) and after.result == {"ok": True, "leaked": False}
