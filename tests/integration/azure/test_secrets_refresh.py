"""Credential refresh end to end: the PAT from Secrets Manager (the AWS emulator over HTTP) is cached with a TTL,
and re-read at once when Azure DevOps refuses it, so a rotation takes effect without a redeploy."""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator

import boto3
import pytest

from emulator.aws import AwsEmulator
from emulator.azure_devops import FakeAzureDevOps
from gate import bootstrap
from gate.adapters import secrets
from gate.adapters.azure import AzureDevOps
from gate.domain.clock import ManualClock
from gate.service.sources import AuthError, Deadline, DeadlineExceeded
from gate.settings import Settings, load_settings
from tests.integration.azure.conftest import PAT, api_calls

NEW_PAT = "rotated-pat-aaaabbbbccccddddeeeeffff"


@pytest.fixture
def aws() -> Iterator[tuple[AwsEmulator, object]]:
    emulator = AwsEmulator().start()
    try:
        client = boto3.client("secretsmanager", endpoint_url=emulator.endpoint, region_name="us-east-1")
        yield emulator, client
    finally:
        emulator.stop()
        secrets._cache.clear()


def settings_for(fake: FakeAzureDevOps, arn: str, **extra: object) -> Settings:
    return load_settings(
        azure_org_url=fake.url, pools=["linux"], groups=["g"], hook_name="h", pat_secret_arn=arn, **extra
    )


def test_the_secret_is_cached_for_its_ttl(aws: tuple[AwsEmulator, object], monkeypatch: pytest.MonkeyPatch) -> None:
    emulator, sm = aws
    arn = sm.create_secret(Name="ado-pat", SecretString=json.dumps({"pat": PAT}))["ARN"]  # type: ignore[attr-defined]
    now = [1000.0]
    monkeypatch.setattr("gate.adapters.secrets.time.monotonic", lambda: now[0])
    read = secrets.reader(
        arn, what="the PAT", keys=secrets.PAT_KEYS, session=None, endpoint_url=emulator.endpoint, max_age=300
    )
    assert read(False) == PAT
    sm.put_secret_value(SecretId=arn, SecretString=json.dumps({"pat": NEW_PAT}))  # type: ignore[attr-defined]
    now[0] += 299
    assert read(False) == PAT  # within the TTL: no Secrets Manager call
    now[0] += 2
    assert read(False) == NEW_PAT  # past it: re-read
    sm.put_secret_value(SecretId=arn, SecretString=json.dumps({"pat": PAT}))  # type: ignore[attr-defined]
    assert read(True) == PAT  # forced (after a 401): at once


def test_a_rotated_pat_works_at_the_next_call(aws: tuple[AwsEmulator, object], clock: ManualClock) -> None:
    emulator, sm = aws
    arn = sm.create_secret(Name="ado-pat", SecretString=json.dumps({"pat": PAT}))["ARN"]  # type: ignore[attr-defined]
    with FakeAzureDevOps(clock=clock, pat=PAT) as fake:
        fake.add_pool("linux")
        fake.add_agent("linux", "agent-0")
        settings = settings_for(fake, arn)
        client = AzureDevOps(
            fake.url, bootstrap.azure_credential(settings, None, emulator.endpoint), ["linux"], clock=clock
        )
        assert len(client.list_agents()) == 1
        sm.put_secret_value(SecretId=arn, SecretString=json.dumps({"pat": NEW_PAT}))  # type: ignore[attr-defined]
        fake.set_pat(NEW_PAT)  # the old PAT is revoked at the same moment
        assert len(client.list_agents()) == 1  # one 401, a forced re-read, the retry succeeds
        assert [c["status"] for c in api_calls(fake)][-2:] == [401, 200]


def test_entra_settings_need_the_secret_arn() -> None:
    with pytest.raises(Exception, match="GATE_ENTRA_SECRET_ARN"):
        load_settings(
            azure_org_url="https://dev.azure.com/o", pools=["p"], groups=["g"], hook_name="h", azure_auth="entra"
        )
    ok = load_settings(
        azure_org_url="https://dev.azure.com/o",
        pools=["p"],
        groups=["g"],
        hook_name="h",
        azure_auth="entra",
        entra_secret_arn="arn:aws:secretsmanager:us-east-1:123456789012:secret:gate-sp-AbCdEf",
        azure_api_version="6.0",
    )
    assert ok.pat is None and ok.azure_api_version == "6.0" and ok.secret_cache_seconds == 300
    with pytest.raises(Exception, match="https"):
        load_settings(
            azure_org_url="https://dev.azure.com/o",
            pools=["p"],
            groups=["g"],
            hook_name="h",
            entra_authority_host="http://login.example",
        )


def test_entra_from_settings_end_to_end(
    aws: tuple[AwsEmulator, object], clock: ManualClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """GATE_AZURE_AUTH=entra: the service principal's secret from Secrets Manager, msal against the fake tenant
    (trusted through REQUESTS_CA_BUNDLE, as an operator would trust a private CA), Bearer tokens to Azure DevOps."""
    from tests.support.entra import FakeEntra

    emulator, sm = aws
    with FakeEntra(clock=clock) as entra, FakeAzureDevOps(clock=clock, token_issuer=entra) as fake:
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", entra.ca_file)
        entra.register_client("gate-app", secret="sp-secret-0123456789abcdef")
        value = {"tenant_id": entra.tenant_id, "client_id": "gate-app", "client_secret": "sp-secret-0123456789abcdef"}
        arn = sm.create_secret(Name="gate-sp", SecretString=json.dumps(value))["ARN"]  # type: ignore[attr-defined]
        fake.add_pool("linux")
        fake.add_agent("linux", "agent-0")
        settings = load_settings(
            azure_org_url=fake.url,
            pools=["linux"],
            groups=["g"],
            hook_name="h",
            azure_auth="entra",
            entra_secret_arn=arn,
            entra_authority_host=entra.authority_host,
        )
        credential = bootstrap.azure_credential(settings, None, emulator.endpoint)
        client = AzureDevOps(fake.url, credential, ["linux"], clock=clock)
        assert [a.name for a in client.list_agents()] == ["agent-0"] and entra.tokens_issued() == 1


# -- gate.adapters.secrets.Rotation on its own: versions, refusals, back-off (issue #18)
# -------------------------------------


class Versions:
    """What Secrets Manager holds ([AWSCURRENT, AWSPREVIOUS]), or an error; counts the reads."""

    def __init__(self, *values: str) -> None:
        self.values, self.reads, self.error = list(values), 0, False

    def __call__(self, force: bool) -> list[str]:
        self.reads += 1
        if self.error:
            raise secrets.SecretError("cannot read the PAT from arn:...: AccessDeniedException")
        return list(self.values)


def test_a_refused_version_gives_way_to_the_other_in_either_order(clock: ManualClock) -> None:
    store = Versions("new", "old")  # Secrets Manager updated first: AWSCURRENT not accepted yet
    rotation = secrets.Rotation(store, now=clock.now)
    assert rotation.value() == "new"
    assert rotation.refused("new") and rotation.value() == "old"
    rotation.accepted("old")
    assert rotation.value() == "old"  # keeps what works
    assert rotation.refused("old") and rotation.value() == "new"  # the identity provider switched: AWSCURRENT at once


def test_refusals_back_off_on_the_clock_and_a_new_value_is_taken_within_a_step(clock: ManualClock) -> None:
    store = Versions("old")
    rotation = secrets.Rotation(store, now=clock.now)
    assert rotation.value() == "old"
    presented = []
    for _ in range(600):  # ten minutes, a use every second: the identity provider refuses "old"
        try:
            value = rotation.value()
        except AuthError:
            pass
        else:
            presented.append(clock.now())
            rotation.refused(value)
        clock.advance(1)
    assert len(presented) <= 7  # at 0, 10, 30, 70, 150, 310 s after the first refusal: one per step
    assert all(b - a >= 10 for a, b in itertools.pairwise(presented))
    store.values = ["new", "old"]  # Secrets Manager catches up
    for _ in range(301):
        try:
            if rotation.value() == "new":
                break
        except AuthError:
            pass
        clock.advance(1)
    assert rotation.value() == "new"


def test_an_unreadable_secret_is_retried_at_least_once_a_minute_and_a_known_value_kept(clock: ManualClock) -> None:
    store = Versions("pat")
    store.error = True
    rotation = secrets.Rotation(store, now=clock.now, max_age=300)
    reads = []
    for _ in range(600):
        before = store.reads
        with pytest.raises(AuthError, match="AccessDeniedException"):
            rotation.value()
        if store.reads > before:
            reads.append(clock.now())
        clock.advance(1)
    assert all(b - a <= 60 for a, b in itertools.pairwise(reads)) and len(reads) >= 10
    store.error = False
    clock.advance(60)
    assert rotation.value() == "pat"
    store.error = True  # the TTL re-read fails later: the value read earlier is still presented
    clock.advance(301)
    assert rotation.value() == "pat"


def test_no_secret_read_starts_past_the_invocations_deadline(clock: ManualClock) -> None:
    store = Versions("pat")
    rotation = secrets.Rotation(store, now=clock.now)
    deadline = Deadline(clock.now)
    rotation.deadline = deadline
    deadline.set(clock.now() - 1)
    with pytest.raises(DeadlineExceeded):
        rotation.value()
    assert store.reads == 0
    deadline.set(clock.now() + 30)
    assert rotation.value() == "pat" and store.reads == 1
