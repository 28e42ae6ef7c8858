"""A fake EC2 instance metadata service for one instance, IMDSv2 only, served on 127.0.0.1 (werkzeug).

What `examples/instance-guard/gate-guard` reads, after the EC2 User Guide ("Use the Instance Metadata Service to
access instance metadata", IMDSv2) and the EC2 Auto Scaling User Guide ("Retrieve the target lifecycle state
through instance metadata"):

* `PUT /latest/api/token` with `X-aws-ec2-metadata-token-ttl-seconds` (1-21600) answers a token; a missing or bad
  TTL answers 400. Every `GET` needs a live token in `X-aws-ec2-metadata-token`, else 401 (HttpTokens=required).
* `GET /latest/meta-data/instance-id` and `GET /latest/meta-data/autoscaling/target-lifecycle-state`.

The target lifecycle state follows the AWS emulator's view of the instance, asked over HTTP on every read
(`DescribeAutoScalingInstances`, and `DescribeWarmPool` for the pool's state): see `target_lifecycle_state`. An
instance in no group answers 404; an AWS error answers 500. `calls` records method, path and status, never headers
(so never a token). Token lifetimes run on the injected clock.

`python -m emulator.imds --aws-endpoint URL --instance-id ID [--port N]` serves one in the foreground.
"""

from __future__ import annotations

import argparse
import secrets
import threading
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError
from werkzeug.wrappers import Request, Response

from emulator.httpserver import LocalServer
from gate.domain.clock import Clock, SystemClock

__all__ = ["FakeImds", "target_lifecycle_state"]

TOKEN_PATH = "/latest/api/token"
TTL_HEADER = "X-aws-ec2-metadata-token-ttl-seconds"
TOKEN_HEADER = "X-aws-ec2-metadata-token"
MAX_TTL = 21_600  # six hours, the longest token IMDS issues
STATE_PATH = "/latest/meta-data/autoscaling/target-lifecycle-state"
INSTANCE_ID_PATH = "/latest/meta-data/instance-id"


def target_lifecycle_state(lifecycle_state: str | None, pool_state: str | None = None) -> str | None:
    """The steady state Auto Scaling is moving an instance to (InService, Terminated, Standby, Detached or
    Warmed:<Stopped|Running|Hibernated|Terminated>), from its current lifecycle state; None for no group (404).

    A launch (`Pending*`) heads for InService; any `Terminating*` for Terminated (for `Terminating:Retained` AWS
    documents no value: assumed); entering a warm pool (`Warmed:Pending*`, also a scale-in with ReuseOnScaleIn) for
    the pool's state (default Stopped)."""
    if lifecycle_state is None:
        return None
    if lifecycle_state == "InService" or lifecycle_state.startswith("Pending"):
        return "InService"
    if lifecycle_state.startswith("Terminat"):
        return "Terminated"
    if lifecycle_state in ("EnteringStandby", "Standby"):
        return "Standby"
    if lifecycle_state in ("Detaching", "Detached"):
        return "Detached"
    if lifecycle_state.startswith("Warmed:Terminat"):
        return "Warmed:Terminated"
    if lifecycle_state.startswith("Warmed:Pending"):
        return f"Warmed:{pool_state or 'Stopped'}"
    if lifecycle_state.startswith("Warmed:"):
        return lifecycle_state  # Warmed:Stopped, Warmed:Running, Warmed:Hibernated: already there
    return None


class FakeImds(LocalServer):
    """The metadata service of `instance_id`, reading its Auto Scaling state from `aws_endpoint`."""

    thread_name = "fake-imds"
    record_query = False  # the call log keeps no query

    def __init__(
        self,
        instance_id: str,
        *,
        aws_endpoint: str,
        region: str = "us-east-1",
        clock: Clock | None = None,
        port: int = 0,
    ) -> None:
        self.instance_id = instance_id
        self.clock: Clock = clock or SystemClock()
        self.url = ""
        self.calls: list[dict[str, Any]] = []
        self._port = port
        self._lock = threading.Lock()
        self._tokens: dict[str, float] = {}  # token -> expiry on self.clock
        session = boto3.session.Session(
            aws_access_key_id="testing", aws_secret_access_key="testing", region_name=region
        )
        # One try, short timeouts: IMDS answers at once or not at all, and the guard does its own retrying.
        config = Config(retries={"max_attempts": 1, "mode": "standard"}, connect_timeout=2, read_timeout=2)
        self._autoscaling = session.client("autoscaling", endpoint_url=aws_endpoint, config=config)

    def _on_started(self, port: int) -> None:
        self.url = f"http://127.0.0.1:{port}"

    def target_state(self) -> str | None:
        """What IMDS serves now (None: the instance is in no group). Raises on an AWS error."""
        found = self._autoscaling.describe_auto_scaling_instances(InstanceIds=[self.instance_id])
        items = found.get("AutoScalingInstances", [])
        if not items:
            return None
        state, group = items[0]["LifecycleState"], items[0]["AutoScalingGroupName"]
        pool = None
        if state.startswith("Warmed:Pending"):
            config = self._autoscaling.describe_warm_pool(AutoScalingGroupName=group).get("WarmPoolConfiguration")
            pool = (config or {}).get("PoolState")
        return target_lifecycle_state(state, pool)

    # -- HTTP -------------------------------------------------------------------------------------------------
    def _serve(self, request: Request) -> Response:
        if request.path == TOKEN_PATH:
            return self._token(request) if request.method == "PUT" else _text("", 405)
        if request.method != "GET":
            return _text("", 405)
        if not self._valid(request.headers.get(TOKEN_HEADER)):
            return _text("", 401)
        if request.path == INSTANCE_ID_PATH:
            return _text(self.instance_id)
        if request.path == STATE_PATH:
            try:
                state = self.target_state()
            except (BotoCoreError, ClientError):
                return _text("", 500)
            return _text(state) if state is not None else _text("", 404)
        return _text("", 404)

    def _token(self, request: Request) -> Response:
        raw = request.headers.get(TTL_HEADER, "")
        if not raw.isdigit() or not 1 <= int(raw) <= MAX_TTL:
            return _text("", 400)
        token = secrets.token_urlsafe(32)
        with self._lock:
            self._tokens[token] = self.clock.now() + int(raw)
        return _text(token, headers={TTL_HEADER: raw})

    def _valid(self, token: str | None) -> bool:
        with self._lock:
            expiry = self._tokens.get(token or "")
            return expiry is not None and self.clock.now() < expiry


def _text(body: str, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(body, status=status, headers=headers, content_type="text/plain")


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m emulator.imds", description=__doc__.split("\n")[0])
    parser.add_argument("--aws-endpoint", required=True, help="the AWS emulator, e.g. http://127.0.0.1:5000")
    parser.add_argument("--instance-id", required=True, help="the instance this metadata service belongs to")
    parser.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (0 = any free port)")
    parser.add_argument("--region", default="us-east-1")
    args = parser.parse_args()
    imds = FakeImds(args.instance_id, aws_endpoint=args.aws_endpoint, region=args.region, port=args.port).start()
    print(f"fake IMDS for {args.instance_id}: export GATE_GUARD_IMDS_ENDPOINT={imds.url}   (Ctrl-C stops)", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        imds.stop()


if __name__ == "__main__":
    main()
