"""emulator/iam.py: moto's IAM enforcement, switched on for a test, action-level, for keys moto issued."""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from emulator.aws import AwsEmulator
from tests.support import iam

TRUST = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}],
}
SCOPED = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
            "Resource": "arn:aws:logs:us-east-1:123456789012:log-group:/aws/lambda/fn:*",
        }
    ],
}


def _session(keys: dict[str, str]) -> boto3.session.Session:
    return boto3.session.Session(
        aws_access_key_id=keys["AccessKeyId"],
        aws_secret_access_key=keys["SecretAccessKey"],
        aws_session_token=keys.get("SessionToken"),
        region_name="us-east-1",
    )


@pytest.fixture
def world() -> Iterator[tuple[AwsEmulator, iam.Enforcement, boto3.session.Session]]:
    with AwsEmulator() as emu, iam.enforcement() as auth:
        anonymous = _session({"AccessKeyId": "testing", "SecretAccessKey": "testing"})
        admin = _session(iam.admin_user(anonymous.client("iam", endpoint_url=emu.endpoint)))
        auth.enforce()
        yield emu, auth, admin


def _denied(exc: ClientError) -> bool:
    """403 AccessDenied (moto's query-protocol error body is not always parsed into Error.Code)."""
    return exc.response["ResponseMetadata"]["HTTPStatusCode"] == 403 and "AccessDenied" in str(exc)


def _client(session: boto3.session.Session, service: str, emu: AwsEmulator) -> Any:
    return session.client(service, endpoint_url=emu.endpoint)  # type: ignore[call-overload]


def test_unknown_keys_are_refused_and_admin_keys_work_also_for_rest_get_requests(
    world: tuple[AwsEmulator, iam.Enforcement, boto3.session.Session],
) -> None:
    emu, _, admin = world
    stranger = _session({"AccessKeyId": "testing", "SecretAccessKey": "testing"})
    with pytest.raises(ClientError) as err:
        _client(stranger, "autoscaling", emu).describe_auto_scaling_groups()
    assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    role = _client(admin, "iam", emu).create_role(RoleName="fn", AssumeRolePolicyDocument=json.dumps(TRUST))
    package = io.BytesIO()
    with zipfile.ZipFile(package, "w") as zf:
        zf.writestr("app.py", "def handle(event, context):\n    return 1\n")
    lam = _client(admin, "lambda", emu)
    lam.create_function(
        FunctionName="fn", Role=role["Role"]["Arn"], Runtime="python3.11", Handler="app.handle",
        Code={"ZipFile": package.getvalue()},
    )  # fmt: skip
    assert lam.get_function(FunctionName="fn")["Configuration"]["FunctionName"] == "fn"  # a body-less signed GET


def test_a_service_roles_credentials_get_exactly_the_actions_its_scoped_policy_names(
    world: tuple[AwsEmulator, iam.Enforcement, boto3.session.Session],
) -> None:
    emu, auth, admin = world
    iam_client = _client(admin, "iam", emu)
    arn = iam_client.create_role(RoleName="fn", AssumeRolePolicyDocument=json.dumps(TRUST))["Role"]["Arn"]
    iam_client.put_role_policy(RoleName="fn", PolicyName="scoped", PolicyDocument=json.dumps(SCOPED))
    _client(admin, "logs", emu).create_log_group(logGroupName="/aws/lambda/fn")
    role = _session(iam.service_role_credentials(_client(admin, "sts", emu), arn, "fn", auth))
    logs = _client(role, "logs", emu)
    logs.create_log_stream(logGroupName="/aws/lambda/fn", logStreamName="s")  # allowed by the scoped statement
    with pytest.raises(ClientError) as err:
        logs.delete_log_group(logGroupName="/aws/lambda/fn")  # not in the policy
    assert _denied(err.value)
    with pytest.raises(ClientError) as err:
        _client(role, "autoscaling", emu).describe_auto_scaling_groups()
    assert _denied(err.value)
