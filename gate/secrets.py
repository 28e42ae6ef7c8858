"""Credentials (the Azure DevOps PAT, a GitHub token): from Secrets Manager or SSM SecureString by ARN, fetched
once per container and registered with the redactor before anything can log them."""

from __future__ import annotations

import json
import threading
from typing import Any

from pydantic import SecretStr

from gate.redact import register_secret
from gate.settings import Settings

_cache: dict[str, str] = {}
_lock = threading.Lock()
PAT_KEYS = ("pat", "PAT", "token", "azure_devops_pat")


class SecretError(RuntimeError):
    pass


def _extract(value: str, what: str, keys: tuple[str, ...]) -> str:
    """A secret may be the bare value or JSON such as {"pat": "..."} (the console's key/value form)."""
    value = value.strip()
    if value.startswith("{"):
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


def read_secret(
    arn: str, *, what: str, keys: tuple[str, ...], session: Any = None, endpoint_url: str | None = None
) -> str:
    """Read a Secrets Manager secret or SSM parameter by ARN. Errors name the ARN, never the value."""
    with _lock:
        if arn in _cache:
            return _cache[arn]
        import boto3

        session = session or boto3.session.Session()
        service, region = arn.split(":")[2], arn.split(":")[3] or None
        kwargs: dict[str, Any] = {"region_name": region} if region else {}
        if endpoint_url:
            kwargs["endpoint_url"] = endpoint_url
        try:
            if service == "secretsmanager":
                raw = session.client("secretsmanager", **kwargs).get_secret_value(SecretId=arn)["SecretString"]
            else:
                name = arn.split(":parameter", 1)[1]
                resp = session.client("ssm", **kwargs).get_parameter(Name=name, WithDecryption=True)
                raw = resp["Parameter"]["Value"]
        except Exception as exc:
            raise SecretError(f"cannot read {what} from {arn}: {type(exc).__name__}") from None
        secret = _extract(raw, what, keys)
        if not secret:
            raise SecretError(f"{what} secret {arn} is empty")
        register_secret(secret)
        _cache[arn] = secret
        return secret


def load_pat(settings: Settings, session: Any = None, endpoint_url: str | None = None) -> str:
    if settings.pat is not None:
        return inline(settings.pat)
    assert settings.pat_secret_arn is not None  # settings validation guarantees one source
    return read_secret(
        settings.pat_secret_arn, what="the PAT", keys=PAT_KEYS, session=session, endpoint_url=endpoint_url
    )
