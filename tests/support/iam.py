"""IAM enforcement on the in-process moto server, for tests that must fail when a policy lacks a permission.

moto authenticates and authorises a request only after `settings.INITIAL_NO_AUTH_ACTION_COUNT` unauthenticated
ones (default: never; moto docs, "IAM-like Access Control"). With enforcement on, every request must be signed
with an access key moto issued (an IAM user's key, or AssumeRole's temporary credentials) and its action must be
allowed by that principal's policies. The check is action-level: moto does not derive a request's resource ARN
or condition keys, so a statement's Resource and Condition do not narrow it (see `_check_element_matches`). This
proves that the policy grants every action the code calls, not that its scoping is right (the policy's scoping is
tested in modules/core and by checkov). Two moto server-mode bugs are worked around while enforcing (below).

Sequence: build the world unauthenticated, create an admin user for the test harness and Terraform
(`admin_user`), then `enforce()`; `enforcement()` restores moto's default (no enforcement) on exit.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from botocore.awsrequest import AWSRequest
from moto import settings
from moto.core.authorization import ActionAuthenticatorMixin
from moto.iam.access_control import IAMPolicyStatement, IAMRequestBase

__all__ = ["Enforcement", "admin_user", "enforcement", "service_role_credentials"]

ADMIN_POLICY = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}


def _create_aws_request(self: IAMRequestBase) -> AWSRequest:
    """moto's signature check, minus a server-mode bug: a body-less GET/DELETE of a REST service (Lambda's
    GetFunction) was re-signed with its parsed parameters as the payload, so every such request failed with
    SignatureDoesNotMatch. A request without a body is signed over the empty payload, as SigV4 clients do."""
    signed = self._get_string_between("SignedHeaders=", ",", self._headers["Authorization"]).split(";")
    headers = self._create_headers_for_aws_request(signed, self._headers)
    body = self._body or (self._data if self._method == "POST" else b"")
    request = AWSRequest(method=self._method, url=self._path, data=body, headers=headers)
    request.context["timestamp"] = headers["X-Amz-Date"]
    return request


_moto_check_element_matches = IAMPolicyStatement._check_element_matches


def _check_element_matches(self: IAMPolicyStatement, statement_element: Any, value: str) -> bool:
    """moto passes the resource "*" for every request but S3's (it does not derive the request's ARN) and then
    matches the statement's Resource patterns against that literal "*": a statement scoped to ARNs never allowed
    anything, so a least-privilege policy denied every scoped action. An unknown resource matches any Resource:
    the check becomes action-level (scoping is tested elsewhere: modules/core's tests and checkov)."""
    if statement_element == "Resource" and value == "*":
        return True
    return _moto_check_element_matches(self, statement_element, value)


class Enforcement:
    def __init__(self) -> None:
        self._saved = settings.INITIAL_NO_AUTH_ACTION_COUNT
        self._saved_request = IAMRequestBase._create_aws_request

    def enforce(self) -> None:
        """From the next request on, authenticate and authorise every request."""
        IAMRequestBase._create_aws_request = _create_aws_request  # type: ignore[method-assign]
        IAMPolicyStatement._check_element_matches = _check_element_matches  # type: ignore[method-assign]
        ActionAuthenticatorMixin.request_count = 0
        settings.INITIAL_NO_AUTH_ACTION_COUNT = 0

    def relax(self) -> None:
        settings.INITIAL_NO_AUTH_ACTION_COUNT = self._saved
        ActionAuthenticatorMixin.request_count = 0
        IAMRequestBase._create_aws_request = self._saved_request  # type: ignore[method-assign]
        IAMPolicyStatement._check_element_matches = _moto_check_element_matches  # type: ignore[method-assign]


@contextmanager
def enforcement() -> Iterator[Enforcement]:
    """IAM enforcement that can be switched on (`enforce()`) and is always switched off on exit."""
    state = Enforcement()
    try:
        yield state
    finally:
        state.relax()


def admin_user(iam: Any, name: str = "harness-admin") -> dict[str, str]:
    """An IAM user allowed everything; returns its access key (AccessKeyId, SecretAccessKey). Call before enforce()."""
    iam.create_user(UserName=name)
    iam.put_user_policy(UserName=name, PolicyName="admin", PolicyDocument=json.dumps(ADMIN_POLICY))
    key = iam.create_access_key(UserName=name)["AccessKey"]
    return {"AccessKeyId": key["AccessKeyId"], "SecretAccessKey": key["SecretAccessKey"]}


def service_role_credentials(sts: Any, role_arn: str, session_name: str, auth: Enforcement) -> dict[str, str]:
    """Temporary credentials of a role whose trust policy names an AWS service (lambda.amazonaws.com), obtained
    as that service does. moto cannot evaluate a Service principal in a trust policy (it fails on it), and no IAM
    principal of the test could assume such a role in AWS either, so enforcement pauses for this one call."""
    auth.relax()
    try:
        credentials: dict[str, str] = sts.assume_role(RoleArn=role_arn, RoleSessionName=session_name)["Credentials"]
    finally:
        auth.enforce()
    return credentials
