"""Microsoft Entra service principal sign-in for Azure DevOps, as an alternative to a PAT (docs/azure-devops.md).

Client credentials (a client secret, or a certificate) come from one Secrets Manager secret; Microsoft's `msal`
library gets and caches the access token for the Azure DevOps resource until it expires. After a 401/203 the
secret is re-read at once and the token cache dropped, so a rotation takes effect without a redeploy.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from typing import Any

import requests

from gate.redact import register_secret
from gate.sources import AuthError

# The Azure DevOps resource (application id) every Entra token for Azure DevOps is issued for.
AZURE_DEVOPS_RESOURCE = "499b84ac-1321-427f-aa17-267ca6975798"
AZURE_DEVOPS_SCOPE = f"{AZURE_DEVOPS_RESOURCE}/.default"
DEFAULT_AUTHORITY_HOST = "https://login.microsoftonline.com"


class _BoundedSession(requests.Session):
    """msal's HTTP client with a timeout on every call (msal sets none of its own)."""

    def __init__(self, timeout: float) -> None:
        super().__init__()
        self.timeout = timeout

    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any) -> requests.Response:
        kwargs.setdefault("timeout", self.timeout)
        return super().request(method, url, *args, **kwargs)


class EntraConfig:
    """The service principal as stored in the secret: JSON with tenant_id, client_id and either client_secret or
    certificate (PEM with the private key and the certificate; an optional passphrase)."""

    def __init__(self, raw: str) -> None:
        try:
            data = json.loads(raw)
        except ValueError:
            raise AuthError(
                "the Entra secret is not JSON (tenant_id, client_id, client_secret or certificate)"
            ) from None
        if not isinstance(data, dict):
            raise AuthError("the Entra secret must be a JSON object")
        missing = [k for k in ("tenant_id", "client_id") if not isinstance(data.get(k), str) or not data[k]]
        if missing or not (data.get("client_secret") or data.get("certificate")):
            raise AuthError(
                "the Entra secret needs tenant_id, client_id and client_secret or certificate"
                + (f" (missing {', '.join(missing)})" if missing else "")
            )
        self.tenant_id: str = data["tenant_id"]
        self.client_id: str = data["client_id"]
        self.client_secret: str | None = data.get("client_secret") or None
        self.certificate: str | None = data.get("certificate") or None
        self.passphrase: str | None = data.get("passphrase") or None
        for secret in (self.client_secret, self.certificate, self.passphrase):
            if secret:
                register_secret(secret)

    def credential(self) -> str | dict[str, str]:
        """What msal takes as `client_credential`."""
        if self.client_secret:
            return self.client_secret
        assert self.certificate is not None
        cert = self.certificate
        start = cert.find("-----BEGIN CERTIFICATE-----")
        if start < 0 or "PRIVATE KEY-----" not in cert:
            raise AuthError("the Entra certificate must be PEM with both the private key and the certificate")
        out = {"private_key": cert, "public_certificate": cert[start:]}  # msal derives the SHA-256 thumbprint
        if self.passphrase:
            out["passphrase"] = self.passphrase
        return out

    def same_as(self, other: EntraConfig) -> bool:
        return (self.tenant_id, self.client_id, self.client_secret, self.certificate) == (
            other.tenant_id,
            other.client_id,
            other.client_secret,
            other.certificate,
        )


class EntraCredential:
    """`Authorization: Bearer <token>` for Azure DevOps; implements gate.azure.Credential.

    `read(force)` returns the secret's text (cached by gate.secrets; force re-reads it). `authority_host` is
    Microsoft's (or a sovereign cloud's, or a local test endpoint's); `http_client` is the session msal uses.
    """

    def __init__(
        self,
        read: Callable[[bool], str],
        *,
        authority_host: str = DEFAULT_AUTHORITY_HOST,
        http_client: Any = None,
        timeout: float = 10.0,
    ) -> None:
        self._read = read
        self.authority_host = authority_host.rstrip("/")
        self._http_client = http_client if http_client is not None else _BoundedSession(timeout)
        self._lock = threading.Lock()
        self._config: EntraConfig | None = None
        self._app: Any = None
        self.tokens_requested = 0

    def _application(self, config: EntraConfig) -> Any:
        import msal  # type: ignore[import-untyped]  # imported on first use: PAT deployments never load it

        return msal.ConfidentialClientApplication(
            config.client_id,
            client_credential=config.credential(),
            authority=f"{self.authority_host}/{config.tenant_id}",
            # Instance discovery asks login.microsoftonline.com whether the host is Microsoft's: only for hosts
            # other than Microsoft's public cloud is it turned off (sovereign clouds, a test endpoint).
            instance_discovery=None if self.authority_host == DEFAULT_AUTHORITY_HOST else False,
            http_client=self._http_client,
            token_cache=None,  # msal's in-memory cache: the token is reused until shortly before it expires
        )

    def _ensure(self, force: bool) -> Any:
        config = EntraConfig(self._read(force))
        if self._app is None or self._config is None or not config.same_as(self._config):
            self._config, self._app = config, self._application(config)
        return self._app

    def authorization(self) -> str:
        with self._lock:
            app = self._ensure(False) if self._app is None else self._app
            try:
                result = app.acquire_token_for_client(scopes=[AZURE_DEVOPS_SCOPE])
            except (ValueError, OSError) as exc:  # unreachable authority, bad discovery document
                raise AuthError(f"Microsoft Entra sign-in failed: {type(exc).__name__}: {exc}") from None
            token = result.get("access_token") if isinstance(result, dict) else None
            if not token:
                error = result.get("error", "unknown") if isinstance(result, dict) else "unknown"
                codes = result.get("error_codes", []) if isinstance(result, dict) else []
                raise AuthError(f"Microsoft Entra refused the service principal: {error} {codes}".strip())
            if result.get("token_source") != "cache":
                self.tokens_requested += 1
            register_secret(token)
            return f"Bearer {token}"

    def refresh(self) -> bool:
        """After a 401/203: re-read the secret and start from an empty token cache (a new client)."""
        with self._lock:
            config = EntraConfig(self._read(True))
            self._config, self._app = config, self._application(config)
            return True
