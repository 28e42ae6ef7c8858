"""CLI polish (issue 20, item 7): every command that talks to AWS says which account, region and endpoint it checks,
and every error names them; global --region and --profile; `gate doctor` runs every check it can and reports them
all; "did you mean" for pools, regions and profiles; an unreachable Azure DevOps in words; an empty secret refused
and never sent; on a terminal of 80 or 120 columns no line is cut mid-word.

The world: a Sandbox (AWS emulator + fake Azure DevOps over HTTP) with group ci-agents, hook asg-termination-gate,
pool linux-agents, two instances.
"""

from __future__ import annotations

import json
import os
import re
import select
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from emulator.sandbox import Group, Sandbox
from tests.functional.cli.conftest import ROOT, check_output, gate, gate_command, one_line_error, use_sandbox

TICK = ROOT / "examples" / "events" / "scheduled-tick.json"
ACCOUNT = "123456789012"  # the emulator's


@pytest.fixture(scope="module")
def world() -> Iterator[tuple[Sandbox, Group]]:
    with Sandbox() as sandbox:
        yield sandbox, sandbox.create_group("ci-agents", 2)


@pytest.fixture
def env(world: tuple[Sandbox, Group], monkeypatch: pytest.MonkeyPatch) -> tuple[Sandbox, Group]:
    use_sandbox(monkeypatch, *world)
    return world


# -- which AWS ---------------------------------------------------------------------------------------------------


def test_every_aws_command_says_which_account_region_and_endpoint(env: tuple[Sandbox, Group]) -> None:
    sandbox, group = env
    where = f"account {ACCOUNT}, region us-east-1, endpoint {sandbox.aws_endpoint}"
    for args in (["status"], ["check", group.instances[0]], ["replay", TICK], ["doctor"]):
        result = gate(*args, width=200)
        assert result.exit_code == 0, result
        assert f"AWS: {where}" in result.stdout.splitlines()[0], result  # the first line: read the rest against it
    expected = {"account": ACCOUNT, "region": "us-east-1", "endpoint": sandbox.aws_endpoint, "profile": None}
    for args in (["status"], ["check", group.instances[0]], ["replay", TICK]):
        assert json.loads(gate(*args, "--json").stdout)["aws"] == expected


def test_a_group_not_found_names_the_account_region_and_endpoint(env: tuple[Sandbox, Group]) -> None:
    """The same group in another region is "not found": the error says where it looked, so the region shows."""
    sandbox, group = env
    line = one_line_error(gate("--region", "us-west-2", "status"), "Auto Scaling group ci-agents not found in")
    assert f"account {ACCOUNT}, region us-west-2, endpoint {sandbox.aws_endpoint}" in line, line
    assert "--region" in line and "GATE_GROUPS" in line
    doctor = gate("--region", "us-west-2", "doctor", width=200)
    assert doctor.exit_code == 2 and "FIX Auto Scaling group ci-agents not found in" in doctor.stdout, doctor
    assert f"region us-west-2, endpoint {sandbox.aws_endpoint}" in doctor.stdout
    one_line_error(gate("--region", "us-west-2", "check", group.instances[0]), "region us-west-2")


def test_a_mistyped_region_is_refused_with_a_suggestion(
    env: tuple[Sandbox, Group], monkeypatch: pytest.MonkeyPatch
) -> None:
    one_line_error(gate("--region", "us-east-9x", "status"), "--region 'us-east-9x' is not an AWS region", "did you")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-wset-1")
    one_line_error(gate("status"), "AWS_DEFAULT_REGION 'eu-wset-1' is not an AWS region", "did you mean eu-west-1?")
    one_line_error(gate("doctor"), "eu-wset-1", "did you mean eu-west-1?")


def test_profile_option_uses_the_profile_and_says_so(
    env: tuple[Sandbox, Group], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    (tmp_path / "config").write_text("[profile ci-sandbox]\nregion = us-east-1\n")
    (tmp_path / "credentials").write_text(
        "[ci-sandbox]\naws_access_key_id = testing\naws_secret_access_key = testing\n"
    )
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "credentials"))
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "from-the-environment")  # --profile wins over these, as in the AWS CLI
    result = gate("--profile", "ci-sandbox", "status", width=200)
    assert result.exit_code == 0, result
    assert "profile ci-sandbox" in result.stdout.splitlines()[0]
    one_line_error(gate("--profile", "ci-sandbx", "status"), "--profile 'ci-sandbx'", "did you mean ci-sandbox?")
    monkeypatch.setenv("AWS_PROFILE", "ci-sandbx")
    one_line_error(gate("status"), "AWS_PROFILE 'ci-sandbx'", "did you mean ci-sandbox?")


# -- doctor ------------------------------------------------------------------------------------------------------


def fixes(result: object) -> list[str]:
    return [line for line in getattr(result, "stdout", "").splitlines() if line.startswith("FIX")]


def test_doctor_reports_every_problem_in_one_run(env: tuple[Sandbox, Group], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GATE_HOOK_NAME", "termination-gate")
    monkeypatch.setenv("GATE_POOLS", "linux")
    result = gate("doctor", width=200)
    assert result.exit_code == 2, result
    found = fixes(result)
    assert len(found) == 2 and "2 problem(s)" in result.stdout, result
    assert "no lifecycle hook termination-gate" in found[0] and "did you mean asg-termination-gate?" in found[0]
    assert "agent pool linux not found" in found[1] and "did you mean linux-agents?" in found[1]
    assert "skip job requests not checked" in result.stdout


def test_doctor_checks_aws_when_the_agent_settings_are_wrong_and_the_other_way_round(
    env: tuple[Sandbox, Group], monkeypatch: pytest.MonkeyPatch
) -> None:
    sandbox, _ = env
    monkeypatch.setenv("GATE_AZURE_ORG_URL", "http://dev.azure.example/org")  # plain http: refused by the settings
    result = gate("doctor", width=200)
    assert result.exit_code == 2, result
    assert [f for f in fixes(result) if "GATE_AZURE_ORG_URL" in f], result
    assert "ok  hook asg-termination-gate on ci-agents" in result.stdout  # the AWS side still checked
    assert "skip agent system not checked" in result.stdout

    monkeypatch.setenv("GATE_AZURE_ORG_URL", sandbox.azure_url)
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:1")
    result = gate("doctor", width=200)
    assert result.exit_code == 2, result
    assert fixes(result) == [
        "FIX cannot reach the AWS endpoint http://127.0.0.1:1: "
        "127.0.0.1:1 refused the connection (nothing listens there)"
    ], result
    assert "ok  agent pool linux-agents found" in result.stdout  # the agent side still checked
    assert "skip groups and hooks not checked: AWS did not answer" in result.stdout


# -- the agent system --------------------------------------------------------------------------------------------


def test_a_wrong_pool_gets_a_did_you_mean(env: tuple[Sandbox, Group], monkeypatch: pytest.MonkeyPatch) -> None:
    for wrong in ("linux", "Linux-Agent", "linux-agnets"):
        monkeypatch.setenv("GATE_POOLS", wrong)
        one_line_error(gate("status"), f"agent pool {wrong} not found", "did you mean linux-agents?")


def test_an_unreachable_azure_devops_is_reported_in_words(
    env: tuple[Sandbox, Group], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GATE_AZURE_ORG_URL", "http://127.0.0.1:1/org")
    line = one_line_error(
        gate("status"), "cannot reach Azure DevOps at http://127.0.0.1:1/org", "refused the connection"
    )
    assert "ConnectionError" not in line
    doctor = gate("doctor", width=200)
    assert any("127.0.0.1:1 refused the connection (nothing listens there)" in f for f in fixes(doctor)), doctor
    assert "ConnectionError" not in doctor.stdout


def test_an_empty_secret_is_refused_and_never_sent(env: tuple[Sandbox, Group], monkeypatch: pytest.MonkeyPatch) -> None:
    sandbox, _ = env
    assert sandbox.ado is not None
    before = len(sandbox.ado.calls)
    for empty in ("", "  "):
        monkeypatch.setenv("GATE_PAT", empty)
        line = one_line_error(gate("status"), "GATE_PAT: is set but empty")
        assert "Value error" not in line
        doctor = gate("doctor", width=200)
        assert any("GATE_PAT: is set but empty" in f for f in fixes(doctor)), doctor
    assert len(sandbox.ado.calls) == before  # nothing reached Azure DevOps
    monkeypatch.setenv("GATE_AGENT_SYSTEM", "github")
    monkeypatch.setenv("GATE_GITHUB_ORG", "acme")
    monkeypatch.setenv("GATE_GITHUB_TOKEN", "")
    one_line_error(gate("status"), "GATE_GITHUB_TOKEN: is set but empty")


# -- wrapping ----------------------------------------------------------------------------------------------------

TIMESTAMP = re.compile(r"\d{4}-\d\d-\d\dT[\d:.]+Z")


def on_a_terminal(args: list[str], columns: int) -> str:
    """`gate ARGS` on a pseudo-terminal of `columns` columns: what it writes there, colours stripped."""
    import pty

    main, child = pty.openpty()
    env = {**os.environ, "COLUMNS": str(columns), "LINES": "50", "TERM": "xterm"}
    proc = subprocess.Popen([*gate_command(), *args], stdin=child, stdout=child, stderr=child, cwd=ROOT, env=env)
    os.close(child)
    out = b""
    try:
        while True:
            ready, _, _ = select.select([main], [], [], 120)  # a limit for a hung process, not a timing
            if not ready:
                raise AssertionError(f"gate {' '.join(args)} wrote nothing for 120 s")
            try:
                data = os.read(main, 65536)
            except OSError:  # EIO: the child closed the terminal
                break
            if not data:
                break
            out += data
    finally:
        os.close(main)
        proc.wait(timeout=60)
    text = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", out.decode()).replace("\r", "")
    check_output(text)
    return text


def words(text: str) -> set[str]:
    return set(TIMESTAMP.sub("TIME", text).split())


@pytest.mark.parametrize("columns", [80, 120])
def test_no_line_is_cut_mid_word_on_a_terminal(
    env: tuple[Sandbox, Group], monkeypatch: pytest.MonkeyPatch, columns: int
) -> None:
    """Each line fits the terminal (else the terminal cuts it wherever the edge falls), and every word written on
    the terminal is a whole word of the same output captured in one piece (piped: one line per fact)."""
    _, group = env
    for args in (["check", group.instances[0]], ["doctor"], ["replay", str(TICK)]):
        tty = on_a_terminal(args, columns)
        assert max(len(line) for line in tty.splitlines()) <= columns, tty
        whole = gate(*args, width=1000)
        assert words(tty) <= words(whole.output), (words(tty) - words(whole.output), tty)
    monkeypatch.setenv("GATE_POOLS", "linux-agents-with-a-long-name-nobody-created")
    tty = on_a_terminal(["status"], columns)
    assert tty.startswith("error: ") and max(len(line) for line in tty.splitlines()) <= columns, tty
    assert words(tty) <= words(gate("status").output)
