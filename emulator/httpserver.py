"""What the fake HTTP services share: a WSGI app served on 127.0.0.1 by werkzeug in a daemon thread."""

from __future__ import annotations

import json
import logging
import threading
from typing import Any, Self

from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server
from werkzeug.wrappers import Request, Response

from emulator.guard import OnceLog

log = logging.getLogger(__name__)


class QuietHandler(WSGIRequestHandler):
    """No per-request log lines: each fake keeps its own record of calls, and logs must never carry requests."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        pass

    def date_time_string(self, timestamp: float | None = None) -> str:
        """The `Date` header on the fake's own clock (`service_now()`: its clock fault included) when it has one, as
        a real service stamps its answers with its clock: the gate reads it as the service's time."""
        app = getattr(self.server, "app", None)
        now = getattr(getattr(app, "__self__", app), "service_now", None)  # the app is LocalServer._guarded
        if timestamp is None and callable(now):
            timestamp = now()
        return super().date_time_string(timestamp)


class LocalServer:
    """Mixin for a fake that is its own WSGI app: `start()` serves it, `stop()` ends it, or use `with`.

    The subclass sets `_port` (0 = any free port) and `thread_name`, and `_on_started(port)` sets its URLs.
    """

    _port: int = 0
    thread_name = "fake-server"
    # Set by the subclass: its lock, its clock and its call log (read by tests to count requests).
    _lock: Any
    clock: Any
    calls: list[dict[str, Any]]
    ssl_context: Any = None  # (certfile, keyfile) to serve https (the fake Entra token endpoint: msal needs https)
    _server: BaseWSGIServer | None = None
    _thread: threading.Thread | None = None
    errors: OnceLog | None = None  # this fake's own failures, each distinct one logged once

    record_query = True  # the call log keeps each request's query (IMDS and Entra keep none)

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        """Each request answered by `_serve` and recorded (a fake that routes otherwise overrides this)."""
        request = Request(environ)
        response = self._serve(request)
        query = request.args.to_dict() if self.record_query else {}
        self.record_call(request.method, request.path, query, response.status_code)
        return response(environ, start_response)

    def _serve(self, request: Request) -> Response:  # pragma: no cover - subclass's
        raise NotImplementedError

    def _on_started(self, port: int) -> None:
        raise NotImplementedError

    def record_call(self, method: str, path: str, query: dict[str, Any], status: int) -> None:
        """The call log: method, path, query and status, never headers (no credential can leak into it)."""
        with self._lock:
            self.calls.append(
                {"time": self.clock.now(), "method": method, "path": path, "query": query, "status": status}
            )

    def _guarded(self, environ: dict[str, Any], start_response: Any) -> Any:
        """The fake itself, with a failure of its own answered as one JSON 500 naming it (logged once per distinct
        failure), so a bug or an unforeseen request fails that request only. A deliberately dropped connection
        (ConnectionError, the `down` fault) still propagates."""
        try:
            return self(environ, start_response)
        except ConnectionError:
            raise
        except Exception as exc:
            if self.errors is None:
                self.errors = OnceLog(log, f"a request to {type(self).__name__}")
            self.errors.failed(exc, key=f"{environ.get('REQUEST_METHOD')} {environ.get('PATH_INFO')}: ")
            message = f"the fake {type(self).__name__} failed on this request: {type(exc).__name__}: {exc}"
            body = json.dumps({"message": message, "typeKey": "InternalServerError"}).encode()
            headers = [("Content-Type", "application/json; charset=utf-8"), ("Content-Length", str(len(body)))]
            start_response("500 Internal Server Error", headers)
            return [body]

    def start(self) -> Self:
        self._server = make_server(
            "127.0.0.1",
            self._port,
            self._guarded,
            threaded=True,
            request_handler=QuietHandler,
            ssl_context=self.ssl_context,
        )
        self._on_started(self._server.server_port)
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name=self.thread_name, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
