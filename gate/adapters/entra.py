"""Microsoft Entra service principal sign-in for Azure DevOps, as an alternative to a PAT (docs/azure-devops.md).

Client credentials (a client secret, or a certificate) come from one Secrets Manager secret; Microsoft's `msal`
library gets and caches the access token for the Azure DevOps resource until it expires. Any refusal re-reads the
secret (bounded, `gate.adapters.secrets.Rotation`): Entra refusing the token request (the client secret rotated in Entra
before Secrets Manager), and Azure DevOps refusing the token (401/203). The secret's AWSPREVIOUS version is tried
when its AWSCURRENT one is refused and vice versa, so a rotation works in either order.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from typing import Any

import requests

from gate.adapters.neterrors import network_words
from gate.adapters.secrets import Rotation
from gate.domain.redact import register_secret
from gate.service.sources import AuthError, Deadline

# The Azure DevOps resource (application id) every Entra token for Azure DevOps is issued for.
AZURE_DEVOPS_RESOURCE = "499b84ac-1321-427f-aa17-267ca6975798"
AZURE_DEVOPS_SCOPE = f"{AZURE_DEVOPS_RESOURCE}/.default"
DEFAULT_AUTHORITY_HOST = "https://login.microsoftonline.com"
MAX_TRIES = 3  # token requests per authorization: AWSCURRENT, AWSPREVIOUS, and a value put in the meantime


class _BoundedSession(requests.Session):
    """msal's HTTP client with a timeout on every call (msal sets none of its own)."""

    def __init__(self, timeout: float) -> None:
        super().__init__()
        self.timeout = timeout
        self.deadline: Deadline | None = None  # the invocation's: no sign-in call starts past it, none outlasts it

    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any) -> requests.Response:
        timeout = self.deadline.timeout(self.timeout, "Microsoft Entra sign-in") if self.deadline else self.timeout
        kwargs.setdefault("timeout", timeout)
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
    """`Authorization: Bearer <token>` for Azure DevOps; implements gate.adapters.azure.Credential.

    `read` is a `gate.adapters.secrets.Rotation` over the secret's versions, or `read(force)` returning the secret's
    text
    (force re-reads it). `authority_host` is Microsoft's (or a sovereign cloud's, or a local test endpoint's);
    `http_client` is the session msal uses. One msal application (and token cache) per version of the secret.
    """

    def __init__(
        self,
        read: Callable[[bool], str] | Rotation,
        *,
        authority_host: str = DEFAULT_AUTHORITY_HOST,
        http_client: Any = None,
        timeout: float = 10.0,
        now: Callable[[], float] | None = None,
    ) -> None:
        what = "the Entra service principal"
        self.rotation = read if isinstance(read, Rotation) else Rotation(read, what=what, now=now, max_age=None)
        self.authority_host = authority_host.rstrip("/")
        self._http_client = http_client if http_client is not None else _BoundedSession(timeout)
        self._lock = threading.Lock()
        self._apps: dict[str, Any] = {}  # the secret's text (one version) -> its msal application
        self._issued: dict[str, str] = {}  # "Bearer <token>" -> the version it was issued for
        self._good: set[str] = set()  # headers Azure DevOps has accepted
        self.tokens_requested = 0
        self.tokens_refused = 0

    def use_deadline(self, deadline: Deadline) -> None:
        """The agent source's deadline: secret reads and (with the default HTTP client) token requests obey it."""
        self.rotation.deadline = deadline
        if isinstance(self._http_client, _BoundedSession):
            self._http_client.deadline = deadline

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

    def _app(self, raw: str) -> Any:
        if raw not in self._apps:
            if len(self._apps) > 4:
                self._apps.clear()
            self._apps[raw] = self._application(EntraConfig(raw))
        return self._apps[raw]

    def authorization(self) -> str:
        with self._lock:
            for _ in range(MAX_TRIES):  # each refusal marks a version tried; Rotation offers each once per step
                raw = self.rotation.value()  # AuthError when no version may be presented now
                try:
                    result = self._app(raw).acquire_token_for_client(scopes=[AZURE_DEVOPS_SCOPE])
                except AuthError as exc:  # this version is malformed: the other one may not be
                    self._apps.pop(raw, None)
                    if self.rotation.refused(raw):
                        continue
                    raise exc from None
                except (ValueError, OSError) as exc:  # unreachable authority, bad discovery document
                    why = (
                        network_words(exc)
                        if isinstance(exc, requests.RequestException) and not isinstance(exc, ValueError)
                        else f"{type(exc).__name__}: {exc}"
                    )
                    raise AuthError(f"Microsoft Entra sign-in failed: {why}") from None
                token = result.get("access_token") if isinstance(result, dict) else None
                if token:
                    if result.get("token_source") != "cache":
                        self.tokens_requested += 1
                    register_secret(token)
                    header = f"Bearer {token}"
                    if len(self._issued) > 16:
                        self._issued.clear()
                        self._good.clear()
                    self._issued[header] = raw
                    return header
                # Entra refused this version (rotated there before Secrets Manager, or not yet valid there): any
                # authentication failure re-reads the secret, and the other version gets one try.
                self.tokens_requested += 1
                self.tokens_refused += 1
                self._apps.pop(raw, None)
                error = result.get("error", "unknown") if isinstance(result, dict) else "unknown"
                codes = result.get("error_codes", []) if isinstance(result, dict) else []
                if not self.rotation.refused(raw):
                    raise AuthError(f"Microsoft Entra refused the service principal: {error} {codes}".strip())
            raise AuthError(f"Microsoft Entra refused {MAX_TRIES} versions of the service principal's secret in a row")

    def refresh(self, refused: str | None = None) -> bool:
        """Azure DevOps refused a token (401/203). One it accepted before has expired or been revoked: drop the
        token cache and re-read the secret (bounded). One it never accepted: that version is refused (Rotation)."""
        with self._lock:
            raw = self._issued.get(refused) if refused is not None else None
            if raw is None:
                self._apps.clear()
                self.rotation.reread()
                return True
            self._apps.pop(raw, None)
            if refused in self._good:
                self._good.discard(refused)
                self.rotation.reread()
                return True
            return self.rotation.refused(raw)

    def accepted(self, header: str) -> None:
        with self._lock:
            raw = self._issued.get(header)
            if raw is not None and header not in self._good:
                self._good.add(header)
                self.rotation.accepted(raw)
