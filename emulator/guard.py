"""What keeps the AWS emulator serving: one bad request gets one AWS-shaped error, and the log stays bounded.

Without it, an unknown region (`AWS_DEFAULT_REGION=us-east-9x`) made moto raise `KeyError` deep inside a backend; the
region was remembered by the lifecycle timer, so every later tick and every later request failed too, and werkzeug
printed a traceback for each. Here:

* `Guard` is WSGI middleware in front of moto: a request signed for a region no AWS partition knows is refused with
  HTTP 400 before moto sees it; any exception a request raises becomes HTTP 500 `InternalFailure` naming the error,
  in the error shape of the caller's protocol (query XML, JSON with `__type`, or REST-JSON with `x-amzn-ErrorType`),
  so botocore parses it and the CLI prints a sentence instead of an HTML page;
* `OnceLog` logs each distinct failure once (with its traceback), then counts repeats silently: a background loop
  that fails every 0.2 s logs one record, not one per pass.
"""

from __future__ import annotations

import json
import logging
import threading
import uuid
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import parse_qs

__all__ = ["Guard", "OnceLog", "known_regions", "request_region"]

MAX_DISTINCT = 50  # distinct failures remembered (and logged) per OnceLog; later new ones are counted, not logged

# Protocols that answer errors in XML: the query protocol (form-encoded `Action=`) and REST-XML services.
REST_XML_SERVICES = frozenset({"s3", "route53", "cloudfront"})


class OnceLog:
    """Log each distinct failure (exception type and message, plus a caller's key) once; repeats are only counted."""

    def __init__(self, logger: logging.Logger, what: str) -> None:
        self._log = logger
        self._what = what
        self._lock = threading.Lock()
        self.counts: dict[str, int] = {}
        self.suppressed = 0

    def failed(self, exc: BaseException, key: str = "") -> bool:
        """Record one failure; True when this call logged it (the first of its kind)."""
        signature = f"{key}{type(exc).__name__}: {exc}"
        with self._lock:
            if signature in self.counts:
                self.counts[signature] += 1
                return False
            if len(self.counts) >= MAX_DISTINCT:
                self.suppressed += 1
                if self.suppressed == 1:
                    self._log.error(
                        "%s: more than %d distinct failures; further new ones are not logged", self._what, MAX_DISTINCT
                    )
                return False
            self.counts[signature] = 1
        self._log.error(
            "%s failed (logged once; repeats are counted, not logged): %s", self._what, signature, exc_info=exc
        )
        return True


_REGIONS: frozenset[str] | None = None


def known_regions() -> frozenset[str]:
    """Every region of every partition botocore's endpoint data names (commercial, China, GovCloud, ISO...)."""
    global _REGIONS
    if _REGIONS is None:
        import botocore.session

        session = botocore.session.get_session()
        regions: set[str] = set()
        for partition in session.get_available_partitions():
            for service in ("ec2", "autoscaling", "sts"):
                regions.update(session.get_available_regions(service, partition, allow_non_regional=True))
        _REGIONS = frozenset(regions)
    return _REGIONS


def _credential_scope(environ: dict[str, Any]) -> list[str]:
    """`AWS4-HMAC-SHA256 Credential=AKID/20261207/us-east-1/autoscaling/aws4_request, ...` -> [AKID, date, region,
    service, aws4_request]; presigned query strings carry the same in `X-Amz-Credential`."""
    auth = str(environ.get("HTTP_AUTHORIZATION", ""))
    if "Credential=" in auth:
        return auth.split("Credential=", 1)[1].split(",", 1)[0].strip().split("/")
    query = parse_qs(environ.get("QUERY_STRING", ""))
    credential = (query.get("X-Amz-Credential") or [""])[0]
    return credential.split("/") if credential else []


def request_region(environ: dict[str, Any]) -> str | None:
    """The region the request was signed for, or None when it is not signed with SigV4."""
    scope = _credential_scope(environ)
    return scope[2] if len(scope) >= 4 else None


def _service(environ: dict[str, Any]) -> str:
    scope = _credential_scope(environ)
    return scope[3] if len(scope) >= 4 else ""


def error_response(
    environ: dict[str, Any], status: int, code: str, message: str
) -> tuple[str, list[tuple[str, str]], bytes]:
    """An AWS error in the shape the caller's protocol parses: JSON for `X-Amz-Target` (awsJson) and REST-JSON
    calls, XML `ErrorResponse` for the query protocol and REST-XML services. `x-amzn-ErrorType` is set on every
    answer (REST-JSON reads the code there; the other parsers ignore it)."""
    request_id = str(uuid.uuid4())
    content_type = environ.get("CONTENT_TYPE", "")
    query_protocol = "x-www-form-urlencoded" in content_type or "Action=" in environ.get("QUERY_STRING", "")
    if environ.get("HTTP_X_AMZ_TARGET") or not (query_protocol or _service(environ) in REST_XML_SERVICES):
        body = json.dumps({"__type": code, "message": message}).encode()
        kind = "application/x-amz-json-1.1" if environ.get("HTTP_X_AMZ_TARGET") else "application/json"
    else:
        from xml.sax.saxutils import escape

        body = (
            f"<ErrorResponse><Error><Type>{'Sender' if status < 500 else 'Receiver'}</Type><Code>{escape(code)}</Code>"
            f"<Message>{escape(message)}</Message></Error><RequestId>{request_id}</RequestId></ErrorResponse>"
        ).encode()
        kind = "text/xml"
    headers = [
        ("Content-Type", kind),
        ("Content-Length", str(len(body))),
        ("x-amzn-RequestId", request_id),
        ("x-amzn-ErrorType", code),
    ]
    reason = "Bad Request" if status < 500 else "Internal Server Error"
    return f"{status} {reason}", headers, body


def _malformed(exc: BaseException) -> bool:
    """True when moto's request parser (moto/core/parse.py) raised: a parameter of the wrong type or shape."""
    import traceback

    return any(
        frame.filename.replace("\\", "/").endswith("moto/core/parse.py")
        for frame in traceback.extract_tb(exc.__traceback__)
    )


class Guard:
    """WSGI middleware: refuse unknown regions, turn a request's exception into an AWS-shaped 500 (logged once)."""

    def __init__(self, logger: logging.Logger) -> None:
        self.errors = OnceLog(logger, "an AWS emulator request")
        self.refused: list[str] = []  # regions refused, in order (tests read it)

    def wrap(self, app: Callable[..., Iterable[bytes]]) -> Callable[..., Iterable[bytes]]:
        def middleware(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
            return self._serve(app, environ, start_response)

        return middleware

    def _serve(
        self, app: Callable[..., Iterable[bytes]], environ: dict[str, Any], start_response: Any
    ) -> Iterable[bytes]:
        region = request_region(environ)
        if region is not None and region not in known_regions():
            self.refused.append(region)
            status, headers, body = error_response(
                environ,
                400,
                "InvalidRegion",  # what a client should fix; AWS itself has no endpoint for such a region
                f"The region '{region}' (from the request's signature: AWS_REGION, AWS_DEFAULT_REGION, the profile's "
                "region or --region) is not an AWS region; this emulator serves every real region, e.g. us-east-1.",
            )
            start_response(status, headers)
            return [body]
        started: list[bool] = []

        def tracking_start_response(*args: Any) -> Any:
            started.append(True)
            return start_response(*args)

        try:
            result = app(environ, tracking_start_response)
            try:
                return list(result)  # materialised here, so a failure while producing the body is caught too
            finally:
                close = getattr(result, "close", None)
                if close is not None:
                    close()  # the app's own teardown (WSGI: the server would have called it)
        except Exception as exc:
            self.errors.failed(exc, key=f"{environ.get('REQUEST_METHOD')} {environ.get('PATH_INFO')}: ")
            if started:  # too late for a clean error: let the server drop the connection
                raise
            if _malformed(exc):  # moto could not read a parameter: the caller's mistake, as AWS reports it
                status, headers, body = error_response(
                    environ, 400, "ValidationError", f"malformed request parameter: {type(exc).__name__}: {exc}"
                )
            else:
                status, headers, body = error_response(
                    environ,
                    500,
                    "InternalFailure",
                    f"the AWS emulator failed on this request: {type(exc).__name__}: {exc}",
                )
            start_response(status, headers)
            return [body]
