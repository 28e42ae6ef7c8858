"""`gate doctor` with GATE_AGENT_SYSTEM=gitlab: it names GitLab, counts the runners, and checks the jobs route a
release needs (a token that can list runners but not read their jobs would hold every idle instance to max hold)."""

from __future__ import annotations

from typing import Any

import pytest

from cli.doctor import Unreachable, check_agents
from emulator.gitlab import FakeGitLab
from gate.settings import load_settings
from tests.integration.gitlab.conftest import TOKEN


def settings(gitlab: FakeGitLab, token: str = TOKEN) -> Any:
    return load_settings(agent_system="gitlab", gitlab_url=gitlab.url, gitlab_token=token, groups="g", hook_name="h")


def test_doctor_counts_runners_and_reads_one_runners_jobs(gitlab: FakeGitLab) -> None:
    gitlab.add_runner("ci-i-0123456789abcdef0")
    findings = check_agents(settings(gitlab), None, None)
    assert [(f.ok, f.subject) for f in findings] == [(True, "GitLab"), (True, "GitLab jobs")]
    assert "GitLab runners: 1 found" in findings[0].detail
    gitlab.inject("forbidden", path_contains="/jobs")  # the list answers, the jobs route is refused
    findings = check_agents(settings(gitlab), None, None)
    assert findings[0].ok and not findings[1].ok
    assert "403" in findings[1].detail and "Owner" in findings[1].fix


def test_doctor_names_gitlab_when_it_refuses_the_token(gitlab: FakeGitLab) -> None:
    with pytest.raises(Unreachable, match=r"^GitLab: .*401"):
        check_agents(settings(gitlab, "glpat-wrong-000000000000"), None, None)
