"""What moto 5.2.5's ECS lacks for the gate's draining path, patched in process (idempotent, like emulator.aws).

moto serves clusters, RegisterContainerInstance (the EC2 id comes from `instanceIdentityDocument`),
Describe/UpdateContainerInstancesState (ACTIVE <-> DRAINING), StartTask/RunTask/StopTask, ListTasks (cluster,
containerInstance, desiredStatus) and DescribeTasks. It lacks, and this module adds:

* ListContainerInstances `filter` (moto ignores it and lists every instance): the `ec2InstanceId == ID` form the gate
  sends is honoured; any other cluster-query expression answers InvalidParameterException instead of a wrong list;
* ListContainerInstances `maxResults` / `nextToken` pagination (moto returns everything in one page);
* tasks that stay RUNNING: moto's default state transitions move a task RUNNING -> DEACTIVATING -> STOPPING ->
  DEPROVISIONING a step per DescribeTasks call; here a task keeps its status until StopTask or `set_task_status`.

Not emulated: the DRAINING side effects (ECS stopping and replacing service tasks, daemon tasks last), capacity
providers and managed draining's own lifecycle hook, task placement. Tests script them with StopTask and
`set_task_status` (e.g. a task STOPPING with desiredStatus STOPPED).
"""

from __future__ import annotations

import re
from typing import Any

from moto.core.models import DEFAULT_ACCOUNT_ID
from moto.core.responses import ActionResult
from moto.ecs.exceptions import InvalidParameterException
from moto.ecs.models import ecs_backends
from moto.ecs.responses import EC2ContainerServiceResponse
from moto.moto_api import state_manager

_FILTER = re.compile(r"^\s*ec2InstanceId\s*==\s*(i-[0-9a-f]+)\s*$")
_orig: dict[str, Any] = {}


def _list_container_instances(self: EC2ContainerServiceResponse) -> ActionResult:
    cluster = self.ecs_backend._get_cluster(str(self._get_param("cluster", "default"))).name  # ClusterNotFound
    status = self._get_param("status")
    expression = self._get_param("filter")
    max_results = int(self._get_param("maxResults") or 100)
    start = int(self._get_param("nextToken") or 0)
    wanted: str | None = None
    if expression:
        match = _FILTER.match(expression)
        if match is None:
            raise InvalidParameterException(
                f"the emulator understands only the filter 'ec2InstanceId == i-...', not {expression!r}"
            )
        wanted = match.group(1)
    instances = [
        ci
        for ci in self.ecs_backend.container_instances.get(cluster, {}).values()
        if (status is None or ci.status == status) and (wanted is None or ci.ec2_instance_id == wanted)
    ]
    arns = sorted(ci.container_instance_arn for ci in instances)
    page = arns[start : start + max_results]
    body: dict[str, Any] = {"containerInstanceArns": page}
    if start + max_results < len(arns):
        body["nextToken"] = str(start + max_results)
    return ActionResult(body)


def install() -> None:
    """Patch once per process; tasks keep their status until stopped (no per-describe progression)."""
    state_manager.set_transition("ecs::task", {"progression": "manual", "times": 10**9})
    if _orig:
        return
    _orig["list_container_instances"] = EC2ContainerServiceResponse.list_container_instances
    EC2ContainerServiceResponse.list_container_instances = _list_container_instances  # type: ignore[method-assign]


def set_task_status(
    task_arn: str, last_status: str, desired_status: str | None = None, region: str = "us-east-1"
) -> None:
    """Script what ECS would do, e.g. a task told to stop that is still STOPPING (desiredStatus STOPPED)."""
    for tasks in ecs_backends[DEFAULT_ACCOUNT_ID][region].tasks.values():
        task = tasks.get(task_arn)
        if task is not None:
            task.status = last_status
            if desired_status is not None:
                task.desired_status = desired_status
            return
    raise KeyError(f"unknown task {task_arn}")
