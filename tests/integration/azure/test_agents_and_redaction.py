"""Agent identity lookups, the `assignedRequest` field as evidence, and redaction before truncation."""

from __future__ import annotations

import base64

import pytest

from emulator.azure_devops import FakeAzureDevOps
from gate.domain.clock import ManualClock
from gate.domain.redact import redact, register_secret
from gate.service.sources import AgentSourceError
from tests.integration.azure.conftest import PAT, make_client


def test_get_agents_asks_each_agent_and_maps_404_to_none(fake: FakeAzureDevOps, clock: ManualClock) -> None:
    client = make_client(fake, clock)
    pool = client.pool_id("linux")
    busy = fake.start_build(1, 600)
    fake.remove_agent(2)
    found = client.get_agents(pool, [1, 2, 99])
    assert found[2] is None and found[99] is None
    agent = found[1]
    assert agent is not None and agent.assigned_request == busy and agent.assigned_known and agent.pool == "linux"
    assert agent.capabilities["AWS_INSTANCE_ID"] == "i-0"
    with pytest.raises(AgentSourceError, match="TaskAgentPoolNotFoundException"):
        client.get_agents(42, [1])  # a missing pool is an error, never "the agent is gone"


def test_a_record_without_assigned_request_is_not_known_idle(fake: FakeAzureDevOps, clock: ManualClock) -> None:
    fake.start_build(1, 600)
    client = make_client(fake, clock)
    by_id = {a.id: a for a in client.list_agents()}
    assert by_id[1].busy and by_id[1].assigned_known
    assert not by_id[2].busy and not by_id[2].assigned_known  # the service omits the field for idle agents too
    fake.inject("no_assigned_request", count=None, path_contains="/agents")
    hidden = {a.id: a for a in client.list_agents()}[1]
    assert not hidden.busy and not hidden.assigned_known  # busy but the field is missing: unknown, not idle


def test_error_bodies_are_redacted_before_they_are_cut() -> None:
    pat = "k3x9q2mzv7w4r8t1y6u5i0o3p2a1s4d7f8g9h0j2k5l6z7x8c9v0"
    register_secret(pat)
    header = base64.b64encode(f":{pat}".encode()).decode()
    body = "x" * 190 + pat + " Authorization: Basic " + header
    cut_first = body[:200]
    assert pat[:10] in cut_first and "***" not in redact(cut_first)  # cutting first leaks a prefix
    assert pat[:10] not in redact(body)[:200]


@pytest.mark.parametrize("user", ["", "u", "ab", "someone@example.com", "Basic-user-of-any-length"])
def test_basic_auth_base64_is_masked_for_any_user_name(user: str) -> None:
    pat = "z0x9c8v7b6n5m4l3k2j1h0g9f8d7s6a5p4o3i2u1y0t9r8e7w6q5"
    register_secret(pat)
    encoded = base64.b64encode(f"{user}:{pat}".encode()).decode()
    text = redact(f"header was Basic {encoded} end")
    assert "***" in text
    remains = text.replace("header was Basic ", "").replace(" end", "")
    for i in range(len(pat) - 8):  # no 8 consecutive characters of the PAT's base64 survive in any alignment
        for offset in range(3):
            chunk = base64.b64encode(b"\0" * offset + pat.encode()).decode()[4:][i : i + 8]
            assert len(chunk) < 8 or chunk not in remains


def test_the_client_error_text_never_carries_the_pat(fake: FakeAzureDevOps, clock: ManualClock) -> None:
    with pytest.raises(AgentSourceError) as err:
        make_client(fake, clock, credential="wrong-" + PAT).list_agents()
    assert PAT not in str(err.value)
