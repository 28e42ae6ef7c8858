"""A fake Azure DevOps organisation on 127.0.0.1 and a client for it, both on one ManualClock."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from emulator.azure_devops import FakeAzureDevOps
from gate.adapters.azure import AzureDevOps
from gate.domain.clock import ManualClock

PAT = "pat-for-azure-tests-0a1b2c3d4e5f6a7b8c9d"


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def fake(clock: ManualClock) -> Iterator[FakeAzureDevOps]:
    with FakeAzureDevOps(clock=clock, pat=PAT, page_size=4) as server:
        server.add_pool("linux")
        for i in range(6):
            server.add_agent("linux", f"agent-{i}", capabilities={"AWS_INSTANCE_ID": f"i-{i}"})
        yield server


def make_client(fake: FakeAzureDevOps, clock: ManualClock, **kw: Any) -> AzureDevOps:
    opts: dict[str, Any] = {"backoff": 0.01, "timeout": 2.0, "clock": clock}
    opts.update(kw)
    url = opts.pop("url", fake.url)
    credential = opts.pop("credential", PAT)
    return AzureDevOps(url, credential, ["linux"], **opts)


def api_calls(fake: FakeAzureDevOps, contains: str = "/_apis/") -> list[dict[str, Any]]:
    return [c for c in fake.calls if contains in c["path"]]
