"""What the GitHub and GitLab sources share: one REST call with its retries, its back-off and its refused token.

Every call is bounded by the invocation's deadline, every wait goes through the injected clock (a simulator's
scaled clock, a Lambda's remaining time), and a rate limit the service announced stops the next calls until it
ends. Retries are done here rather than by urllib3, whose Retry sleeps in wall time and knows no deadline. What the
two services do differently stays in their adapters: the auth header, the rate-limit headers, pagination. Azure
DevOps, which paces itself otherwise (it sleeps a short Retry-After), uses the session, the timeouts and the rule of
which network error is retried.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from typing import Any, ClassVar
from urllib.parse import urlparse

import requests
from requests.adapters import HTTPAdapter

from gate.adapters.neterrors import network_words
from gate.adapters.secrets import SecretCredential
from gate.domain.redact import redact
from gate.service.sources import AgentSourceError, AuthError, Deadline, DeadlineExceeded

RETRY_STATUSES = frozenset({500, 502, 503, 504})  # a rate limit (403/429) is the adapter's own to handle


def session(headers: Mapping[str, str]) -> requests.Session:
    """A session that never retries by itself: retries are ours, on the injected clock, within the deadline."""
    out = requests.Session()
    out.headers.update(headers)
    adapter = HTTPAdapter(max_retries=0)
    out.mount("https://", adapter)
    out.mount("http://", adapter)
    return out


def timeouts(deadline: Deadline, timeout: float, what: str) -> tuple[float, float]:
    """(connect, read) for one request, the read bounded by the deadline's time left (DeadlineExceeded when there is
    none); both are named in a network error."""
    limit = deadline.timeout(timeout, what)
    return (min(3.05, limit), limit)


def retried(exc: requests.RequestException) -> bool:
    """A connection error is worth another try; a timeout is not (it has spent its time)."""
    return isinstance(exc, requests.ConnectionError) and not isinstance(exc, requests.Timeout)


class RestClient:
    """One token, one host: `_request` retries a connection error or a 5xx (twice, backing off), re-reads a token
    refused with 401 (bounded), refuses to follow a link to another host and fails fast while a rate limit lasts."""

    SERVICE: ClassVar[str]  # the service's name in messages: "GitHub", "GitLab"
    AUTH_HINT: ClassVar[str]  # what a 401/403 means, in the AuthError

    def __init__(
        self, api_url: str, credential: SecretCredential, headers: Mapping[str, str], *, timeout: float, clock: Any
    ) -> None:
        self.api_url = api_url
        self.timeout = timeout
        self.retries = 2
        self.backoff = 0.5
        self.calls = 0
        self._now: Callable[[], float] = clock.now if clock is not None else time.time
        self._sleep: Callable[[float], None] = clock.sleep if clock is not None else time.sleep
        self.deadline = Deadline(self._now)
        self._backoff_until = 0.0
        self._lock = threading.Lock()
        self.credential = credential  # the header per request: re-read (bounded) when the service refuses it
        credential.use_deadline(self.deadline)
        self.session = session(headers)
        self._host = urlparse(api_url).netloc

    def set_deadline(self, at: float | None) -> None:
        self.deadline.set(at)

    # -- what each service does its own way ---------------------------------------------------------------------
    def _auth_headers(self, header: str) -> dict[str, str]:
        """The credential's header value as the service takes it."""
        return {"Authorization": header}

    def _rate_limited(self, resp: requests.Response, what: str, waited: int) -> bool:
        """An answer seen before the retries: True to ask again (having waited), or raise to hold."""
        return False

    # -- the call -------------------------------------------------------------------------------------------------
    def _request(
        self, method: str, url: str, params: dict[str, Any] | None = None, data: dict[str, Any] | None = None
    ) -> requests.Response:
        now = self._now()
        if now < self._backoff_until:
            raise AgentSourceError(
                f"rate limited by {self.SERVICE}: backing off for {self._backoff_until - now:.0f}s more",
                status=429,
                retry_after=self._backoff_until - now,
            )
        if urlparse(url).netloc != self._host:  # a Link header must never send the token to another host
            raise AgentSourceError(f"{method}: refusing to follow a link to another host ({urlparse(url).netloc})")
        what = f"{method} {url.removeprefix(self.api_url)}"
        attempt = refreshes = waited = 0
        while True:
            timeout = timeouts(self.deadline, self.timeout, what)
            header = self.credential.authorization()  # AuthError when the token cannot be read or was refused
            with self._lock:
                self.calls += 1
            try:
                resp = self.session.request(
                    method,
                    url,
                    params=params,
                    data=data,
                    headers=self._auth_headers(header),
                    timeout=timeout,
                    allow_redirects=False,
                )
            except requests.RequestException as exc:
                if retried(exc) and attempt < self.retries:
                    self._retry_wait(attempt, what)
                    attempt += 1
                    continue
                raise AgentSourceError(f"{what}: {redact(network_words(exc, url, timeout))}") from None
            if resp.status_code == 401:  # bad credentials: re-read the token (bounded); another version, one try
                if refreshes < 2 and self.credential.refresh(header):
                    refreshes += 1
                    continue
            else:
                self.credential.accepted(header)
            if self._rate_limited(resp, what, waited):
                waited += 1
                continue
            if resp.status_code in RETRY_STATUSES and attempt < self.retries:
                self._retry_wait(attempt, what)
                attempt += 1
                continue
            return self._check(resp, what)

    def _retry_wait(self, attempt: int, what: str) -> None:
        wait = self.backoff * 2**attempt
        if not self.deadline.allows_wait(wait):
            raise DeadlineExceeded(f"{what}: no time left before the invocation's deadline to retry")
        self._sleep(wait)

    def _check(self, resp: requests.Response, what: str) -> requests.Response:
        """The answer after retries: refused (AuthError), still failing, or redirected (neither is followed)."""
        if resp.status_code in (401, 403):
            raise AuthError(f"{what}: HTTP {resp.status_code}: {self.AUTH_HINT}", status=resp.status_code)
        if resp.status_code >= 500 or resp.status_code == 429:
            raise AgentSourceError(f"{what}: HTTP {resp.status_code} after retries", status=resp.status_code)
        if 300 <= resp.status_code < 400:
            raise AgentSourceError(f"{what}: unexpected redirect (HTTP {resp.status_code})", status=resp.status_code)
        return resp
