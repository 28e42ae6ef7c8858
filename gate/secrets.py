"""The Azure DevOps PAT: from Secrets Manager or SSM SecureString by ARN, fetched once per container."""

from __future__ import annotations

import json
import threading
from typing import Any

from gate.redact import register_secret
from gate.settings import Settings

_cache: dict[str, str] = {}
_lock = threading.Lock()


class SecretError(RuntimeError):
    pass


def _extract(value: str) -> str:
    """A secret may be the bare PAT or JSON such as {"pat": "..."} (the console's key/value form)."""
    value = value.strip()
    if value.startswith("{"):
        try:
            data = json.loads(value)
        except ValueError:
            return value
        for key in ("pat", "PAT", "token", "azure_devops_pat"):
            if isinstance(data, dict) and isinstance(data.get(key), str):
                return str(data[key]).strip()
        raise SecretError("secret JSON has no 'pat' key")
    return value


def load_pat(settings: Settings, session: Any = None, endpoint_url: str | None = None) -> str:
    if settings.pat is not None:
        pat = settings.pat.get_secret_value()
        register_secret(pat)
        return pat
    arn = settings.pat_secret_arn
    assert arn is not None  # settings validation guarantees one source
    with _lock:
        if arn in _cache:
            return _cache[arn]
        import boto3

        session = session or boto3.session.Session()
        service = arn.split(":")[2]
        region = arn.split(":")[3] or None
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
        except Exception as exc:  # the message never contains the value, only the ARN
            raise SecretError(f"cannot read the PAT from {arn}: {type(exc).__name__}") from None
        pat = _extract(raw)
        if not pat:
            raise SecretError(f"the PAT secret {arn} is empty")
        register_secret(pat)
        _cache[arn] = pat
        return pat
