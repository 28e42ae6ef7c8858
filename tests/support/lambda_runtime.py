"""A local Lambda service for one deployed function: the Runtime API, and the process AWS's own client runs in.

The deployment package is run the way Lambda runs it, not imported into the test: the zip is unpacked into a task
root and `python -m awslambdaric HANDLER` (AWS's runtime interface client, the same code as in the managed Python
runtime) polls a Runtime API served here for events. The process sees only what the managed runtime offers:

* `sys.path` = the task root, then a runtime directory holding exactly what the Python runtime provides (awslambdaric
  and its dependencies, boto3/botocore and theirs); the interpreter starts with `-S`, so nothing else from this
  machine's site-packages can hide a dependency missing from the zip;
* the environment Lambda sets (AWS_LAMBDA_FUNCTION_NAME, LAMBDA_TASK_ROOT, _HANDLER, AWS_REGION, the log group and
  stream...), the function's own variables as configured (GetFunctionConfiguration), and the role's temporary
  credentials (AWS_ACCESS_KEY_ID/SECRET/SESSION_TOKEN), plus AWS_ENDPOINT_URL pointing at the emulator;
* a deadline per invocation (`Lambda-Runtime-Deadline-Ms`, from the function's Timeout), enforced: an invocation
  that outlives it is recorded as timed out and the process is replaced, as Lambda replaces the sandbox.

Runtime API (AWS Lambda Developer Guide, "Using the Lambda runtime API for custom runtimes"): `GET .../invocation/next`
is held open until an event is queued (awslambdaric crashes on a 5xx there), `POST .../invocation/{id}/response`
or `/error` answer 202, `POST .../init/error` records a failed init. One process handles one invocation at a time,
like one Lambda execution environment; invocations queue behind each other.
"""

from __future__ import annotations

import importlib.util
import json
import os
import queue
import subprocess
import sys
import tempfile
import threading
import time
import uuid
import zipfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

__all__ = ["Invocation", "LambdaFunction", "RuntimeApi", "runtime_dir"]

API = "/2018-06-01/runtime"
# What the managed Python runtime puts on sys.path after the task root: its runtime interface client and the AWS SDK.
RUNTIME_PACKAGES = (
    "awslambdaric",
    "runtime_client",  # awslambdaric's native HTTP client (a top-level extension module)
    "simplejson",
    "snapshot_restore_py",
    "boto3",
    "botocore",
    "s3transfer",
    "jmespath",
    "dateutil",
    "six",
    "urllib3",
)


@dataclass
class Invocation:
    """One event handed to the function, and what came back."""

    request_id: str
    event: Any
    timeout: float  # the function's Timeout: the deadline runs from the start, not from queueing (as in Lambda)
    deadline_ms: int = 0
    done: threading.Event = field(default_factory=threading.Event)
    result: Any = None
    error: dict[str, Any] | None = None
    timed_out: bool = False
    started: float = 0.0
    ended: float = 0.0

    def wait(self, timeout: float | None = None) -> bool:
        return self.done.wait(timeout)


class RuntimeApi:
    """The Runtime API on 127.0.0.1: a queue of invocations served to one polling client."""

    def __init__(self, function_arn: str) -> None:
        self.function_arn = function_arn
        self.pending: queue.Queue[Invocation | None] = queue.Queue()
        self.current: Invocation | None = None
        self.init_errors: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="lambda-runtime-api", daemon=True)

    @property
    def address(self) -> str:
        host, port = self._server.server_address[:2]
        return f"{host!s}:{port}"

    def start(self) -> RuntimeApi:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.pending.put(None)  # releases a held `next`
        self._server.shutdown()
        self._server.server_close()

    def _next(self) -> Invocation | None:
        while True:
            item = self.pending.get()
            if item is None:
                return None
            item.started = time.time()
            item.deadline_ms = int((item.started + item.timeout) * 1000)
            with self._lock:
                self.current = item
            return item

    def _finish(self, request_id: str, result: Any = None, error: dict[str, Any] | None = None) -> bool:
        with self._lock:
            invocation = self.current
            if invocation is None or invocation.request_id != request_id:
                return False
            self.current = None
        invocation.result, invocation.error, invocation.ended = result, error, time.time()
        invocation.done.set()
        return True

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        api = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # awslambdaric keeps the connection alive

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _reply(self, status: int, body: bytes = b"{}", headers: Mapping[str, str] | None = None) -> None:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                for key, value in (headers or {}).items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(body)

            def _body(self) -> bytes:
                length = int(self.headers.get("Content-Length") or 0)
                return self.rfile.read(length) if length else b""

            def do_GET(self) -> None:
                if self.path != f"{API}/invocation/next":
                    self._reply(404)
                    return
                invocation = api._next()
                if invocation is None:  # shutting down: the process is about to be stopped
                    self.close_connection = True
                    return
                self._reply(
                    200,
                    json.dumps(invocation.event).encode(),
                    {
                        "Lambda-Runtime-Aws-Request-Id": invocation.request_id,
                        "Lambda-Runtime-Deadline-Ms": str(invocation.deadline_ms),
                        "Lambda-Runtime-Invoked-Function-Arn": api.function_arn,
                        "Lambda-Runtime-Trace-Id": f"Root=1-{int(time.time()):08x}-{uuid.uuid4().hex[:24]}",
                    },
                )

            def do_POST(self) -> None:
                body = self._body()
                parts = self.path.removeprefix(f"{API}/").split("/")
                if parts == ["init", "error"]:
                    api.init_errors.append(_json_or_text(body))
                    self._reply(202)
                elif len(parts) == 3 and parts[0] == "invocation" and parts[2] in ("response", "error"):
                    payload = _json_or_text(body)
                    if parts[2] == "response":
                        known = api._finish(parts[1], result=payload)
                    else:
                        known = api._finish(parts[1], error=payload if isinstance(payload, dict) else {"raw": payload})
                    self._reply(202 if known else 400)
                else:
                    self._reply(404)

        return Handler


def _json_or_text(body: bytes) -> Any:
    try:
        return json.loads(body) if body else None
    except ValueError:
        return body.decode(errors="replace")


def runtime_dir(target: Path) -> Path:
    """A directory with what the managed Python runtime provides (symlinks into this interpreter's packages)."""
    target.mkdir(parents=True, exist_ok=True)
    for name in RUNTIME_PACKAGES:
        spec = importlib.util.find_spec(name)
        if spec is None or spec.origin is None:
            raise RuntimeError(f"{name} is not installed here: pip install awslambdaric boto3")
        origin = Path(spec.origin)
        source = origin.parent if origin.name == "__init__.py" else origin
        link = target / source.name
        if not link.exists():
            link.symlink_to(source, target_is_directory=source.is_dir())
    return target


class LambdaFunction:
    """One function's execution environment: the unpacked zip run by awslambdaric against a RuntimeApi."""

    def __init__(
        self,
        zip_path: Path,
        configuration: Mapping[str, Any],
        credentials: Mapping[str, str],
        *,
        endpoint_url: str,
        log_sink: Callable[[str], None] | None = None,
        work_dir: Path | None = None,
    ) -> None:
        self.configuration = dict(configuration)
        self.name: str = configuration["FunctionName"]
        self.arn: str = configuration["FunctionArn"]
        self.timeout: float = float(configuration.get("Timeout", 3))
        self.credentials = dict(credentials)
        self.endpoint_url = endpoint_url
        self.log_sink = log_sink
        self.log_stream = f"{time.strftime('%Y/%m/%d', time.gmtime())}/[$LATEST]{uuid.uuid4().hex}"
        self._tmp = tempfile.TemporaryDirectory(prefix="lambda-") if work_dir is None else None
        self.work_dir = Path(self._tmp.name) if self._tmp is not None else work_dir or Path()
        self.task_root = self.work_dir / "task"
        with zipfile.ZipFile(zip_path) as zf:
            zf.extractall(self.task_root)
        self.runtime = runtime_dir(self.work_dir / "runtime")
        self.api = RuntimeApi(self.arn).start()
        self.invocations: list[Invocation] = []
        self.timeouts = 0
        self._process: subprocess.Popen[str] | None = None
        self._readers: list[threading.Thread] = []
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self._watch = threading.Thread(target=self._watch_deadlines, name=f"lambda-{self.name}-watch", daemon=True)

    # -- the execution environment ------------------------------------------------------------------------------

    def environment(self) -> dict[str, str]:
        region = self.arn.split(":")[3]
        runtime = str(self.configuration.get("Runtime", "python3.12"))
        configured = self.configuration.get("Environment", {}).get("Variables", {})
        return {
            **{k: str(v) for k, v in configured.items()},
            "PATH": "/usr/local/bin:/usr/bin:/bin",
            "LANG": "en_US.UTF-8",
            "TZ": ":UTC",
            "PYTHONPATH": f"{self.task_root}{os.pathsep}{self.runtime}",
            "PYTHONUNBUFFERED": "1",
            "LAMBDA_TASK_ROOT": str(self.task_root),
            "LAMBDA_RUNTIME_DIR": str(self.runtime),
            "AWS_LAMBDA_RUNTIME_API": self.api.address,
            "_HANDLER": str(self.configuration["Handler"]),
            "AWS_EXECUTION_ENV": f"AWS_Lambda_{runtime}",
            "AWS_LAMBDA_FUNCTION_NAME": self.name,
            "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(self.configuration.get("MemorySize", 128)),
            "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{self.name}",
            "AWS_LAMBDA_LOG_STREAM_NAME": self.log_stream,
            "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
            "AWS_REGION": region,
            "AWS_DEFAULT_REGION": region,
            "AWS_ACCESS_KEY_ID": self.credentials["AccessKeyId"],
            "AWS_SECRET_ACCESS_KEY": self.credentials["SecretAccessKey"],
            "AWS_SESSION_TOKEN": self.credentials.get("SessionToken", ""),
            # Emulator only: every AWS endpoint is the local emulator, and there is no instance metadata service.
            "AWS_ENDPOINT_URL": self.endpoint_url,
            "AWS_EC2_METADATA_DISABLED": "true",
        }

    def start(self) -> LambdaFunction:
        self._spawn()
        self._watch.start()
        return self

    def _spawn(self) -> None:
        handler = str(self.configuration["Handler"])
        process = subprocess.Popen(
            [sys.executable, "-S", "-m", "awslambdaric", handler],
            cwd=self.task_root,
            env=self.environment(),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            bufsize=1,
        )
        assert process.stdout is not None
        reader = threading.Thread(target=self._read, args=(process.stdout,), name=f"lambda-{self.name}-log")
        reader.daemon = True
        reader.start()
        with self._lock:
            self._process = process
            self._readers.append(reader)

    def _read(self, stream: Any) -> None:
        for line in stream:
            if self.log_sink is not None:
                self.log_sink(line.rstrip("\n"))

    def _watch_deadlines(self) -> None:
        """Lambda stops an invocation at its timeout and replaces the environment: so does this."""
        while not self._stopping.wait(0.2):
            current = self.api.current
            if current is not None and time.time() * 1000 > current.deadline_ms + 1000:
                self.timeouts += 1
                current.timed_out = True
                self.api._finish(current.request_id, error={"errorType": "Sandbox.Timedout"})
                self._kill()
                if not self._stopping.is_set():
                    self._spawn()

    def _kill(self) -> None:
        with self._lock:
            process = self._process
        if process is not None and process.poll() is None:
            process.terminate()  # awslambdaric stops on SIGTERM
            try:
                process.wait(5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(5)

    def stop(self) -> None:
        self._stopping.set()
        if self._watch.is_alive():
            self._watch.join()
        self._kill()
        self.api.stop()
        for reader in self._readers:
            reader.join(5)
        if self._tmp is not None:
            self._tmp.cleanup()

    def __enter__(self) -> LambdaFunction:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()

    # -- invoking ----------------------------------------------------------------------------------------------

    def invoke(self, event: Any) -> Invocation:
        """Queue an invocation (asynchronous, as EventBridge invokes); `wait()` on the result to block."""
        invocation = Invocation(request_id=str(uuid.uuid4()), event=event, timeout=self.timeout)
        self.invocations.append(invocation)
        self.api.pending.put(invocation)
        return invocation

    @property
    def exit_code(self) -> int | None:
        with self._lock:
            return None if self._process is None else self._process.poll()
