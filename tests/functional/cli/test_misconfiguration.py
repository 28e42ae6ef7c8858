"""Every newcomer mistake is loud: `check` and `status` say what is wrong in one line (listing what does exist) and
exit 2; `gate doctor` lists every problem with its fix, also for a deployed function's settings.

The world: a Sandbox (AWS emulator + fake Azure DevOps over HTTP) with group ci-agents, hook asg-termination-gate,
pool linux-agents, two instances; plus a second pool so that "pools there" has more than one name.
"""

from __future__ import annotations

import io
import json
import os
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from emulator.sandbox import PAT, Group, Sandbox
from tests.functional.cli.conftest import gate, one_line_error, use_sandbox


@pytest.fixture(scope="module")
def world() -> Iterator[tuple[Sandbox, Group]]:
    with Sandbox() as sandbox:
        group = sandbox.create_group("ci-agents", 2)
        assert sandbox.ado is not None
        sandbox.ado.add_pool("windows-agents")
        yield sandbox, group


@pytest.fixture
def env(world: tuple[Sandbox, Group], monkeypatch: pytest.MonkeyPatch) -> tuple[Sandbox, Group]:
    use_sandbox(monkeypatch, *world)
    return world


def views(sandbox: Sandbox, group: Group) -> list[list[str]]:
    return [["status"], ["check", group.instances[0]]]


def test_the_right_settings_pass(env: tuple[Sandbox, Group]) -> None:
    sandbox, group = env
    for args in views(sandbox, group):
        result = gate(*args, width=200)
        assert result.exit_code == 0, result
        # what was confirmed is said, not only what is wrong
        assert (
            "confirmed: hook asg-termination-gate on ci-agents: terminating, heartbeat timeout 300 s" in result.stdout
        )
        assert "confirmed: agent pool linux-agents found" in result.stdout
    data = json.loads(gate("status", "--json").stdout)
    assert any(line.startswith("hook asg-termination-gate on ci-agents: terminating") for line in data["confirmed"])
    result = gate("doctor")
    assert result.exit_code == 0, result
    assert "ok  hook asg-termination-gate on ci-agents: terminating, heartbeat timeout 300 s" in result.stdout
    assert "ok  agent pool linux-agents found" in result.stdout and "all checks passed" in result.stdout


@pytest.mark.parametrize(
    ("variable", "value", "needles"),
    [
        (
            "GATE_HOOK_NAME",
            "termination-gate",
            ["has no lifecycle hook termination-gate", "its terminating hooks: asg-termination-gate", "GATE_HOOK_NAME"],
        ),
        ("GATE_GROUPS", "ci-agnets", ["group ci-agnets not found", "groups there: ci-agents", "did you mean"]),
        ("GATE_POOLS", "linux", ["pool linux not found", "pools there: linux-agents, windows-agents", "GATE_POOLS"]),
        ("GATE_PAT", "not-the-pat", ["refused the PAT (HTTP 401)", "GATE_PAT"]),
        ("GATE_AZURE_ORG_URL", "ORG/../otherorg", ["no Azure DevOps organisation at", "otherorg (HTTP 404)"]),
        ("GATE_AZURE_ORG_URL", "http://127.0.0.1:1/fakeorg", ["cannot reach Azure DevOps at http://127.0.0.1:1"]),
        ("AWS_ENDPOINT_URL", "http://127.0.0.1:1", ["cannot reach the AWS endpoint http://127.0.0.1:1"]),
    ],
    ids=["wrong-hook", "typo-group", "wrong-pool", "bad-pat", "wrong-org-url", "azure-unreachable", "aws-unreachable"],
)
def test_each_mistake_is_one_line_exit_2(
    env: tuple[Sandbox, Group], monkeypatch: pytest.MonkeyPatch, variable: str, value: str, needles: list[str]
) -> None:
    sandbox, group = env
    if value.startswith("ORG/../"):
        value = sandbox.azure_url.rsplit("/", 1)[0] + "/" + value.rsplit("/", 1)[1]
    monkeypatch.setenv(variable, value)
    for args in views(sandbox, group):
        one_line_error(gate(*args), *needles)
    doctor = gate("doctor")
    assert doctor.exit_code == 2, doctor
    if variable != "AWS_ENDPOINT_URL":  # unreachable AWS: the one-line error above, before any check
        fixes = [line for line in doctor.stdout.splitlines() if line.startswith("FIX")]
        assert fixes and all(n in "\n".join(fixes) for n in needles[:1]), doctor
        assert "problem(s): the gate cannot work as configured" in doctor.stdout


def test_a_sign_in_page_is_a_refused_pat(env: tuple[Sandbox, Group]) -> None:
    """Azure DevOps answers a bad PAT with a 203 and an HTML sign-in page, not a 401."""
    sandbox, _ = env
    assert sandbox.ado is not None
    sandbox.ado.inject("signin", seconds=3600)
    try:
        one_line_error(gate("status"), "refused the PAT (HTTP 203)")
    finally:
        sandbox.ado.clear_faults()


def test_aws_refusing_the_credentials(env: tuple[Sandbox, Group]) -> None:
    sandbox, _ = env
    assert sandbox.emulator is not None
    sandbox.emulator.faults.inject(
        "DescribeAutoScalingGroups", code="InvalidClientTokenId", status=403, message="bad token", count=None
    )
    try:
        one_line_error(gate("status"), "AWS refused the credentials", "InvalidClientTokenId")
    finally:
        sandbox.emulator.faults.clear()


def test_replay_checks_the_hook_too(
    env: tuple[Sandbox, Group], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """A wrong hook name made every replayed decision `gone` with exit 0; now it is a one-line error."""
    monkeypatch.setenv("GATE_HOOK_NAME", "termination-gate")
    tick = tmp_path / "tick.json"
    tick.write_text(
        json.dumps({"version": "0", "source": "aws.events", "detail-type": "Scheduled Event", "detail": {}})
    )
    one_line_error(gate("replay", tick), "has no lifecycle hook termination-gate")


def test_doctor_reads_a_deployed_functions_settings(
    env: tuple[Sandbox, Group], monkeypatch: pytest.MonkeyPatch
) -> None:
    """`--function`: the settings come from GetFunctionConfiguration, not from this shell's GATE_* variables."""
    sandbox, group = env
    iam, lam = sandbox.client("iam"), sandbox.client("lambda")
    role = iam.create_role(
        RoleName="gate-doctor-test",
        AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": []}),
    )["Role"]["Arn"]
    code = io.BytesIO()
    with zipfile.ZipFile(code, "w") as z:
        z.writestr("handler.py", "def handle(event, context):\n    return {}\n")
    settings = {
        "GATE_AZURE_ORG_URL": sandbox.azure_url,
        "GATE_PAT": PAT,
        "GATE_POOLS": "linux",  # the deployed function's mistake
        "GATE_GROUPS": group.name,
        "GATE_HOOK_NAME": group.hook,
    }
    lam.create_function(
        FunctionName="gate-under-test",
        Runtime="python3.11",
        Role=role,
        Handler="handler.handle",
        Code={"ZipFile": code.getvalue()},
        Timeout=70,
        Environment={"Variables": settings},
    )
    monkeypatch.setenv("GATE_POOLS", "linux-agents")  # this shell is right; the function is not
    result = gate("doctor", "--function", "gate-under-test")
    assert result.exit_code == 2, result
    assert "ok  function gate-under-test: python3.11, timeout 70 s" in result.stdout
    assert "FIX agent pool linux not found" in result.stdout and "ok  hook asg-termination-gate" in result.stdout
    data = json.loads(gate("doctor", "--function", "gate-under-test", "--json").stdout)
    assert data["ok"] is False and any(f["subject"] == "pool linux" for f in data["findings"])
    one_line_error(gate("doctor", "--function", "no-such-function"), "ResourceNotFoundException")


def test_every_missing_setting_is_named_in_one_run(monkeypatch: pytest.MonkeyPatch) -> None:
    """Not one stage at a time: the cross-field checks (organisation, pools, PAT) are reported with the missing
    required fields, so a newcomer fixes them all after one run."""
    for key in [k for k in os.environ if k.startswith("GATE_")]:
        monkeypatch.delenv(key)
    line = one_line_error(gate("status"), "invalid gate settings")
    for variable in ("GATE_GROUPS", "GATE_HOOK_NAME", "GATE_AZURE_ORG_URL", "GATE_POOLS", "GATE_PAT"):
        assert variable in line, line
    assert "Value error" not in line
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:1")  # doctor checks AWS too: nothing listens here
    doctor = gate("doctor")
    assert doctor.exit_code == 2, doctor
    fixes = [x for x in doctor.stdout.splitlines() if x.startswith("FIX")]
    assert len(fixes) == 6 and "6 problem(s)" in doctor.stdout, doctor  # one line per variable, and AWS's
    assert "FIX cannot reach the AWS endpoint http://127.0.0.1:1" in doctor.stdout
    assert "skip groups and hooks not checked" in doctor.stdout and "skip agent system not checked" in doctor.stdout


def test_no_aws_credentials_is_one_line_exit_2(env: tuple[Sandbox, Group], monkeypatch: pytest.MonkeyPatch) -> None:
    """Not botocore's "Unable to locate credentials" after retries: what to set, at once."""
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/credentials")
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent/config")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    one_line_error(gate("status"), "no AWS credentials", "AWS_ACCESS_KEY_ID")
