"""A failed network call in words: which host and port, and what went wrong.

`ConnectionError: ('Connection aborted.', RemoteDisconnected('Remote end closed connection without response'))`
tells an operator nothing they can act on; "dev.azure.com:443 closed the connection without answering" does. The
adapters (Azure DevOps, GitHub, GitLab, Entra) put this wording into their errors, and so into the decision records
and `gate status`; the CLI uses the same function, so the two never drift apart.

The wording is built from the exception's types (requests' classes, then the socket and ssl errors urllib3 chains
under them; resolver messages only as a fallback), and names only the host and port: never the path, the query or
any credential.
"""

from __future__ import annotations

import errno
import http.client
import socket
import ssl
from collections.abc import Iterator
from urllib.parse import urlsplit

import requests

Timeout = float | tuple[float | None, float | None] | None  # what requests takes: one number or (connect, read)

_DNS_TEXT = (
    "Name or service not known",
    "nodename nor servname",
    "getaddrinfo failed",
    "Temporary failure in name resolution",
    "No address associated",
    "Failed to resolve",
)
_CLOSED = (http.client.RemoteDisconnected, ConnectionAbortedError, BrokenPipeError)


def _causes(exc: BaseException) -> Iterator[BaseException]:
    """The exception and everything it wraps: requests -> urllib3 (MaxRetryError.reason, ProtocolError's args) ->
    the socket or ssl error (__cause__/__context__). Bounded, and each one once."""
    todo: list[BaseException] = [exc]
    seen: set[int] = set()
    while todo and len(seen) < 32:
        current = todo.pop(0)
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        nested = [*current.args, getattr(current, "reason", None), current.__cause__, current.__context__]
        todo.extend(e for e in nested if isinstance(e, BaseException))


def _host_port(exc: BaseException, url: str | None) -> tuple[str, str]:
    """(host, host:port) of the URL, or of the request the exception carries; never the path or any userinfo."""
    if url is None:
        request = getattr(exc, "request", None)
        url = getattr(request, "url", None) if request is not None else None
    if not url:
        return "the server", "the server"
    try:
        parts = urlsplit(str(url))
        host = parts.hostname or "the server"
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:  # a malformed port
        return "the server", "the server"
    shown = f"[{host}]" if ":" in host else host
    return host, f"{shown}:{port}"


def _seconds(timeout: Timeout, which: int) -> str:
    """` within N s` for the connect (0) or read (1) part of a requests timeout; empty when not known."""
    value = timeout[which] if isinstance(timeout, tuple) else timeout
    return f" within {round(value, 1):g} s" if value is not None else ""


def network_words(exc: BaseException, url: str | None = None, timeout: Timeout = None) -> str:
    """What went wrong with a call to `url` (default: the URL the requests exception carries), in words.

    Covers requests' exceptions and the plain socket errors under them (a bare OSError from a socket works too).
    `timeout` is the one the call was given, so a timeout can say how long was waited."""
    host, where = _host_port(exc, url)
    chain = list(_causes(exc))
    if isinstance(exc, requests.exceptions.ProxyError):
        proxy = next((p for p in (getattr(getattr(e, "pool", None), "proxy", None) for e in chain) if p), None)
        proxy_host = getattr(proxy, "host", None)
        if not proxy_host:
            return f"the HTTP(S) proxy failed the connection to {where} (check HTTPS_PROXY, HTTP_PROXY and NO_PROXY)"
        port = getattr(proxy, "port", None) or (443 if getattr(proxy, "scheme", "") == "https" else 80)
        shown = f"[{proxy_host}]" if ":" in proxy_host else proxy_host  # host and port only: never its auth
        inner = _words(exc, chain, proxy_host, f"{shown}:{port}", timeout)
        return f"the proxy for {where} (HTTPS_PROXY, HTTP_PROXY): {inner}"
    return _words(exc, chain, host, where, timeout)


def _words(exc: BaseException, chain: list[BaseException], host: str, where: str, timeout: Timeout) -> str:
    def has(*types: type[BaseException]) -> BaseException | None:
        return next((e for e in chain if isinstance(e, types)), None)

    if isinstance(exc, requests.exceptions.ConnectTimeout | TimeoutError):  # TimeoutError: a bare socket's connect
        return f"{where} did not accept a connection{_seconds(timeout, 0)} (a firewall, a proxy, the wrong host?)"
    if isinstance(exc, requests.exceptions.Timeout):
        return f"{where} accepted the connection but did not answer{_seconds(timeout, 1)}"
    cert = has(ssl.SSLCertVerificationError)
    if cert is not None:
        why = getattr(cert, "verify_message", "") or "not trusted"
        return f"the TLS certificate of {where} is not trusted ({why}): a private CA, or the wrong host?"
    tls = has(ssl.SSLError) or (exc if isinstance(exc, requests.exceptions.SSLError) else None)
    if tls is not None:
        reason = getattr(tls, "reason", None)
        detail = f" ({reason})" if isinstance(reason, str) and reason else ""
        return f"the TLS handshake with {where} failed{detail}: does it speak https on that port?"
    if has(socket.gaierror) or any(s in str(e) for e in chain for s in _DNS_TEXT):
        return f"the host name {host} does not resolve (DNS): check the URL"
    if has(ConnectionRefusedError):
        return f"{where} refused the connection (nothing listens there)"
    if any(isinstance(e, OSError) and e.errno in (errno.ENETUNREACH, errno.EHOSTUNREACH) for e in chain):
        return f"no network route to {where}"
    if has(*_CLOSED):  # before the reset: RemoteDisconnected is a ConnectionResetError
        return f"{where} closed the connection without answering"
    if has(ConnectionResetError):
        return f"{where} reset the connection without answering"
    if isinstance(exc, requests.exceptions.ChunkedEncodingError) or has(http.client.IncompleteRead):
        return f"{where} broke off its answer midway"
    if isinstance(exc, requests.exceptions.TooManyRedirects):
        return f"{host} redirected too many times"
    if isinstance(exc, requests.exceptions.InvalidURL | requests.exceptions.MissingSchema):
        return f"the URL for {host} is not valid"
    oserror = next((e for e in reversed(chain) if isinstance(e, OSError) and e.strerror), None)
    because = f" ({oserror.strerror})" if oserror is not None else ""
    if isinstance(exc, requests.exceptions.ConnectionError | OSError):
        return f"could not connect to {where}{because}"
    return f"the request to {where} failed ({type(exc).__name__})"
