"""Credential rotation in either order (issue #18, class 2): any authentication failure re-reads the credential,
whoever refused it (Microsoft Entra's token endpoint, Azure DevOps' 401), bounded and with back-off on the gate's
clock; the secret's AWSCURRENT and AWSPREVIOUS versions are both read and a refused one gives way to the other.

Four worlds, each through the real handler (`gate.handler.handle`) against the AWS emulator's Secrets Manager, the
fake Azure DevOps and (for the service principal) the fake Entra tenant, all on one ManualClock:

- identity provider first: Azure DevOps (or Entra) refuses the old value minutes before Secrets Manager holds the new
  one. The gate holds (heartbeats, fail safe), asks the refusing party at most once per secret version per back-off
  step (10, 20, 40, 80, 160, then every 300 s), and picks the new value up within a step of its arrival;
- secret store first: Secrets Manager holds a new value the identity provider does not accept yet (AWSCURRENT new,
  AWSPREVIOUS old). A container started then falls back to AWSPREVIOUS and keeps releasing; when the identity
  provider switches, the refused old value gives way to AWSCURRENT.

Each ends with every busy instance released after its build ended and its agent deleted (verdict from the emulator's
lifecycle history and the fake Azure DevOps' agents), and no secret value in any line the gate logged.

Before the fix: with Entra, a warm container never re-read the secret once Entra refused the token request (no
Azure DevOps request, so no 401 to trigger it): hundreds of refused token requests, the hold forced at max hold. A
container started in the "secret store first" window read only AWSCURRENT and held until the identity provider
switched. A PAT refused by Azure DevOps was re-read on every request: one 401 per request, unbounded.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest

from gate.adapters import github
from gate.adapters.github import GitHubRunners
from gate.service.sources import AuthError
from gate.settings import load_settings
from tests.functional.safety.lambda_env import LambdaEnv, lambda_env
from tests.support.entra import FakeEntra
from tests.support.github import FakeGitHub
from tests.support.world import World

__all__ = ["lambda_env"]

OLD = "old-credential-value-0a1b2c3d4e5f6071"
NEW = "new-credential-value-9f8e7d6c5b4a3921"
CLIENT_ID = "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee"
STEPS = (10, 20, 40, 80, 160, 300)  # gate.adapters.secrets.Rotation's back-off between re-reads after a refusal


def refusal_bound(gap: float, versions: int) -> int:
    """At most one refused request per secret version per back-off step: the first at once, then one after each
    step (10, 20, 40, 80, 160, 300, 300, ... s) that ends within `gap`, plus one for a round cut at the edge."""
    attempts, elapsed, i = 1, 0.0, 0
    while True:
        step = STEPS[min(i, len(STEPS) - 1)]
        if elapsed + step > gap:
            return versions * (attempts + 1)
        elapsed, attempts, i = elapsed + step, attempts + 1, i + 1


@dataclass
class Credential:
    """One kind of credential: how the secret holds a value, how the identity provider is switched, what it refused."""

    kind: str
    secret: Callable[[str], str]
    accept_only: Callable[[str], None]
    refused: Callable[[], int]
    settings: dict[str, str]


@pytest.fixture(params=["pat", "entra"])
def credential(
    request: pytest.FixtureRequest, world: World, lambda_env: LambdaEnv, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Credential]:
    ado = world.ado
    if request.param == "pat":
        ado.set_pat(OLD)
        yield Credential(
            "pat",
            lambda value: json.dumps({"pat": value}),
            ado.set_pat,
            lambda: sum(1 for c in ado.calls if "/_apis/" in c["path"] and c["status"] in (401, 203)),
            {},
        )
        return
    with FakeEntra(clock=world.clock) as entra:
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", entra.ca_file)  # trust the fake tenant, as a private CA
        entra.register_client(CLIENT_ID, secret=OLD)
        ado.token_issuer = entra
        ado.set_pat(None)  # only Entra tokens are accepted

        def accept_only(value: str) -> None:
            entra.register_client(CLIENT_ID, secret=value)  # the other secret stops working at once
            entra.revoke_tokens()

        def secret(value: str) -> str:
            return json.dumps({"tenant_id": entra.tenant_id, "client_id": CLIENT_ID, "client_secret": value})

        def refused() -> int:
            return sum(1 for c in entra.calls if c["path"].endswith("/token") and c["status"] != 200)

        settings = {"azure_auth": "entra", "entra_authority_host": entra.authority_host}
        yield Credential("entra", secret, accept_only, refused, settings)


def _start(world: World, env: LambdaEnv, cred: Credential, victims: int) -> tuple[str, list[str]]:
    sm = world.sb.client("secretsmanager")
    arn = str(sm.create_secret(Name="gate-credential", SecretString=cred.secret(OLD))["ARN"])
    key = "entra_secret_arn" if cred.kind == "entra" else "pat_secret_arn"
    env.configure(**{key: arn}, **cred.settings)
    waiting = world.scale_in(3 - victims)
    assert len(waiting) == victims
    return arn, waiting


def _put(world: World, arn: str, value: str) -> None:
    """A new AWSCURRENT; the old one becomes AWSPREVIOUS (Secrets Manager's staging)."""
    world.sb.client("secretsmanager").put_secret_value(SecretId=arn, SecretString=value)


def _released_after_build(world: World, iid: str, ended_at: float) -> None:
    [complete] = world.history("complete")[iid]
    assert complete["result"] == "CONTINUE" and complete["time"] >= ended_at
    agent = world.ado.agent(world.group.agents[iid])
    assert agent is not None and agent["deleted"]


def _invariant(world: World, env: LambdaEnv) -> None:
    assert not world.history("timeout")
    assert [b for b in world.ado.builds() if b["result"] == "abandoned"] == []
    text = env.text()
    for value in (OLD, NEW):
        assert value not in text  # nor in any record: the decisions are these lines
    assert all(d["Outcome"] != "forced" for d in env.decisions())


def test_identity_provider_first(world: World, lambda_env: LambdaEnv, credential: Credential) -> None:
    arn, [iid] = _start(world, lambda_env, credential, 1)
    build = world.ado.start_build(world.group.agents[iid], 3600)
    lambda_env.minutes(1)
    assert not world.agent(iid)["enabled"]  # held busy, disabled with the old value

    credential.accept_only(NEW)  # rotated at the identity provider; Secrets Manager still holds the old value
    refused_before, switched = credential.refused(), world.clock.now()
    lambda_env.minutes(10)
    gap = world.clock.now() - switched
    assert not world.history("complete")  # held, fail safe: nothing known about the build
    assert not world.history("timeout")  # and heartbeated throughout
    refused = credential.refused() - refused_before
    assert 1 <= refused <= refusal_bound(gap, versions=1), (refused, refusal_bound(gap, 1))

    _put(world, arn, credential.secret(NEW))  # Secrets Manager catches up
    world.ado.finish_build(build)
    ended = world.clock.now()
    lambda_env.minutes(7)  # within one back-off step (300 s) plus the lag bound and idle confirmation
    _released_after_build(world, iid, ended)
    assert credential.refused() - refused_before <= refusal_bound(world.clock.now() - switched, versions=2)
    _invariant(world, lambda_env)


def test_secret_store_first(world: World, lambda_env: LambdaEnv, credential: Credential) -> None:
    arn, victims = _start(world, lambda_env, credential, 2)
    first, second = (
        world.ado.start_build(world.group.agents[iid], s) for iid, s in zip(victims, (300, 3600), strict=True)
    )
    lambda_env.minutes(1)
    assert all(not world.agent(iid)["enabled"] for iid in victims)

    # Secrets Manager holds a value the identity provider does not accept yet (AWSCURRENT new, AWSPREVIOUS old), and
    # a new container starts in that window: it must fall back to AWSPREVIOUS and keep releasing.
    _put(world, arn, credential.secret(NEW))
    lambda_env.cold()
    refused_before = credential.refused()
    lambda_env.minutes(8)  # the first build ends (300 s after it started)
    ended = world.ado.build(first)["finished_at"]
    assert ended is not None and world.ado.build(second)["finished_at"] is None
    assert set(world.history("complete")) == {victims[0]}, "released while the identity provider takes only OLD"
    _released_after_build(world, victims[0], ended)

    # The identity provider switches: the refused old value gives way to AWSCURRENT at once.
    credential.accept_only(NEW)
    world.ado.finish_build(second)
    ended = world.clock.now()
    lambda_env.minutes(3)
    _released_after_build(world, victims[1], ended)
    assert credential.refused() - refused_before <= 4  # NEW once at the start, OLD once after the switch (+ slack)
    _invariant(world, lambda_env)


def test_github_token_rotation_in_either_order(world: World) -> None:
    """The GitHub runners source reads its token at the first request (never when built), both version stages, and
    re-reads it after GitHub's 401, bounded: the same rule as Azure DevOps and Entra."""
    sm = world.sb.client("secretsmanager")
    arn = str(sm.create_secret(Name="gate-github-token", SecretString=json.dumps({"token": OLD}))["ARN"])
    with FakeGitHub(clock=world.clock, token=OLD) as gh:
        gh.add_runner("ci-1", org="acme")
        settings = load_settings(
            agent_system="github",
            github_api_url=gh.url,
            github_org="acme",
            github_token_secret_arn=arn,
            groups="g",
            hook_name="h",
        )

        def container() -> GitHubRunners:
            world.emu.faults.calls.clear()
            source = github.build(settings, world.sb.session, world.sb.aws_endpoint, world.clock)
            assert "GetSecretValue" not in [c["action"] for c in world.emu.faults.calls]  # built, nothing read
            return source

        assert len(container().list_agents()) == 1
        # Secrets Manager first: a new container falls back to AWSPREVIOUS while GitHub refuses AWSCURRENT.
        sm.put_secret_value(SecretId=arn, SecretString=json.dumps({"token": NEW}))
        source = container()
        assert len(source.list_agents()) == 1
        gh.token = NEW  # GitHub switches: the refused old token gives way to AWSCURRENT at once
        assert len(source.list_agents()) == 1
        # GitHub first: refused, held (AuthError) without asking GitHub again until the back-off step has passed.
        gh.token = "newest-credential-value-00112233"
        with pytest.raises(AuthError):
            source.list_agents()
        calls = len(gh.calls)
        with pytest.raises(AuthError):
            source.list_agents()
        assert len(gh.calls) == calls
        sm.put_secret_value(SecretId=arn, SecretString=json.dumps({"token": "newest-credential-value-00112233"}))
        world.clock.advance(10)
        assert len(source.list_agents()) == 1
