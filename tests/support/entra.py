"""A fake Microsoft Entra tenant: OpenID discovery and the OAuth 2.0 client-credentials token endpoint, over https
on 127.0.0.1 with a throw-away self-signed certificate (msal refuses plain http authorities).

Enough of the real endpoint for Microsoft's `msal` library: `GET /{tenant}/v2.0/.well-known/openid-configuration`
and `POST /{tenant}/oauth2/v2.0/token` with `client_secret` or a signed `client_assertion` (certificate), errors in
Entra's JSON shape (`error`, `error_description` with its AADSTS code, `error_codes`). Tokens are opaque, expire on
the injected clock, and the fake Azure DevOps accepts them (`FakeAzureDevOps(token_issuer=...)`).
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import secrets
import tempfile
import threading
from pathlib import Path
from typing import Any

import jwt
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from werkzeug.wrappers import Request, Response

from emulator.httpserver import LocalServer
from gate.adapters.entra import AZURE_DEVOPS_SCOPE
from gate.domain.clock import Clock, SystemClock

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


def self_signed(common_name: str = "127.0.0.1") -> tuple[str, str]:
    """(certificate PEM, private key PEM) for a 2048-bit RSA key; the IP in the SAN so TLS verification passes."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = dt.datetime.now(dt.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
    )
    try:
        san: x509.GeneralName = x509.IPAddress(ipaddress.ip_address(common_name))
    except ValueError:
        san = x509.DNSName(common_name)
    cert = builder.add_extension(x509.SubjectAlternativeName([san]), critical=False).sign(key, hashes.SHA256())
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    return cert.public_bytes(serialization.Encoding.PEM).decode(), key_pem


class FakeEntra(LocalServer):
    """One tenant; clients registered with a secret or a certificate. `ca_file` is the certificate to trust."""

    thread_name = "fake-entra"
    record_query = False  # the call log keeps no query

    def __init__(self, clock: Clock | None = None, tenant_id: str = "11111111-2222-3333-4444-555555555555") -> None:
        self.clock: Clock = clock or SystemClock()
        self.tenant_id = tenant_id
        self.token_lifetime = 3600
        self.calls: list[dict[str, Any]] = []
        self._lock = threading.RLock()
        self._clients: dict[str, dict[str, Any]] = {}
        self._tokens: dict[str, tuple[str, float]] = {}  # token -> (client id, expires at)
        self._dir = tempfile.TemporaryDirectory(prefix="fake-entra-")
        cert, key = self_signed()
        self.ca_file = str(Path(self._dir.name) / "cert.pem")
        Path(self.ca_file).write_text(cert)
        (Path(self._dir.name) / "key.pem").write_text(key)
        self.ssl_context = (self.ca_file, str(Path(self._dir.name) / "key.pem"))
        self.authority_host = ""

    def _on_started(self, port: int) -> None:
        self.authority_host = f"https://127.0.0.1:{port}"

    def stop(self) -> None:
        super().stop()
        self._dir.cleanup()

    # -- scripting ---------------------------------------------------------------------------------------------
    def register_client(self, client_id: str, *, secret: str | None = None, certificate: str | None = None) -> None:
        """Add (or re-key: rotation) a service principal; the old secret or certificate stops working."""
        with self._lock:
            public_key = x509.load_pem_x509_certificate(certificate.encode()).public_key() if certificate else None
            self._clients[client_id] = {"secret": secret, "public_key": public_key}

    def revoke_tokens(self) -> None:
        with self._lock:
            self._tokens.clear()

    def valid(self, token: str) -> bool:
        """For the fake Azure DevOps: an unexpired token this tenant issued."""
        with self._lock:
            issued = self._tokens.get(token)
            return issued is not None and self.clock.now() < issued[1]

    def tokens_issued(self) -> int:
        return sum(1 for c in self.calls if c["path"].endswith("/token") and c["status"] == 200)

    # -- HTTP ----------------------------------------------------------------------------------------------------
    def _serve(self, request: Request) -> Response:
        base = f"{self.authority_host}/{self.tenant_id}"
        if request.method == "GET" and request.path == f"/{self.tenant_id}/v2.0/.well-known/openid-configuration":
            return self._json(
                {
                    "issuer": f"{base}/v2.0",
                    "authorization_endpoint": f"{base}/oauth2/v2.0/authorize",
                    "token_endpoint": f"{base}/oauth2/v2.0/token",
                    "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt"],
                    "response_types_supported": ["code", "id_token", "token"],
                }
            )
        if request.method == "POST" and request.path == f"/{self.tenant_id}/oauth2/v2.0/token":
            return self._token(request, f"{base}/oauth2/v2.0/token")
        return self._error(404, "invalid_request", "AADSTS90002", f"Tenant or path {request.path} not found.")

    def _token(self, request: Request, endpoint: str) -> Response:
        form = request.form
        if form.get("grant_type") != "client_credentials":
            return self._error(400, "unsupported_grant_type", "AADSTS70003", "Only client_credentials is served.")
        client_id = form.get("client_id", "")
        with self._lock:
            client = self._clients.get(client_id)
        if client is None:
            return self._error(400, "unauthorized_client", "AADSTS700016", f"Application {client_id} not found.")
        if set(form.get("scope", "").split()) - {"offline_access", "openid", "profile"} != {AZURE_DEVOPS_SCOPE}:
            return self._error(400, "invalid_scope", "AADSTS70011", "The provided scope is not the Azure DevOps one.")
        if not self._authenticated(client, client_id, form, endpoint):
            return self._error(401, "invalid_client", "AADSTS7000215", "Invalid client secret or assertion provided.")
        token = secrets.token_urlsafe(32)
        with self._lock:
            self._tokens[token] = (client_id, self.clock.now() + self.token_lifetime)
        return self._json({"token_type": "Bearer", "expires_in": self.token_lifetime, "access_token": token})

    @staticmethod
    def _authenticated(client: dict[str, Any], client_id: str, form: Any, endpoint: str) -> bool:
        if form.get("client_secret") is not None:
            return client["secret"] is not None and secrets.compare_digest(form["client_secret"], client["secret"])
        if form.get("client_assertion_type") == ASSERTION_TYPE and client["public_key"] is not None:
            try:
                claims = jwt.decode(
                    form.get("client_assertion", ""),
                    client["public_key"],
                    algorithms=["RS256", "PS256"],
                    audience=endpoint,
                )
            except jwt.PyJWTError:
                return False
            return bool(claims.get("iss") == client_id and claims.get("sub") == client_id)
        return False

    def _error(self, status: int, error: str, code: str, text: str) -> Response:
        number = int(code.removeprefix("AADSTS"))
        body = {"error": error, "error_description": f"{code}: {text}", "error_codes": [number]}
        return self._json(body, status)

    @staticmethod
    def _json(body: Any, status: int = 200) -> Response:
        import json

        return Response(json.dumps(body), status=status, content_type="application/json; charset=utf-8")
