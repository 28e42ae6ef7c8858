"""The ECS edge: find an instance's container instance, set it DRAINING, count the tasks still on it.

Order (docs/architecture.md): disable agent -> wait until idle -> DRAINING -> (optionally) wait for tasks -> complete.
DRAINING stops and replaces *service* tasks (an agent run as a service would die mid-build, hence "only once idle")
and leaves standalone tasks alone: the gate waits for the agent, never for the agent's own task. Tasks whose `group`
matches `ecs_ignore_task_groups` (daemon services such as `service:datadog-agent`, the agent's standalone task such
as `family:azp-agent`) are not waited for: DescribeTasks does not say which service is a daemon.

IAM (modules/core): ecs:ListContainerInstances on the cluster, ecs:DescribeContainerInstances and
ecs:UpdateContainerInstancesState on its container instances, ecs:DescribeTasks on its tasks, ecs:ListTasks with
the ecs:cluster condition. Nothing else is called.
"""

from __future__ import annotations

import fnmatch
import threading
from collections.abc import Iterable, Sequence
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from gate.adapters.aws import RETRY_CONFIG
from gate.domain.decide import EcsFacts
from gate.domain.errors import Unavailable

DESCRIBE_TASKS_MAX = 100  # DescribeTasks takes at most 100 task ids
PAGE_SIZE = 100  # ListContainerInstances / ListTasks maxResults


class EcsError(Unavailable):
    """An ECS call failed: the instance is held (fail safe) and the next round asks again."""


def ignored(group: str, patterns: Sequence[str]) -> bool:
    """A task group such as `service:web` or `family:azp-agent`, matched against shell-style patterns."""
    return any(fnmatch.fnmatchcase(group, p) for p in patterns)


class Ecs:
    """One cluster. Container-instance ARNs are cached per EC2 instance id (they never change)."""

    def __init__(
        self,
        session: Any,
        cluster: str,
        *,
        endpoint_url: str | None = None,
        wait_tasks: bool = False,
        ignore_task_groups: Sequence[str] = (),
    ) -> None:
        kwargs: dict[str, Any] = {"config": RETRY_CONFIG}
        if endpoint_url:
            kwargs["endpoint_url"] = endpoint_url
        self.client = session.client("ecs", **kwargs)
        self.cluster = cluster
        self.wait_tasks = wait_tasks
        self.ignore_task_groups = tuple(ignore_task_groups)
        self.calls: dict[str, int] = {}
        self._arns: dict[str, str] = {}
        self._lock = threading.Lock()
        self.client.meta.events.register("before-call", self._count)

    def _count(self, model: Any, **_: Any) -> None:
        with self._lock:
            self.calls[model.name] = self.calls.get(model.name, 0) + 1

    def _pages(self, op: str, key: str, **params: Any) -> Iterable[str]:
        token: str | None = None
        for _ in range(10_000):
            resp = getattr(self.client, op)(
                cluster=self.cluster, maxResults=PAGE_SIZE, **params, **({"nextToken": token} if token else {})
            )
            yield from resp.get(key, [])
            token = resp.get("nextToken")
            if not token:
                return
        raise EcsError(f"{op}: pagination did not end")

    def _container_instance(self, instance_id: str) -> dict[str, Any] | None:
        """The container instance running on this EC2 instance, or None when it is not registered."""
        arn = self._arns.get(instance_id)
        candidates = (
            [arn]
            if arn
            else list(
                self._pages(
                    "list_container_instances", "containerInstanceArns", filter=f"ec2InstanceId == {instance_id}"
                )
            )
        )
        for start in range(0, len(candidates), 100):
            resp = self.client.describe_container_instances(
                cluster=self.cluster, containerInstances=candidates[start : start + 100]
            )
            # Check the instance id ourselves: a filter is a query language, and an emulator may ignore it.
            for ci in resp.get("containerInstances", []):
                if ci.get("ec2InstanceId") == instance_id:
                    self._arns[instance_id] = ci["containerInstanceArn"]
                    return dict(ci)
        if arn:  # cached ARN no longer describes: deregistered; look it up afresh next time
            self._arns.pop(instance_id, None)
        return None

    def _tasks_on(self, container_instance_arn: str) -> list[dict[str, Any]]:
        """Tasks not yet STOPPED on the container instance. ListTasks lists one desiredStatus at a time (RUNNING by
        default), so a task already told to stop but still STOPPING/DEACTIVATING is found under STOPPED."""
        arns: list[str] = []
        for desired in ("RUNNING", "STOPPED"):
            arns += self._pages(
                "list_tasks", "taskArns", containerInstance=container_instance_arn, desiredStatus=desired
            )
        tasks: list[dict[str, Any]] = []
        unique = sorted(set(arns))
        for start in range(0, len(unique), DESCRIBE_TASKS_MAX):
            resp = self.client.describe_tasks(cluster=self.cluster, tasks=unique[start : start + DESCRIBE_TASKS_MAX])
            tasks += [t for t in resp.get("tasks", []) if t.get("lastStatus") != "STOPPED"]
        return tasks

    def facts(self, instance_id: str) -> EcsFacts:
        """What decide needs; never raises (an ECS failure becomes `error`, and the gate holds)."""
        try:
            ci = self._container_instance(instance_id)
            if ci is None:
                return EcsFacts(container_instance_arn=None)
            status = str(ci.get("status", ""))
            facts = EcsFacts(container_instance_arn=ci["containerInstanceArn"], status=status)
            if self.wait_tasks and status != "ACTIVE":
                watched = [t for t in self._tasks_on(ci["containerInstanceArn"]) if not self._ignored(t)]
                groups = tuple(str(t.get("group") or t.get("taskDefinitionArn", "?")) for t in watched)
                facts = EcsFacts(facts.container_instance_arn, status, len(watched), groups)
            return facts
        except (ClientError, BotoCoreError, EcsError) as exc:
            return EcsFacts(container_instance_arn=None, error=f"{type(exc).__name__}: {exc}"[:300])

    def _ignored(self, task: dict[str, Any]) -> bool:
        return ignored(str(task.get("group") or ""), self.ignore_task_groups)

    def drain(self, container_instance_arn: str) -> None:
        try:
            resp = self.client.update_container_instances_state(
                cluster=self.cluster, containerInstances=[container_instance_arn], status="DRAINING"
            )
        except (ClientError, BotoCoreError) as exc:
            raise EcsError(f"UpdateContainerInstancesState: {exc}") from None
        failures = resp.get("failures", [])
        if failures:
            reasons = ", ".join(str(f.get("reason")) for f in failures)
            raise EcsError(f"UpdateContainerInstancesState {container_instance_arn}: {reasons}")
