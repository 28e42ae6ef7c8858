"""`gate audit`'s own error paths: one line, exit 2, before any call that could hang (tests/functional/features/
test_audit_e2e.py has the counts)."""

from __future__ import annotations

from tests.functional.cli.conftest import gate, one_line_error

SETTINGS = {
    "GATE_AZURE_ORG_URL": "http://127.0.0.1:9/fakeorg",
    "GATE_PAT": "local-pat-0123456789",
    "GATE_GROUPS": "ci-agents",
    "GATE_POOLS": "linux-agents",
    "GATE_HOOK_NAME": "asg-termination-gate",
}


def test_help_names_what_it_reports() -> None:
    result = gate("audit", "--help", width=200)
    assert result.exit_code == 0 and "Usage: gate audit" in result.stdout
    assert "killed by scale-in" in result.stdout and "--since" in result.stdout


def test_a_bad_window_is_one_line() -> None:
    one_line_error(gate("audit", "--since", "soon"), "--since 'soon'")
    one_line_error(gate("audit", "--tolerance", "-1"), "'--tolerance'")


def test_an_unreachable_endpoint_is_one_line() -> None:
    env = {**SETTINGS, "AWS_ENDPOINT_URL": "http://127.0.0.1:9"}
    one_line_error(gate("audit", env=env), "cannot reach the AWS endpoint")


def test_missing_settings_are_named() -> None:
    env = {k: "" for k in SETTINGS} | {"AWS_ENDPOINT_URL": ""}
    one_line_error(gate("audit", env=env), "GATE_GROUPS")
