"""`gate emulator` runs the Lambda functions deployed to it: a rule's Lambda target runs the function's own zip,
with its configured environment, the emulator as its endpoint and its output in its log group."""

from __future__ import annotations

import io
import json
import threading
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from emulator import eventbridge
from emulator.aws import AwsEmulator
from emulator.functions import LocalFunctions, _interpreter

HANDLER = """
import json, os
import boto3

def handle(event, context):
    print(json.dumps({"event": "decision", "Outcome": "held", "instance": event["detail"]["EC2InstanceId"],
                      "reason": "seen by " + os.environ["MARK"]}))
    boto3.client("sqs").send_message(QueueUrl=os.environ["QUEUE"], MessageBody=json.dumps({
        "remaining_ms": context.get_remaining_time_in_millis(), "function": context.function_name}))
"""


def _zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("handler.py", HANDLER)
    return buffer.getvalue()


@pytest.fixture
def world() -> Iterator[tuple[AwsEmulator, LocalFunctions, list[str]]]:
    said: list[str] = []
    with AwsEmulator() as emu:
        functions = LocalFunctions(emu.endpoint, echo=said.append)
        emu.targets.fallback = functions.lookup
        yield emu, functions, said


def client(emu: AwsEmulator, service: str) -> Any:
    return boto3.client(  # type: ignore[call-overload]
        service,
        region_name="us-east-1",
        endpoint_url=emu.endpoint,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


def test_a_rule_runs_the_deployed_zip_with_its_environment(
    world: tuple[AwsEmulator, LocalFunctions, list[str]],
) -> None:
    emu, functions, said = world
    sqs, lam, events, logs = (client(emu, s) for s in ("sqs", "lambda", "events", "logs"))
    queue = sqs.create_queue(QueueName="seen")["QueueUrl"]
    role = client(emu, "iam").create_role(RoleName="fn", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    logs.create_log_group(logGroupName="/aws/lambda/probe")
    fn = lam.create_function(
        FunctionName="probe",
        Runtime="python3.12",
        Role=role,
        Handler="handler.handle",
        Code={"ZipFile": _zip()},
        Timeout=30,
        Environment={"Variables": {"MARK": "the probe", "QUEUE": queue}},
    )
    events.put_rule(Name="lifecycle", EventPattern=json.dumps({"source": ["aws.autoscaling"]}))
    events.put_targets(Rule="lifecycle", Targets=[{"Id": "fn", "Arn": fn["FunctionArn"]}])
    ran = threading.Event()

    def echo(line: str) -> None:
        said.append(line)
        ran.set()

    functions.echo = echo

    event = {"source": "aws.autoscaling", "detail-type": "Probe", "detail": {"EC2InstanceId": "i-0probe"}}
    assert eventbridge.deliver(event, emu.account_id, "us-east-1", 0.0, emu.targets) == ["lifecycle"]

    assert ran.wait(60), "the function never ran"
    # No long poll: the emulator serialises requests, so one would block the function's own call.
    got = sqs.receive_message(QueueUrl=queue).get("Messages", [])
    assert got, f"the function never called back into the emulator: {said}"
    body = json.loads(got[0]["Body"])
    assert body["function"] == "probe" and 0 < body["remaining_ms"] <= 30_000
    assert said == ["[probe] Probe: held i-0probe: seen by the probe"]
    [stream] = logs.describe_log_streams(logGroupName="/aws/lambda/probe")["logStreams"]
    lines = [
        e["message"]
        for e in logs.get_log_events(logGroupName="/aws/lambda/probe", logStreamName=stream["logStreamName"])["events"]
    ]
    assert json.loads(lines[0])["reason"] == "seen by the probe" and lines[-1].startswith("REPORT RequestId:")
    assert [i["status"] for i in functions.invocations] == [0]


def test_an_unknown_function_is_not_run(world: tuple[AwsEmulator, LocalFunctions, list[str]]) -> None:
    emu, functions, _ = world
    assert functions.lookup(f"arn:aws:lambda:us-east-1:{emu.account_id}:function:absent") is None
    assert functions.lookup("arn:aws:sqs:us-east-1:123456789012:queue") is None


def test_a_zip_for_another_python_says_how_to_build_one_that_runs(tmp_path: Path) -> None:
    (tmp_path / "native.cpython-399-x86_64-linux-gnu.so").write_bytes(b"")
    with pytest.raises(LookupError, match=r"built for Python 3\.99.*package_lambda\.py --python-version 3\.\d+"):
        _interpreter(tmp_path)
