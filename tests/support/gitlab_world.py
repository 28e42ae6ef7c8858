"""The live local world with GitLab as the agent system: a ManualClock, the AWS emulator, the fake GitLab over HTTP
(emulator.gitlab) with a runner per instance named after it (`ci-<instance>`, GATE_MAPPING=name), and the real gate.
The safety and judgment tests that apply to every source run here for GitLab (docs/gitlab.md)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pytest
from moto.ec2.models.amis import AMIS

from emulator.gitlab import FakeGitLab
from emulator.sandbox import Sandbox
from gate.domain.clock import Clock, ManualClock
from gate.service.triggers import Gate
from tests.support.world import FAST, World

if TYPE_CHECKING:
    from werkzeug.wrappers import Request, Response

    from emulator.gitlab import _Runner

TOKEN = "glpat-fakegitlabtoken-safety-0123456789"


class OffsetClock:
    """GitLab's clock: the world's plus a fixed offset (its clock skew against AWS and the gate)."""

    def __init__(self, base: Clock, offset: float) -> None:
        self.base, self.offset = base, offset

    def now(self) -> float:
        return self.base.now() + self.offset

    def sleep(self, seconds: float) -> None:
        self.base.sleep(seconds)


class HookedGitLab(FakeGitLab):
    """The fake GitLab with one more script point: `after_jobs` is called with the runner id right after GitLab
    answered a runner's job list (the last evidence the gate asks for before a release)."""

    after_jobs: Callable[[int], None] | None = None

    def _runner_jobs(self, request: Request, runner: _Runner) -> Response:
        response = super()._runner_jobs(request, runner)
        if self.after_jobs is not None:
            self.after_jobs(runner.id)
        return response


@dataclass
class GitLabWorld(World):
    gitlab: HookedGitLab
    runners: dict[str, int]  # instance id -> its runner

    def gate(self, **overrides: Any) -> Gate:
        settings = {
            **FAST,
            "agent_system": "gitlab",
            "gitlab_url": self.gitlab.url,
            "gitlab_token": TOKEN,
            **overrides,
        }
        return self.sb.gate(self.sb.settings(**settings))

    def runner(self, instance_id: str) -> dict[str, Any]:
        return self.gitlab.runner(self.runners[instance_id])

    def writes(self, runner_id: int) -> list[dict[str, Any]]:
        """The gate's PUT (pause) and DELETE calls on a runner."""
        path = f"/api/v4/runners/{runner_id}"
        return [c for c in self.gitlab.calls if c["method"] in ("PUT", "DELETE") and c["path"] == path]


@contextmanager
def gitlab_world(size: int = 3, offset: float = 0.0) -> Iterator[GitLabWorld]:
    """`offset`: GitLab's clock runs this many seconds ahead of AWS and the gate (negative: behind)."""
    clock = ManualClock()
    fake_clock: Clock = OffsetClock(clock, offset) if offset else clock
    with Sandbox(clock) as sb, HookedGitLab(clock=fake_clock, token=TOKEN) as fake:
        group = sb.create_group("ci-agents", size, heartbeat_timeout=300, agents=False, image_id=AMIS[0]["ami_id"])
        resp = sb.client("ec2").describe_instances(InstanceIds=list(group.instances))
        ips = {i["InstanceId"]: i["PrivateIpAddress"] for r in resp["Reservations"] for i in r["Instances"]}
        runners = {}
        for iid in group.instances:
            runners[iid] = fake.add_runner(f"ci-{iid}", tags=["docker"])
            fake.add_manager(runners[iid], ips[iid])
        yield GitLabWorld(sb, clock, group, fake, runners)


@pytest.fixture
def glworld() -> Iterator[GitLabWorld]:
    with gitlab_world() as world:
        yield world
