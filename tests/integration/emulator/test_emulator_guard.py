"""One bad request never breaks the AWS emulator: an unknown region, a malformed parameter or a failing lifecycle
tick answers that request with an AWS-shaped error, later requests are served, and each failure is logged once.
Also: the Logs Insights query definitions the Terraform module creates are served (moto lacks them)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from emulator.aws import AwsEmulator

ONE_TRY = Config(retries={"max_attempts": 1, "mode": "standard"}, parameter_validation=False)


@pytest.fixture(scope="module")
def emu() -> Iterator[AwsEmulator]:
    with AwsEmulator() as running:
        yield running


def client(emu: AwsEmulator, service: str, region: str = "us-east-1") -> Any:
    return boto3.client(  # type: ignore[call-overload]
        service,
        region_name=region,
        endpoint_url=emu.endpoint,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=ONE_TRY,
    )


@pytest.mark.parametrize(
    ("service", "call"),
    [
        ("autoscaling", "describe_auto_scaling_groups"),  # query protocol: XML
        ("sqs", "list_queues"),  # awsJson: __type
        ("lambda", "list_functions"),  # REST-JSON: x-amzn-ErrorType
    ],
)
def test_an_unknown_region_is_refused_by_name_and_later_calls_work(emu: AwsEmulator, service: str, call: str) -> None:
    with pytest.raises(ClientError) as refused:
        getattr(client(emu, service, "us-east-9x"), call)()
    error = refused.value.response["Error"]
    assert error["Code"] == "InvalidRegion"
    assert "us-east-9x" in error["Message"]
    assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    getattr(client(emu, service), call)()  # the right region is served at once
    assert not emu.tick_errors.counts, emu.tick_errors.counts


def test_the_lifecycle_timer_keeps_running_after_an_unknown_region(emu: AwsEmulator) -> None:
    with pytest.raises(ClientError):
        client(emu, "autoscaling", "us-east-9x").describe_auto_scaling_groups()
    passes = threading.Event()
    seen = 0
    original = emu._tick

    def counting() -> None:
        nonlocal seen
        original()
        seen += 1
        if seen >= 3:
            passes.set()

    emu._tick = counting  # type: ignore[method-assign]
    try:
        assert passes.wait(60), "the timer stopped ticking"
    finally:
        del emu._tick
    assert not emu.tick_errors.counts
    assert all(region != "us-east-9x" for _, region in emu._seen)


def test_a_malformed_parameter_is_a_400_validation_error(emu: AwsEmulator) -> None:
    asg = client(emu, "autoscaling")
    with pytest.raises(ClientError) as bad:
        asg.describe_scaling_activities(MaxRecords="many")
    assert bad.value.response["Error"]["Code"] == "ValidationError"
    assert bad.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert asg.describe_auto_scaling_groups()["AutoScalingGroups"] == []


def test_a_failing_tick_fails_that_request_with_its_reason_then_recovers(
    emu: AwsEmulator, caplog: pytest.LogCaptureFixture
) -> None:
    asg = client(emu, "autoscaling")
    failures = threading.Event()
    calls = 0

    def broken() -> None:
        nonlocal calls
        calls += 1
        if calls >= 4:
            failures.set()
        raise RuntimeError("tick exploded")

    caplog.set_level(logging.ERROR, logger="emulator.aws")
    emu._tick = broken  # type: ignore[method-assign]
    try:
        with pytest.raises(ClientError) as failed:
            asg.describe_auto_scaling_groups()
        assert failures.wait(60), "the background timer never ran"
    finally:
        del emu._tick
    error = failed.value.response["Error"]
    assert error["Code"] == "InternalFailure"
    assert "RuntimeError: tick exploded" in error["Message"]
    assert asg.describe_auto_scaling_groups()["AutoScalingGroups"] == []
    timer_records = [r for r in caplog.records if "lifecycle timer" in r.getMessage()]
    assert len(timer_records) == 1, [r.getMessage() for r in caplog.records]  # once, however many passes failed
    assert sum(emu.tick_errors.counts.values()) >= 2


def test_query_definitions_are_served(emu: AwsEmulator) -> None:
    logs = client(emu, "logs")
    made = logs.put_query_definition(name="gate/decisions", queryString="fields @timestamp", logGroupNames=["/g"])
    found = logs.describe_query_definitions(queryDefinitionNamePrefix="gate/")["queryDefinitions"]
    assert [(d["queryDefinitionId"], d["queryString"]) for d in found] == [
        (made["queryDefinitionId"], "fields @timestamp")
    ]
    assert logs.delete_query_definition(queryDefinitionId=made["queryDefinitionId"])["success"] is True
    assert logs.describe_query_definitions()["queryDefinitions"] == []


def test_a_fake_that_fails_on_one_request_answers_it_and_serves_the_next(caplog: pytest.LogCaptureFixture) -> None:
    """The fakes on emulator/httpserver.py (Azure DevOps, GitLab, IMDS): a failure of their own is one JSON 500
    naming it, logged once however often it repeats, and the next request is served."""
    import requests

    from emulator.azure_devops import FakeAzureDevOps

    caplog.set_level(logging.ERROR, logger="emulator.httpserver")
    with FakeAzureDevOps(pat="p") as fake:
        fake.add_pool("linux")
        original = fake._h_pools

        def broken(request: Any) -> Any:
            raise RuntimeError("pool listing exploded")

        fake._h_pools = broken  # type: ignore[method-assign]
        url = f"{fake.url}/_apis/distributedtask/pools"
        for _ in range(3):
            failed = requests.get(url, auth=("", "p"), timeout=5)
            assert failed.status_code == 500 and "RuntimeError: pool listing exploded" in failed.json()["message"]
        fake._h_pools = original  # type: ignore[method-assign]
        assert requests.get(url, auth=("", "p"), timeout=5).json()["value"][0]["name"] == "linux"
    assert len([r for r in caplog.records if "pool listing exploded" in r.getMessage()]) == 1
