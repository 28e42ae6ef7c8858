"""The deployed unit, proven as deployed: `terraform apply` of the module -> EventBridge rules -> the packaged zip run
by AWS's runtime interface client under the function's IAM role -> the lifecycle hook, then `terraform destroy`.

Nothing here calls the gate's Python code in-process. The AWS emulator (moto + lifecycle hooks) and the fake Azure
DevOps run on 127.0.0.1; the real hashicorp/aws provider (from a local filesystem mirror) applies the module to the
emulator; EventBridge delivery (emulator/eventbridge.py) routes the group's lifecycle events to the rule whose
pattern matches and fires the tick rule's schedule (six times faster than rate(1 minute)); each event invokes the
function in emulator/lambda_runtime.py: the zip built by scripts/package_lambda.py for this interpreter's
version, unpacked and run by `awslambdaric` with the environment Terraform gave the function and the temporary
credentials of the function's role, with moto's IAM enforcement on (every request must be signed by a known key
and its action allowed by that principal's policies: moto evaluates actions, not resource ARNs or conditions).
The function's stdout is written to its log group with those same role credentials, as Lambda does.
"""

from __future__ import annotations

import base64
import hashlib
import json
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import pytest

from tests.infra.conftest import MODULE, Tool, copy_tree, mirror_cli_env

# One stack for the whole module: under `pytest -n` every test here goes to the same worker (--dist loadgroup).
pytestmark = [pytest.mark.timeout(900), pytest.mark.xdist_group("deployed")]

REGION = "us-east-1"
NAME = "gate-e2e"
GROUP = "ci-agents"
HOOK = "termination-gate"
POOL = "linux-agents"
BUILD_SECONDS = 30.0  # long enough to be seen running by the first invocations, even on a loaded host
SCHEDULE_SPEEDUP = 6.0  # rate(1 minute) -> a tick every 10 s


# --- the pieces ------------------------------------------------------------------------------------------------


@dataclass
class LogGroupWriter:
    """Writes the function's stdout lines to its log group with the role's credentials, as the Lambda service does."""

    logs: Any
    group: str
    stream: str
    lines: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self.logs.create_log_stream(logGroupName=self.group, logStreamName=self.stream)

    def __call__(self, line: str) -> None:
        with self._lock:
            self.lines.append(line)
            try:
                self.logs.put_log_events(
                    logGroupName=self.group,
                    logStreamName=self.stream,
                    logEvents=[{"timestamp": int(time.time() * 1000), "message": line}],
                )
            except Exception as exc:  # a denied write is a finding: the test reports it
                self.failures.append(f"{type(exc).__name__}: {exc}")


def b64sha256(path: Path) -> str:
    return base64.b64encode(hashlib.sha256(path.read_bytes()).digest()).decode()


ROOT_TF = """\
terraform {
  required_providers {
    aws = { source = "hashicorp/aws" }
  }
}

variable "access_key" { type = string }
variable "secret_key" {
  type      = string
  sensitive = true
}
variable "azure_org_url" { type = string }
variable "pat_secret_arn" { type = string }
variable "lambda_zip_path" { type = string }
variable "lambda_runtime" { type = string }

# Every endpoint comes from AWS_ENDPOINT_URL (the emulator); no account lookup, no metadata service.
provider "aws" {
  region                      = "%(region)s"
  access_key                  = var.access_key
  secret_key                  = var.secret_key
  skip_credentials_validation = true
  skip_requesting_account_id  = true
  skip_metadata_api_check     = true
}

module "gate" {
  source = "./termination-gate"

  name                    = "%(name)s"
  autoscaling_group_names = ["%(group)s"]
  hook                    = { name = "%(hook)s" }
  azure_devops = {
    org_url        = var.azure_org_url
    pools          = ["%(pool)s"]
    pat_secret_arn = var.pat_secret_arn
  }
  lambda_zip_path = var.lambda_zip_path

  # Short loops for a test: the tick re-checks for 5 s, an idle agent needs no second look, and the idle victim
  # waits a 20 s lag bound instead of 60 s of real time (the rule itself is tested in tests/functional/judgment).
  lambda     = { runtime = var.lambda_runtime, timeout_seconds = 30 }
  tick       = { budget_seconds = 5, recheck_interval_seconds = 1 }
  hold       = { idle_confirm_seconds = 0, assignment_lag_seconds = 20 }
  monitoring = { log_level = "DEBUG" }
}

output "function_name" { value = module.gate.lambda_function_name }
output "role_arn" { value = module.gate.role_arn }
output "log_group_name" { value = module.gate.log_group_name }
"""


@dataclass
class Stack:
    sandbox: Any
    admin: Any  # boto3 session with the admin user's keys (IAM enforcement is on)
    terraform: Tool
    workdir: Path
    env: dict[str, str]
    zip_path: Path
    auth: Any  # tests.support.iam.Enforcement
    group: Any  # emulator.sandbox.Group
    outputs: dict[str, Any] = field(default_factory=dict)
    destroyed: bool = False

    def destroy(self) -> None:
        """Once: the test of the destroy runs it, and the fixture's clean-up only when that test did not."""
        if not self.destroyed:
            self.tf("destroy", "-no-color", "-input=false", "-auto-approve", timeout=900)
            self.destroyed = True

    def client(self, service: str) -> Any:
        return self.admin.client(service, endpoint_url=self.sandbox.aws_endpoint)

    def tf(self, *args: str, timeout: float = 600) -> str:
        result = self.terraform.run(list(args), cwd=self.workdir, env=self.env, timeout=timeout)
        assert result.returncode == 0, f"terraform {' '.join(args)} failed\n{result.output}"
        return result.stdout


@pytest.fixture(scope="module")
def terraform() -> Tool:
    from tests.infra.conftest import _tool

    return _tool("terraform")


@pytest.fixture(scope="module")
def stack(terraform: Tool, tmp_path_factory: pytest.TempPathFactory, lambda_zip: Path) -> Iterator[Stack]:
    from emulator.sandbox import PAT, Sandbox
    from tests.support import iam

    base = tmp_path_factory.mktemp("deployed")
    env = mirror_cli_env(base)  # skips with the reason when the provider mirror is absent
    zip_path = lambda_zip  # built once per session (tests/support/package.py)
    workdir = base / "root"
    copy_tree(MODULE, workdir / "termination-gate")
    (workdir / "main.tf").write_text(
        ROOT_TF % {"region": REGION, "name": NAME, "group": GROUP, "hook": HOOK, "pool": POOL}
    )

    with Sandbox(region=REGION) as sandbox, iam.enforcement() as auth:
        group = sandbox.create_group(GROUP, size=3, hook=HOOK, pool=POOL, with_hook=False)
        secret = sandbox.client("secretsmanager").create_secret(Name="ado/pat", SecretString=json.dumps({"pat": PAT}))
        keys = iam.admin_user(sandbox.client("iam"))
        auth.enforce()  # from here on every request needs a known key and a permitting policy
        admin = boto3.session.Session(
            aws_access_key_id=keys["AccessKeyId"], aws_secret_access_key=keys["SecretAccessKey"], region_name=REGION
        )
        env = {
            **env,
            "AWS_ENDPOINT_URL": sandbox.aws_endpoint,
            "AWS_EC2_METADATA_DISABLED": "true",
            "AWS_ACCESS_KEY_ID": keys["AccessKeyId"],
            "AWS_SECRET_ACCESS_KEY": keys["SecretAccessKey"],
            "TF_VAR_access_key": keys["AccessKeyId"],
            "TF_VAR_secret_key": keys["SecretAccessKey"],
            "TF_VAR_azure_org_url": sandbox.azure_url,
            "TF_VAR_pat_secret_arn": secret["ARN"],
            "TF_VAR_lambda_zip_path": str(zip_path),
            "TF_VAR_lambda_runtime": f"python{sys.version_info.major}.{sys.version_info.minor}",
        }
        s = Stack(sandbox, admin, terraform, workdir, env, zip_path, auth, group)
        s.tf("init", "-no-color", "-input=false")
        s.tf("apply", "-no-color", "-input=false", "-auto-approve", timeout=420)
        s.outputs = {k: v["value"] for k, v in json.loads(s.tf("output", "-json")).items()}
        try:
            yield s
        finally:
            s.destroy()


@dataclass
class Deployed:
    stack: Stack
    function: Any
    logs: LogGroupWriter
    scheduler: Any
    configuration: dict[str, Any]


@pytest.fixture(scope="module")
def deployed(stack: Stack) -> Iterator[Deployed]:
    from emulator.eventbridge import Scheduler
    from tests.support import iam
    from tests.support.lambda_runtime import LambdaFunction

    lam = stack.client("lambda")
    configuration = lam.get_function_configuration(FunctionName=stack.outputs["function_name"])
    assert configuration["CodeSha256"] == b64sha256(stack.zip_path), "the function must be the zip we built"
    # The Lambda service assumes the function's role (its trust policy names lambda.amazonaws.com).
    creds = iam.service_role_credentials(stack.client("sts"), configuration["Role"], NAME, stack.auth)
    role = boto3.session.Session(
        aws_access_key_id=creds["AccessKeyId"],
        aws_secret_access_key=creds["SecretAccessKey"],
        aws_session_token=creds["SessionToken"],
        region_name=REGION,
    )
    function = LambdaFunction(stack.zip_path, configuration, creds, endpoint_url=stack.sandbox.aws_endpoint)
    writer = LogGroupWriter(
        role.client("logs", endpoint_url=stack.sandbox.aws_endpoint),
        stack.outputs["log_group_name"],
        function.log_stream,
    )
    function.log_sink = writer
    emulator = stack.sandbox.emulator
    assert emulator is not None
    scheduler = Scheduler(emulator.account_id, REGION, emulator.targets, speedup=SCHEDULE_SPEEDUP)
    with function:
        emulator.targets.register(configuration["FunctionArn"], function.invoke)
        with scheduler:
            yield Deployed(stack, function, writer, scheduler, configuration)
        emulator.targets.unregister(configuration["FunctionArn"])


# --- the scenario ------------------------------------------------------------------------------------------------


@dataclass
class Outcome:
    busy: str
    idle: str
    survivor: str
    build_id: int
    started: float
    history: list[dict[str, Any]]
    decisions: list[dict[str, Any]]


@pytest.fixture(scope="module")
def scale_in(deployed: Deployed) -> Outcome:
    stack = deployed.stack
    sandbox, group = stack.sandbox, stack.group
    busy, idle, survivor = group.instances
    asg = stack.client("autoscaling")
    asg.set_instance_protection(AutoScalingGroupName=GROUP, InstanceIds=[survivor], ProtectedFromScaleIn=True)
    build_id = sandbox.ado.start_build(group.agents[busy], duration=BUILD_SECONDS)
    started = time.time()
    asg.set_desired_capacity(AutoScalingGroupName=GROUP, DesiredCapacity=1)

    deadline = started + BUILD_SECONDS + 150
    emulator = sandbox.emulator
    while time.time() < deadline:
        done = {h["instance_id"] for h in emulator.history() if h["what"] in ("complete", "timeout")}
        if {busy, idle} <= done:
            break
        time.sleep(1)
    time.sleep(2)  # the last invocation's log lines
    events = stack.client("logs").filter_log_events(logGroupName=stack.outputs["log_group_name"])["events"]
    decisions = []
    for e in events:
        try:
            line = json.loads(e["message"])
        except ValueError:
            continue
        if line.get("event") == "decision":
            decisions.append(line)
    return Outcome(busy, idle, survivor, build_id, started, emulator.history(), decisions)


def _completions(outcome: Outcome, instance: str) -> list[dict[str, Any]]:
    return [h for h in outcome.history if h["instance_id"] == instance and h["what"] in ("complete", "timeout")]


def _agent_deleted(deployed: Deployed, instance: str) -> bool:
    """The instance's agent registration was deleted through the REST API (by the gate), not just disabled."""
    agent = deployed.stack.sandbox.ado.agent(deployed.stack.group.agents[instance])
    return agent is not None and agent["deleted"] and agent["deleted_by"] == "api"


def _story(deployed: Deployed, outcome: Outcome) -> str:
    """What happened, for a failure message: the lifecycle history, the invocations and the function's last lines."""
    invocations = [
        (i.event.get("detail-type"), "timed out" if i.timed_out else (i.error or "ok"))
        for i in deployed.function.invocations
    ]
    lines = "\n".join(deployed.logs.lines[-40:])
    return f"history: {outcome.history}\ninvocations: {invocations}\nlast log lines:\n{lines}"


def test_the_idle_victim_is_released_and_its_agent_deleted(deployed: Deployed, scale_in: Outcome) -> None:
    done_list = _completions(scale_in, scale_in.idle)
    assert len(done_list) == 1, _story(deployed, scale_in)
    [done] = done_list
    assert (done["what"], done["result"]) == ("complete", "CONTINUE"), scale_in.history
    assert _agent_deleted(deployed, scale_in.idle)


def test_the_busy_victim_is_held_through_its_build_then_released(deployed: Deployed, scale_in: Outcome) -> None:
    done_list = _completions(scale_in, scale_in.busy)
    assert len(done_list) == 1, _story(deployed, scale_in)
    [done] = done_list
    assert (done["what"], done["result"]) == ("complete", "CONTINUE"), scale_in.history
    build = deployed.stack.sandbox.ado.build(scale_in.build_id)
    assert build["result"] == "succeeded" and build["finished_at"] is not None
    assert done["time"] >= build["finished_at"], "released before its build finished"
    assert _agent_deleted(deployed, scale_in.busy)
    groups = deployed.stack.client("autoscaling").describe_auto_scaling_groups(AutoScalingGroupNames=[GROUP])
    states = {i["InstanceId"]: i["LifecycleState"] for i in groups["AutoScalingGroups"][0]["Instances"]}
    assert states.get(scale_in.survivor) == "InService", states


def test_no_hook_timed_out_and_no_invocation_failed(deployed: Deployed, scale_in: Outcome) -> None:
    assert not [h for h in scale_in.history if h["what"] == "timeout"]
    failed = [i.error for i in deployed.function.invocations if i.error is not None]
    assert not failed, failed
    assert deployed.function.timeouts == 0 and not deployed.function.api.init_errors
    assert [name for name, _ in deployed.scheduler.fired][:1] == [f"{NAME}-tick"]


def test_every_decision_is_in_the_functions_log_group_and_nothing_was_denied(
    deployed: Deployed, scale_in: Outcome
) -> None:
    outcomes = {(d.get("instance"), d["Outcome"]) for d in scale_in.decisions}
    assert {(scale_in.idle, "released"), (scale_in.busy, "held"), (scale_in.busy, "released")} <= outcomes, outcomes
    assert all(d["FunctionName"] == NAME for d in scale_in.decisions)  # the per-deployment metric dimension
    assert all(d.get("request_id") for d in scale_in.decisions)  # each line names its invocation
    errors = [d["reason"] for d in scale_in.decisions if d["Outcome"] == "error"]
    assert not errors, errors
    denied = [line for line in deployed.logs.lines if "AccessDenied" in line or "not authorized" in line]
    assert not denied and not deployed.logs.failures, denied + deployed.logs.failures


def test_destroy_leaves_nothing(stack: Stack, scale_in: Outcome) -> None:
    stack.destroy()
    assert stack.client("lambda").list_functions()["Functions"] == []
    assert not [r for r in stack.client("events").list_rules()["Rules"] if r["Name"].startswith(NAME)]
    assert not [r for r in stack.client("iam").list_roles()["Roles"] if r["RoleName"].startswith(NAME)]
    assert not stack.client("autoscaling").describe_lifecycle_hooks(AutoScalingGroupName=GROUP)["LifecycleHooks"]
    groups = stack.client("logs").describe_log_groups(logGroupNamePrefix=f"/aws/lambda/{NAME}")["logGroups"]
    assert groups == []
    assert not [u for u in stack.client("sqs").list_queues().get("QueueUrls", []) if NAME in u]
    assert not stack.client("cloudwatch").describe_alarms(AlarmNamePrefix=NAME)["MetricAlarms"]
    state = json.loads(stack.tf("show", "-json"))
    assert "values" not in state or not state["values"].get("root_module", {}).get("child_modules")
