"""Microsoft Entra service principal auth end to end over HTTP: msal against a fake tenant (https on 127.0.0.1,
no internet), Bearer tokens accepted by the fake Azure DevOps, token caching, rotation and refusal."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
import requests

from emulator.azure_devops import FakeAzureDevOps
from gate.adapters.entra import EntraCredential
from gate.domain.clock import ManualClock
from gate.service.sources import AuthError
from tests.integration.azure.conftest import api_calls, make_client
from tests.support.entra import FakeEntra, self_signed

CLIENT_ID = "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee"
SECRET = "entra-client-secret-value-0123456789"


@pytest.fixture
def entra(clock: ManualClock) -> Iterator[FakeEntra]:
    with FakeEntra(clock=clock) as tenant:
        yield tenant


@pytest.fixture
def ado(clock: ManualClock, entra: FakeEntra) -> Iterator[FakeAzureDevOps]:
    with FakeAzureDevOps(clock=clock, token_issuer=entra) as fake:  # no PAT: only Entra tokens are accepted
        fake.add_pool("linux")
        fake.add_agent("linux", "agent-0")
        yield fake


class Store:
    """What Secrets Manager holds, and the container's cached copy (re-read when forced)."""

    def __init__(self, value: dict[str, str]) -> None:
        self.value, self.cached, self.reads = value, dict(value), 0

    def read(self, force: bool) -> str:
        if force:
            self.cached, self.reads = dict(self.value), self.reads + 1
        return json.dumps(self.cached)


def credential(entra: FakeEntra, store: Store) -> EntraCredential:
    session = requests.Session()
    session.verify = entra.ca_file  # trust the fake tenant's certificate...
    session.trust_env = False  # ...and not a REQUESTS_CA_BUNDLE from the environment, which would override it
    return EntraCredential(store.read, authority_host=entra.authority_host, http_client=session)


def secret_store(entra: FakeEntra) -> Store:
    entra.register_client(CLIENT_ID, secret=SECRET)
    return Store({"tenant_id": entra.tenant_id, "client_id": CLIENT_ID, "client_secret": SECRET})


def test_a_service_principal_lists_agents_with_a_cached_token(
    entra: FakeEntra, ado: FakeAzureDevOps, clock: ManualClock
) -> None:
    cred = credential(entra, secret_store(entra))
    client = make_client(ado, clock, credential=cred)
    assert [a.name for a in client.list_agents()] == ["agent-0"]
    assert [a.name for a in client.list_agents()] == ["agent-0"]
    assert entra.tokens_issued() == 1 and cred.tokens_requested == 1  # reused until it expires
    assert all(c["status"] == 200 for c in api_calls(ado))


def test_a_certificate_signs_the_client_assertion(entra: FakeEntra, ado: FakeAzureDevOps, clock: ManualClock) -> None:
    cert, key = self_signed("gate-service-principal")
    entra.register_client(CLIENT_ID, certificate=cert)
    store = Store({"tenant_id": entra.tenant_id, "client_id": CLIENT_ID, "certificate": key + cert})
    client = make_client(ado, clock, credential=credential(entra, store))
    assert len(client.list_agents()) == 1 and entra.tokens_issued() == 1


def test_an_expired_token_is_replaced_after_the_401(entra: FakeEntra, ado: FakeAzureDevOps, clock: ManualClock) -> None:
    cred = credential(entra, secret_store(entra))
    client = make_client(ado, clock, credential=cred)
    client.list_agents()
    clock.advance(entra.token_lifetime + 1)  # the service now refuses the token msal still holds
    assert len(client.list_agents()) == 1
    assert [c["status"] for c in api_calls(ado)][-3:] == [200, 401, 200] and entra.tokens_issued() == 2


def test_a_rotated_client_secret_takes_effect_without_a_redeploy(
    entra: FakeEntra, ado: FakeAzureDevOps, clock: ManualClock
) -> None:
    store = secret_store(entra)
    client = make_client(ado, clock, credential=credential(entra, store))
    client.list_agents()
    entra.register_client(CLIENT_ID, secret="the-new-secret-9876543210")  # rotated in Entra...
    entra.revoke_tokens()
    store.value["client_secret"] = "the-new-secret-9876543210"  # ...and in Secrets Manager
    assert len(client.list_agents()) == 1 and store.reads == 1


def test_a_refused_service_principal_is_an_auth_error_without_the_secret(
    entra: FakeEntra, ado: FakeAzureDevOps, clock: ManualClock
) -> None:
    entra.register_client(CLIENT_ID, secret="something-else-entirely")
    store = Store({"tenant_id": entra.tenant_id, "client_id": CLIENT_ID, "client_secret": SECRET})
    with pytest.raises(AuthError, match="invalid_client") as err:
        make_client(ado, clock, credential=credential(entra, store)).list_agents()
    assert SECRET not in str(err.value) and api_calls(ado) == []


def test_a_malformed_secret_names_what_is_missing(entra: FakeEntra, ado: FakeAzureDevOps, clock: ManualClock) -> None:
    store = Store({"tenant_id": entra.tenant_id, "client_secret": SECRET})
    with pytest.raises(AuthError, match="missing client_id"):
        make_client(ado, clock, credential=credential(entra, store)).list_agents()
