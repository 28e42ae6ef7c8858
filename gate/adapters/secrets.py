"""Credentials (the Azure DevOps PAT or Entra service principal, a GitHub token): from Secrets Manager or SSM
SecureString by ARN, registered with the redactor before anything can log them.

Credentials are read on first use, never at start-up (docs/liveness.md, "Liveness before construction"), cached per
container for `max_age` seconds (GATE_SECRET_CACHE_SECONDS) and re-read whenever anyone refuses them: the identity
provider, the agent service or the secret store (`Rotation`). A Secrets Manager secret is read in both its AWSCURRENT
and AWSPREVIOUS versions, and a refused version gives way to the other, so a rotation works in either order:
"secret store updated first" and "identity provider updated first" (docs/azure-devops.md, "Rotation").
Why not AWS Lambda Powertools' Parameters utility, which does the same TTL caching: it would be a second large
dependency for ~15 lines, and the gate needs what it does not give in one call: the ARN-based service choice
(Secrets Manager or SSM), the emulator endpoint, errors that name the ARN and never the value, and redaction
registration of every value read (README, "Dependencies").
"""

from __future__ import annotations

import contextlib
import json
import math
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from pydantic import SecretStr

from gate.domain.errors import Unavailable
from gate.domain.redact import register_secret
from gate.service.sources import AgentSourceError, AuthError, Deadline
from gate.settings import Settings

_cache: dict[str, tuple[str, float]] = {}  # ARN -> (value, monotonic time read)
_lock = threading.Lock()
PAT_KEYS = ("pat", "PAT", "token", "azure_devops_pat")
DEFAULT_MAX_AGE = 300.0
# Re-reads after a refusal: the first at once, then no sooner than 10 s, 20 s, ... 300 s after the previous one.
FIRST_BACKOFF = 10.0
MAX_BACKOFF = 300.0
# An unreadable secret (access denied, KMS key disabled, scheduled for deletion) is retried at least once a minute:
# a read costs nothing at the identity provider, and a fixed store should end the hold soon.
MAX_READ_BACKOFF = 60.0
CURRENT, PREVIOUS = "AWSCURRENT", "AWSPREVIOUS"
# A secret read is one short call: bounded, so an unreachable or slow store cannot eat an invocation.
_CLIENT_CONFIG = {"connect_timeout": 3, "read_timeout": 10, "retries": {"max_attempts": 2, "mode": "standard"}}


class SecretError(Unavailable):
    """The secret could not be read (names the ARN and the AWS error code, never a value): a hold, retried with
    back-off."""


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


def _client(arn: str, session: Any, endpoint_url: str | None) -> Any:
    import boto3
    from botocore.config import Config

    session = session or boto3.session.Session()
    service, region = arn.split(":")[2], arn.split(":")[3] or None
    kwargs: dict[str, Any] = {"region_name": region} if region else {}
    if endpoint_url:
        kwargs["endpoint_url"] = endpoint_url
    return session.client(service, config=Config(**_CLIENT_CONFIG), **kwargs)  # type: ignore[arg-type]


def _error(exc: Exception) -> str:
    """The AWS error code (AccessDeniedException, DecryptionFailure, ...) or the exception type: never its text."""
    response = getattr(exc, "response", None)
    error = response.get("Error") if isinstance(response, dict) else None
    code = error.get("Code") if isinstance(error, dict) else None
    return str(code) if code else type(exc).__name__


def _fetch(arn: str, what: str, session: Any, endpoint_url: str | None) -> str:
    try:
        client = _client(arn, session, endpoint_url)
        if arn.split(":")[2] == "secretsmanager":
            return str(client.get_secret_value(SecretId=arn)["SecretString"])
        name = arn.split(":parameter", 1)[1]
        return str(client.get_parameter(Name=name, WithDecryption=True)["Parameter"]["Value"])
    except Exception as exc:
        raise SecretError(f"cannot read {what} from {arn}: {_error(exc)}") from None


def _fetch_versions(arn: str, what: str, session: Any, endpoint_url: str | None) -> list[str]:
    """[AWSCURRENT, AWSPREVIOUS] of a Secrets Manager secret (the previous one only when it exists and is readable);
    an SSM parameter has one value. The current version must be readable, else SecretError."""
    if arn.split(":")[2] != "secretsmanager":
        return [_fetch(arn, what, session, endpoint_url)]
    try:
        client = _client(arn, session, endpoint_url)
        out = [str(client.get_secret_value(SecretId=arn, VersionStage=CURRENT)["SecretString"])]
    except Exception as exc:
        raise SecretError(f"cannot read {what} from {arn}: {_error(exc)}") from None
    # No previous version yet (ResourceNotFoundException), or not readable: the current one only.
    with contextlib.suppress(Exception):
        out.append(str(client.get_secret_value(SecretId=arn, VersionStage=PREVIOUS)["SecretString"]))
    return out


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


def versions_reader(
    arn: str, *, what: str, keys: tuple[str, ...], session: Any, endpoint_url: str | None
) -> Callable[[bool], list[str]]:
    """read(force) -> [current, previous] values of a credential secret, each registered with the redactor.

    No cache here: `Rotation` decides when to read (first use, after its TTL, after a refusal; on its clock)."""

    def read(force: bool) -> list[str]:
        values: list[str] = []
        for raw in _fetch_versions(arn, what, session, endpoint_url):
            try:
                value = _extract(raw, what, keys)
            except SecretError:
                if values:  # a malformed previous version is not worth failing the current one for
                    continue
                raise
            if value:
                register_secret(value)
                values.append(value)
        if not values:
            raise SecretError(f"{what} secret {arn} is empty")
        return values

    return read


class Rotation:
    """Which version of a credential to present, and when to read the secret again.

    Any refusal, whoever refused (Entra's token endpoint, Azure DevOps' 401/203, GitHub's 401), marks that version
    tried and re-reads the secret; an untried version (AWSPREVIOUS when AWSCURRENT was refused, or vice versa, or a
    value put since the last read) gets one try at once. When every version has been refused, nothing is presented
    (no request to anyone) until the next re-read, which backs off on the injected clock: 10 s, 20 s, ... 300 s. So
    a refusal costs at most one request per version per back-off step, and a value put in the secret store is
    picked up within the step. An unreadable secret (access denied, KMS key disabled, deleted) is an AuthError
    naming the ARN, retried on the same back-off but at least once a minute; a value read earlier is kept while a
    TTL re-read fails.

    `read(force)` returns the secret's text (one version) or [current, previous]; `force` asks for a fresh read.
    """

    def __init__(
        self,
        read: Callable[[bool], str | Sequence[str]],
        *,
        what: str = "the credential",
        now: Callable[[], float] | None = None,
        max_age: float | None = DEFAULT_MAX_AGE,
        first_backoff: float = FIRST_BACKOFF,
        max_backoff: float = MAX_BACKOFF,
    ) -> None:
        self._read = read
        self.what = what
        self._now = now or time.monotonic
        self.max_age = max_age
        self.first_backoff, self.max_backoff = first_backoff, max_backoff
        self._lock = threading.RLock()
        self._values: tuple[str, ...] = ()
        self._active: str | None = None
        self._tried: set[str] = set()  # refused since the last acceptance or the last new round
        self._loaded_at = -math.inf
        self._next_read = -math.inf  # no re-read before this (the back-off)
        self._step = first_backoff
        self.deadline: Deadline | None = None  # the invocation's (set by the agent source): no read starts past it
        self._read_error = ""  # why the last read failed (names the ARN and the AWS error code, never a value)
        self.reads = 0  # reads of the secret store, for tests and records
        self.refusals = 0

    # -- reading ------------------------------------------------------------------------------------------------
    def _backoff(self, now: float, cap: float | None = None) -> None:
        self._next_read = now + min(self._step, cap if cap is not None else self.max_backoff)
        self._step = min(self._step * 2, self.max_backoff)

    def _load(self, now: float, *, force: bool, strict: bool) -> None:
        """Read the versions. On failure: raise AuthError (strict, or nothing known) or keep what is known."""
        if self.deadline is not None:
            self.deadline.timeout(1.0, f"read {self.what}")  # DeadlineExceeded past the invocation's deadline
        self.reads += 1
        try:
            got = self._read(force)
            values = (got,) if isinstance(got, str) else tuple(got)
            values = tuple(dict.fromkeys(v for v in values if v))
            if not values:
                raise SecretError(f"{self.what} secret is empty")
        except AuthError as exc:
            self._backoff(now, MAX_READ_BACKOFF)
            self._read_error = str(exc)
            raise
        except Exception as exc:  # SecretError names the ARN and the AWS error code, never a value
            self._backoff(now, MAX_READ_BACKOFF)
            self._read_error = str(exc)
            if strict or not self._values:
                raise AuthError(f"{self.what}: {exc}") from None
            return
        if values[0] not in self._values:  # a new AWSCURRENT: present it first
            self._active = None
        self._values, self._loaded_at = values, now

    def value(self) -> str:
        """The version to present now; AuthError when none may be presented (unreadable, or all refused)."""
        with self._lock:
            now = self._now()
            if not self._values:
                if now < self._next_read:
                    wait = self._next_read - now
                    raise AuthError(f"{self.what}: {self._read_error or 'unreadable'}; next read in {wait:.0f}s")
                self._load(now, force=False, strict=True)
            elif self.max_age is not None and now - self._loaded_at >= self.max_age and now >= self._next_read:
                self._load(now, force=True, strict=False)
            if self._active in self._values and self._active not in self._tried:
                return self._active
            for value in self._values:
                if value not in self._tried:
                    self._active = value
                    return value
            # Every version was refused: a new round (each version again, current first) after the back-off.
            if now < self._next_read:
                wait = self._next_read - now
                raise AuthError(f"{self.what}: every version of the secret was refused; re-reading it in {wait:.0f}s")
            self._tried.clear()
            self._load(now, force=True, strict=True)
            self._backoff(now)
            self._active = self._values[0]
            return self._active

    def refused(self, value: str) -> bool:
        """`value` was refused: re-read the secret (bounded by the back-off). True if an untried version is left."""
        with self._lock:
            now = self._now()
            self.refusals += 1
            self._tried.add(value)
            if now >= self._next_read:
                self._load(now, force=True, strict=False)
                if now >= self._next_read:  # read fine: the next re-read still waits a step
                    self._backoff(now)
            return any(v not in self._tried for v in self._values)

    def reread(self) -> None:
        """Something built on the credential was refused (an Entra token Azure DevOps took before): re-read the
        secret, bounded by the back-off, without marking any version refused."""
        with self._lock:
            now = self._now()
            if now >= self._next_read:
                self._load(now, force=True, strict=False)
                if now >= self._next_read:
                    self._backoff(now)

    def accepted(self, value: str) -> None:
        """`value` worked: refusals so far are history, and the next episode starts from the shortest step."""
        with self._lock:
            if value in self._values:
                self._tried.clear()
                self._step = self.first_backoff


class SecretCredential:
    """An Authorization header from a rotating secret (`header(value)`): Azure DevOps' PAT, a GitHub token.

    Implements gate.adapters.azure.Credential; `refresh(header)` names the refused header, so concurrent requests that
    used
    different versions each mark their own."""

    def __init__(self, rotation: Rotation, header: Callable[[str], str]) -> None:
        self.rotation = rotation
        self._header = header
        self._values: dict[str, str] = {}  # header -> value (two or three versions at most)
        self._lock = threading.Lock()

    def use_deadline(self, deadline: Deadline) -> None:
        self.rotation.deadline = deadline

    def authorization(self) -> str:
        value = self.rotation.value()
        header = self._header(value)
        register_secret(header.partition(" ")[2])
        with self._lock:
            if len(self._values) > 8:
                self._values.clear()
            self._values[header] = value
        return header

    def _value(self, header: str | None) -> str | None:
        with self._lock:
            return self._values.get(header) if header is not None else None

    def refresh(self, refused: str | None = None) -> bool:
        value = self._value(refused)
        if value is None:  # called without the header: the version in use
            value = self.rotation.value()
        return self.rotation.refused(value)

    def accepted(self, header: str) -> None:
        value = self._value(header)
        if value is not None:
            self.rotation.accepted(value)


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


class StaticCredential(SecretCredential):
    """A token given inline (local use): nothing to re-read when the service refuses it."""

    def refresh(self, refused: str | None = None) -> bool:
        return False


def static_credential(token: str, what: str, header: Callable[[str], str]) -> SecretCredential:
    return StaticCredential(Rotation(lambda _force: token, what=what, max_age=None), header)


def token_credential(
    given: SecretStr | None,
    arn: str | None,
    *,
    what: str,
    keys: tuple[str, ...],
    header: Callable[[str], str],
    max_age: float,
    session: Any = None,
    endpoint_url: str | None = None,
    now: Callable[[], float] | None = None,
) -> SecretCredential:
    """A service token (GitHub, GitLab): the inline value (local use), else the secret `arn` names (AWSCURRENT and
    AWSPREVIOUS), read at the first request, never at start-up; re-read after `max_age` and whenever the service
    refuses it (bounded). `keys`: the JSON keys the secret's value may hold it under."""
    if given is not None:
        return static_credential(inline(given), what, header)
    if not arn:
        raise AgentSourceError(f"no {what.removeprefix('the ')} configured")
    read = versions_reader(arn, what=what, keys=keys, session=session, endpoint_url=endpoint_url)
    return SecretCredential(Rotation(read, what=what, now=now, max_age=max_age), header)
