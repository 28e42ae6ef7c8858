"""gate.adapters.neterrors.network_words on real failures: each exception is made by a real call over a real socket
on 127.0.0.1 (a closed port, a name that cannot resolve, servers that hang up, reset, never answer, speak plain
HTTP to https or show an untrusted certificate, a proxy that is not there). No internet is needed.

Here (not in tests/unit) because every case opens sockets."""

from __future__ import annotations

import contextlib
import json
import socket
import ssl
import struct
import tempfile
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import requests

from cli.common import reachable
from gate.adapters.azure import AzureDevOps
from gate.adapters.entra import EntraCredential
from gate.adapters.github import GitHubRunners
from gate.adapters.gitlab import GitLabRunners
from gate.adapters.neterrors import network_words
from gate.domain.clock import ManualClock
from gate.service.sources import AgentSourceError, AuthError
from tests.support.entra import self_signed


def failure(url: str, **kwargs: object) -> requests.RequestException:
    """The exception a real GET of `url` raises."""
    with pytest.raises(requests.RequestException) as caught:
        requests.get(url, **kwargs)  # type: ignore[arg-type]
    return caught.value


def closed_port() -> int:
    """A port nothing listens on: bound, then closed."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def server(handle: Callable[[socket.socket], None]) -> Iterator[int]:
    """A one-connection TCP server on 127.0.0.1 that hands the accepted socket to `handle`; yields its port."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)

    def run() -> None:
        conn, _ = listener.accept()
        with conn:
            handle(conn)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    try:
        yield int(listener.getsockname()[1])
    finally:
        listener.close()
        thread.join(timeout=5)


def read_request(conn: socket.socket) -> None:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            return
        data += chunk


def test_a_closed_port_is_refused() -> None:
    port = closed_port()
    words = network_words(failure(f"http://127.0.0.1:{port}/x", timeout=2))
    assert words == f"127.0.0.1:{port} refused the connection (nothing listens there)"
    # a bare socket error (cli.common.reachable's probe) reads the same
    assert reachable(f"http://127.0.0.1:{port}", "the AWS endpoint") == (
        f"cannot reach the AWS endpoint http://127.0.0.1:{port}: {words}"
    )


def test_a_name_that_does_not_resolve() -> None:
    words = network_words(failure("https://nonexistent.invalid/org/_apis", timeout=2))
    assert words == "the host name nonexistent.invalid does not resolve (DNS): check the URL"


def test_a_server_that_hangs_up_without_an_answer() -> None:
    with server(read_request) as port:
        exc = failure(f"http://127.0.0.1:{port}/x", timeout=5)
    assert network_words(exc) == f"127.0.0.1:{port} closed the connection without answering"
    assert "RemoteDisconnected" in repr(exc)  # what the records used to carry


def test_a_server_that_resets_the_connection() -> None:
    def reset(conn: socket.socket) -> None:
        read_request(conn)
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))  # close = RST

    with server(reset) as port:
        words = network_words(failure(f"http://127.0.0.1:{port}/x", timeout=5))
    assert words in (
        f"127.0.0.1:{port} reset the connection without answering",
        f"127.0.0.1:{port} closed the connection without answering",  # the RST raced the read: it saw the end
    )


def test_a_server_that_never_answers_times_out_reading() -> None:
    done = threading.Event()

    def silent(conn: socket.socket) -> None:
        read_request(conn)
        done.wait(10)

    with server(silent) as port:
        exc = failure(f"http://127.0.0.1:{port}/x", timeout=(2, 0.2))
        done.set()
    assert network_words(exc, timeout=(2, 0.2)) == (
        f"127.0.0.1:{port} accepted the connection but did not answer within 0.2 s"
    )


def test_a_full_accept_queue_times_out_connecting() -> None:
    """A listener with a full backlog drops the SYN: the connect itself times out (the firewall case)."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(0)
        port = int(listener.getsockname()[1])
        fillers = []
        for _ in range(3):
            filler = socket.socket()
            filler.setblocking(False)
            filler.connect_ex(("127.0.0.1", port))
            fillers.append(filler)
        try:
            exc = failure(f"http://127.0.0.1:{port}/x", timeout=(0.3, 5))
        finally:
            for filler in fillers:
                filler.close()
    assert isinstance(exc, requests.ConnectTimeout)
    assert network_words(exc, timeout=(0.3, 5)) == (
        f"127.0.0.1:{port} did not accept a connection within 0.3 s (a firewall, a proxy, the wrong host?)"
    )


def test_plain_http_on_an_https_url_fails_the_handshake() -> None:
    def plain(conn: socket.socket) -> None:
        conn.recv(65536)  # the TLS ClientHello
        conn.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")

    with server(plain) as port:
        words = network_words(failure(f"https://127.0.0.1:{port}/x", timeout=5))
    assert words.startswith(f"the TLS handshake with 127.0.0.1:{port} failed"), words
    assert words.endswith("does it speak https on that port?"), words


def test_an_untrusted_certificate_is_named() -> None:
    cert, key = self_signed()
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "cert.pem").write_text(cert)
        (Path(tmp) / "key.pem").write_text(key)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(str(Path(tmp) / "cert.pem"), str(Path(tmp) / "key.pem"))

    def tls(conn: socket.socket) -> None:
        with contextlib.suppress(OSError):  # the client refuses the certificate: that is the point
            context.wrap_socket(conn, server_side=True).close()

    with server(tls) as port:
        words = network_words(failure(f"https://127.0.0.1:{port}/x", timeout=5))
    assert words.startswith(f"the TLS certificate of 127.0.0.1:{port} is not trusted ("), words
    assert "self-signed certificate" in words, words


def test_an_absent_proxy_is_named_with_the_target() -> None:
    proxy = closed_port()
    exc = failure("http://dev.azure.example/org", timeout=2, proxies={"http": f"http://user:pw-1234@127.0.0.1:{proxy}"})
    words = network_words(exc)
    assert words == (
        f"the proxy for dev.azure.example:80 (HTTPS_PROXY, HTTP_PROXY): "
        f"127.0.0.1:{proxy} refused the connection (nothing listens there)"
    )
    assert "pw-1234" not in words and "user" not in words  # the proxy's credentials are never named


def test_only_host_and_port_are_named_never_the_path_query_or_userinfo() -> None:
    port = closed_port()
    exc = failure(f"http://someone:s3cret-pw@127.0.0.1:{port}/org/_apis?token=tok-5678", timeout=2)
    assert "s3cret-pw" in str(exc) or "tok-5678" in str(exc)  # requests' own text carries them
    words = network_words(exc)
    assert words == f"127.0.0.1:{port} refused the connection (nothing listens there)"


@pytest.mark.parametrize("system", ["azure-devops", "github", "gitlab"])
def test_every_agent_source_reports_it_in_words(system: str) -> None:
    port = closed_port()
    base, secret = f"http://127.0.0.1:{port}", "token-for-words-0123456789"
    clients: dict[str, Callable[[], object]] = {
        "azure-devops": lambda: AzureDevOps(f"{base}/org", secret, ["linux"], clock=ManualClock(), backoff=0.01),
        "github": lambda: GitHubRunners(base, secret, org="acme", clock=ManualClock()),
        "gitlab": lambda: GitLabRunners(base, secret, clock=ManualClock()),
    }
    client = clients[system]()
    with pytest.raises(AgentSourceError) as caught:
        client.list_agents()  # type: ignore[attr-defined]
    message = str(caught.value)
    assert message.endswith(f"127.0.0.1:{port} refused the connection (nothing listens there)"), message
    assert "ConnectionError" not in message and secret not in message


def test_an_unreachable_entra_authority_reads_in_words() -> None:
    port = closed_port()
    raw = json.dumps({"tenant_id": "tenant-1", "client_id": "client-1", "client_secret": "entra-secret-for-words"})
    credential = EntraCredential(lambda force: raw, authority_host=f"https://127.0.0.1:{port}", timeout=2)
    with pytest.raises(AuthError) as caught:
        credential.authorization()
    message = str(caught.value)
    assert message == (
        f"Microsoft Entra sign-in failed: 127.0.0.1:{port} refused the connection (nothing listens there)"
    ), message
