"""Credentials (the Azure DevOps PAT or Entra service principal, a GitHub token): from Secrets Manager or SSM
SecureString by ARN, registered with the redactor before anything can log them.

Cached per container for `max_age` seconds (GATE_SECRET_CACHE_SECONDS, minutes) and re-read at once when the
service refuses the credential (`force=True` after a 401/203), so a rotation takes effect without a redeploy.
Why not AWS Lambda Powertools' Parameters utility, which does the same TTL caching: it would be a second large
dependency for ~15 lines, and the gate needs what it does not give in one call: the ARN-based service choice
(Secrets Manager or SSM), the emulator endpoint, errors that name the ARN and never the value, and redaction
registration of every value read (README, "Dependencies").
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from typing import Any

from pydantic import SecretStr

from gate.redact import register_secret
from gate.settings import Settings

_cache: dict[str, tuple[str, float]] = {}  # ARN -> (value, monotonic time read)
_lock = threading.Lock()
PAT_KEYS = ("pat", "PAT", "token", "azure_devops_pat")
DEFAULT_MAX_AGE = 300.0


class SecretError(RuntimeError):
    pass


def _extract(value: str, what: str, keys: tuple[str, ...]) -> str:
    """A secret may be the bare value or JSON such as {"pat": "..."} (the console's key/value form)."""
    value = value.strip()
    if value.startswith("{") and keys:
        try:
            data = json.loads(value)
        except ValueError:
            return value
        for key in keys:
            if isinstance(data, dict) and isinstance(data.get(key), str):
                return str(data[key]).strip()
        raise SecretError(f"{what} secret JSON has no '{keys[0]}' key")
    return value


def inline(value: SecretStr) -> str:
    """A secret given directly (local use): still registered, so it is redacted like one read by ARN."""
    secret = value.get_secret_value()
    register_secret(secret)
    return secret


def _fetch(arn: str, what: str, session: Any, endpoint_url: str | None) -> str:
    import boto3

    session = session or boto3.session.Session()
    service, region = arn.split(":")[2], arn.split(":")[3] or None
    kwargs: dict[str, Any] = {"region_name": region} if region else {}
    if endpoint_url:
        kwargs["endpoint_url"] = endpoint_url
    try:
        if service == "secretsmanager":
            return str(session.client("secretsmanager", **kwargs).get_secret_value(SecretId=arn)["SecretString"])
        name = arn.split(":parameter", 1)[1]
        resp = session.client("ssm", **kwargs).get_parameter(Name=name, WithDecryption=True)
        return str(resp["Parameter"]["Value"])
    except Exception as exc:
        raise SecretError(f"cannot read {what} from {arn}: {type(exc).__name__}") from None


def read_secret(
    arn: str,
    *,
    what: str,
    keys: tuple[str, ...],
    session: Any = None,
    endpoint_url: str | None = None,
    max_age: float = DEFAULT_MAX_AGE,
    force: bool = False,
) -> str:
    """Read a Secrets Manager secret or SSM parameter by ARN (cached for `max_age` s unless `force`).

    Errors name the ARN, never the value. `keys` picks a field of a JSON secret; () keeps the whole text.
    """
    with _lock:
        cached = _cache.get(arn)
        if cached is not None and not force and time.monotonic() - cached[1] < max_age:
            return cached[0]
        secret = _extract(_fetch(arn, what, session, endpoint_url), what, keys)
        if not secret:
            raise SecretError(f"{what} secret {arn} is empty")
        register_secret(secret)
        _cache[arn] = (secret, time.monotonic())
        return secret


def reader(
    arn: str, *, what: str, keys: tuple[str, ...], session: Any, endpoint_url: str | None, max_age: float
) -> Callable[[bool], str]:
    """read(force) for a credential: the cached value, or a fresh one when the service refused it."""

    def read(force: bool) -> str:
        return read_secret(
            arn, what=what, keys=keys, session=session, endpoint_url=endpoint_url, max_age=max_age, force=force
        )

    return read


def load_pat(settings: Settings, session: Any = None, endpoint_url: str | None = None) -> str:
    """The PAT's value (inline or by ARN, cached): for callers that need the text (gate doctor)."""
    if settings.pat is not None:
        return inline(settings.pat)
    assert settings.pat_secret_arn is not None  # settings validation guarantees one source
    return read_secret(
        settings.pat_secret_arn,
        what="the PAT",
        keys=PAT_KEYS,
        session=session,
        endpoint_url=endpoint_url,
        max_age=settings.secret_cache_seconds,
    )


def azure_credential(settings: Settings, session: Any = None, endpoint_url: str | None = None) -> Any:
    """The Azure DevOps credential the settings name, as a `gate.azure.Credential`: a PAT (re-read from its secret
    after the TTL or a 401/203) or a Microsoft Entra service principal."""
    from gate.azure import PatCredential

    max_age = settings.secret_cache_seconds
    if settings.azure_auth == "entra":
        from gate.entra import EntraCredential

        assert settings.entra_secret_arn is not None  # settings validation guarantees it
        read = reader(
            settings.entra_secret_arn,
            what="the Entra service principal",
            keys=(),
            session=session,
            endpoint_url=endpoint_url,
            max_age=max_age,
        )
        return EntraCredential(read, authority_host=settings.entra_authority_host)
    if settings.pat is not None:
        return PatCredential.static(inline(settings.pat))
    assert settings.pat_secret_arn is not None  # settings validation guarantees one source
    read = reader(
        settings.pat_secret_arn,
        what="the PAT",
        keys=PAT_KEYS,
        session=session,
        endpoint_url=endpoint_url,
        max_age=max_age,
    )
    read(False)  # fail at start-up, as before, when the secret cannot be read
    return PatCredential(read)
