"""Run the Lambda functions deployed to the emulator (e.g. by `terraform apply` of the module) when a rule fires.

moto stores a function's zip and configuration but cannot run it. `gate emulator` wires this in as the fallback of
`eventbridge.Targets`: an EventBridge rule whose target is a function that exists in the emulator runs that
function's own code from its own zip, asynchronously (as EventBridge invokes Lambda), one process per invocation:

* the zip is unpacked once per code hash into a task root, first on `sys.path` (the emulator's interpreter supplies
  the runtime's boto3, as the managed runtime does);
* the environment is the function's configured variables, Lambda's own (`AWS_LAMBDA_FUNCTION_NAME`, `AWS_REGION`,
  `LAMBDA_TASK_ROOT`...), `AWS_ENDPOINT_URL` pointing at the emulator, and the emulator's dummy credentials;
* the function's timeout is enforced (the process is killed), and its output goes to its log group
  `/aws/lambda/NAME` (where `gate outcomes` reads it) and, one line per invocation, to the emulator's console.

Not emulated: IAM (the function runs with any-key credentials, the emulator does not enforce policies unless a test
turns that on), concurrency limits, retries and dead-letter queues, layers and container images. The deployed test
(tests/e2e/deployed) runs the zip under AWS's own runtime client and the role's credentials instead.
"""

from __future__ import annotations

import io
import json
import logging
import os
import subprocess
import sys
import tempfile
import threading
import time
import uuid
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from emulator.eventbridge import LambdaInvoke
from emulator.guard import OnceLog

__all__ = ["LocalFunctions"]

log = logging.getLogger(__name__)

# Runs in the function's process: the handler named by the configuration, the event on stdin, a Lambda context.
RUNNER = """
import importlib, json, os, sys, time
root = os.environ["LAMBDA_TASK_ROOT"]
sys.path.insert(0, root)
deadline = float(os.environ["_GATE_EMULATOR_DEADLINE"])

class Context:
    function_name = os.environ["AWS_LAMBDA_FUNCTION_NAME"]
    function_version = "$LATEST"
    invoked_function_arn = os.environ["_GATE_EMULATOR_ARN"]
    memory_limit_in_mb = os.environ["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"]
    aws_request_id = os.environ["_GATE_EMULATOR_REQUEST_ID"]
    log_group_name = os.environ["AWS_LAMBDA_LOG_GROUP_NAME"]
    log_stream_name = os.environ["AWS_LAMBDA_LOG_STREAM_NAME"]

    @staticmethod
    def get_remaining_time_in_millis():
        return max(0, int((deadline - time.time()) * 1000))

module, function = os.environ["_HANDLER"].rsplit(".", 1)
handler = getattr(importlib.import_module(module), function)
handler(json.load(sys.stdin), Context())
"""


class LocalFunctions:
    """Function ARN -> an invoker that runs the deployed zip, for functions that exist in the emulator."""

    def __init__(self, endpoint: str, echo: Callable[[str], None] | None = None) -> None:
        self.endpoint = endpoint
        self.echo = echo or (lambda line: print(line, flush=True))
        self._roots: dict[str, Path] = {}
        self._lock = threading.Lock()
        self._work = Path(tempfile.mkdtemp(prefix="gate-emulator-functions-"))
        self.errors = OnceLog(log, "running a deployed function")
        self.invocations: list[dict[str, Any]] = []  # {function, request_id, seconds, status}
        self._said: set[str] = set()

    def lookup(self, arn: str) -> LambdaInvoke | None:
        """An invoker when `arn` names a zip function deployed to the emulator, else None (the event is dropped)."""
        function = self._function(arn)
        if function is None or not getattr(function, "code_bytes", b""):
            return None

        def invoke(event: dict[str, Any]) -> None:
            threading.Thread(
                target=self._run_logged, args=(arn, event), name=f"function-{function.function_name}", daemon=True
            ).start()

        return invoke

    @staticmethod
    def _function(arn: str) -> Any:
        from moto.awslambda.models import lambda_backends

        parts = arn.split(":")
        if len(parts) < 7 or parts[2] != "lambda":
            return None
        region, account, name = parts[3], parts[4], parts[6]
        try:
            return lambda_backends[account][region].get_function(name)
        except Exception:  # unknown function or region: not ours to run
            return None

    def _run_logged(self, arn: str, event: dict[str, Any]) -> None:
        try:
            self.run(arn, event)
        except LookupError as exc:  # no interpreter for the zip: say so once, on the console
            if exc.args[0] not in self._said:
                self._said.add(exc.args[0])
                self.echo(f"[{arn.rsplit(':', 1)[-1]}] cannot run: {exc.args[0]}")
        except Exception as exc:  # an invocation that cannot even start: logged once per distinct reason
            self.errors.failed(exc)

    def _root(self, function: Any) -> Path:
        """The zip unpacked once per code hash."""
        digest = str(function.code_sha_256)
        with self._lock:
            root = self._roots.get(digest)
            if root is None:
                root = self._work / digest.replace("/", "_").replace("+", "-")
                with zipfile.ZipFile(io.BytesIO(function.code_bytes)) as archive:
                    archive.extractall(root)
                self._roots[digest] = root
        return root

    def run(self, arn: str, event: dict[str, Any]) -> int:
        """One invocation, to its end; the process's exit status (-9 when the timeout killed it)."""
        function = self._function(arn)
        if function is None:
            raise LookupError(f"function {arn} is gone")
        root = self._root(function)
        request_id = str(uuid.uuid4())
        started = time.time()
        timeout = float(function.timeout or 3)
        stream = f"{time.strftime('%Y/%m/%d', time.gmtime(started))}/[$LATEST]{request_id.replace('-', '')}"
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "LANG": "C.UTF-8",
            **{str(k): str(v) for k, v in (function.environment_vars or {}).items()},
            "AWS_ENDPOINT_URL": self.endpoint,
            "AWS_REGION": function.region,
            "AWS_DEFAULT_REGION": function.region,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_EC2_METADATA_DISABLED": "true",
            "AWS_LAMBDA_FUNCTION_NAME": function.function_name,
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(function.memory_size),
            "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
            "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{function.function_name}",
            "AWS_LAMBDA_LOG_STREAM_NAME": stream,
            "LAMBDA_TASK_ROOT": str(root),
            "_HANDLER": str(function.handler),
            "_GATE_EMULATOR_ARN": arn,
            "_GATE_EMULATOR_REQUEST_ID": request_id,
            "_GATE_EMULATOR_DEADLINE": str(started + timeout),
        }
        proc = subprocess.Popen(
            [_interpreter(root), "-c", RUNNER],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            cwd=root,
            env=env,
            text=True,
        )
        try:
            output, _ = proc.communicate(json.dumps(event), timeout=timeout)
            status = proc.returncode
        except subprocess.TimeoutExpired:
            proc.kill()
            output, _ = proc.communicate()
            status = -9
        lines = [line for line in (output or "").splitlines() if line.strip()]
        seconds = time.time() - started
        verdict = "ok" if status == 0 else ("timed out" if status == -9 else f"failed (exit {status})")
        lines.append(f"REPORT RequestId: {request_id} Duration: {seconds * 1000:.0f} ms {verdict}")
        self._to_log_group(function, stream, lines, started)
        self.invocations.append(
            {"function": function.function_name, "request_id": request_id, "seconds": seconds, "status": status}
        )
        kind = event.get("detail-type", "?")
        last: dict[str, str] = {}  # each instance's last decision of this invocation
        for line in lines:
            instance, summary = _decision(line)
            if summary:
                last.pop(instance, None)
                last[instance] = summary
        said = "; ".join(last.values()) or verdict
        self.echo(f"[{function.function_name}] {kind}: {said}")
        return status

    def _to_log_group(self, function: Any, stream: str, lines: list[str], started: float) -> None:
        """Into the function's log group (the module creates it), over the API as Lambda does; no group: console
        only."""
        import boto3

        logs = boto3.client(
            "logs",
            region_name=function.region,
            endpoint_url=self.endpoint,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )
        group = f"/aws/lambda/{function.function_name}"
        try:
            logs.create_log_stream(logGroupName=group, logStreamName=stream)
        except logs.exceptions.ResourceNotFoundException:
            return
        stamp = int(started * 1000)
        events: list[Any] = [{"timestamp": stamp + i, "message": line} for i, line in enumerate(lines)]
        logs.put_log_events(logGroupName=group, logStreamName=stream, logEvents=events)


def _interpreter(root: Path) -> str:
    """The Python the zip was built for: native modules (`*.cpython-312-*.so`) only load in their own version. This
    interpreter when the zip is pure or built for it (`scripts/package_lambda.py --python-version`), else
    `pythonX.Y` from PATH if it runs; else a LookupError that says how to build a zip this machine can run."""
    import re
    import shutil

    tags = {m.group(1) for so in root.rglob("*.so") if (m := re.search(r"\.cpython-3(\d+)", so.name))}
    mine = f"{sys.version_info.minor}"
    if not tags or tags == {mine}:
        return sys.executable
    wanted = f"3.{sorted(tags)[0]}"
    found = shutil.which(f"python{wanted}")
    if found and subprocess.run([found, "-c", "import boto3"], capture_output=True, timeout=60).returncode == 0:
        return found
    here = f"3.{mine}"
    raise LookupError(
        f"the function's zip is built for Python {wanted} (its native modules), and no python{wanted} with boto3 is "
        f"on PATH: build the zip for this emulator's Python, e.g. `.venv/bin/python scripts/package_lambda.py "
        f"--python-version {here}`, and apply again"
    )


def _decision(line: str) -> tuple[str, str]:
    """(instance, `held i-0abc…: busy: agent …`) from one of the gate's JSON decision lines, else ('', '')."""
    try:
        record = json.loads(line)
    except ValueError:
        return "", ""
    if not isinstance(record, dict) or record.get("event") != "decision":
        return "", ""
    instance = str(record.get("instance", "-"))
    reason = str(record.get("reason", ""))
    return instance, f"{record.get('Outcome', '?')} {instance}: {reason[:100]}"
