"""Each agent system's own word for taking an agent out of scheduling: GitLab pauses a runner, Azure DevOps disables
an agent. The plan (`gate check`, dry runs) and the decision reasons say it as the system's UI and docs/gitlab.md do."""

from __future__ import annotations

from gate.domain.actions import DisableAgent
from gate.domain.decide import stopped
from gate.domain.model import Agent
from gate.service.execute import describe


def _agent(source: str, name: str, id_: int = 1) -> Agent:
    return Agent(source=source, pool_id=1, pool="ci", id=id_, name=name, enabled=True)


def test_gitlab_runners_are_paused_and_azure_devops_agents_disabled() -> None:
    runner = _agent("gitlab", "ci-i-0abc12345def67890")
    agent = _agent("azure-devops", "agent-i-0abc12345def67890", 2)
    assert describe(DisableAgent(runner)) == "pause ci/ci-i-0abc12345def67890#1"
    assert describe(DisableAgent(agent)) == "disable ci/agent-i-0abc12345def67890#2"
    assert stopped([runner]) == "paused ci/ci-i-0abc12345def67890#1"
    assert stopped([agent, _agent("github", "gh-1", 3)]) == ("disabled ci/agent-i-0abc12345def67890#2, ci/gh-1#3")
