"""CloudWatch Logs saved queries (query definitions), which moto 5.2.5 lacks, so `terraform apply` of the module's
`aws_cloudwatch_query_definition`s works against the emulator (`AwsEmulator.start()` installs it).

After the CloudWatch Logs API reference: PutQueryDefinition (create, or update when queryDefinitionId is given)
returns the id; DescribeQueryDefinitions filters by name prefix, newest first, paginated; DeleteQueryDefinition
returns success (ResourceNotFoundException for an unknown id). Queries are stored, never run. `install()` is
idempotent and patches moto's LogsResponse in process; definitions live per account and region and are wiped with
the other backends (moto's reset).
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from typing import Any

from moto.logs.exceptions import ResourceNotFoundException
from moto.logs.models import LogsBackend, logs_backends
from moto.logs.responses import LogsResponse

__all__ = ["install"]

_lock = threading.Lock()


def _definitions(backend: LogsBackend) -> dict[str, dict[str, Any]]:
    store: dict[str, dict[str, Any]] | None = getattr(backend, "_query_definitions", None)
    if store is None:
        store = {}
        backend._query_definitions = store  # type: ignore[attr-defined]  # reset() re-creates the backend
    return store


def _backend(response: LogsResponse) -> LogsBackend:
    return logs_backends[response.current_account][response.region]


def _put_query_definition(self: LogsResponse) -> str:
    name, query = self._get_param("name"), self._get_param("queryString")
    definition_id = self._get_param("queryDefinitionId") or str(uuid.uuid4())
    with _lock:
        store = _definitions(_backend(self))
        if self._get_param("queryDefinitionId") and definition_id not in store:
            raise ResourceNotFoundException(f"Query definition {definition_id} does not exist")
        store[definition_id] = {
            "queryDefinitionId": definition_id,
            "name": name,
            "queryString": query,
            "lastModified": int(time.time() * 1000),
            "logGroupNames": list(self._get_param("logGroupNames") or []),
        }
    return json.dumps({"queryDefinitionId": definition_id})


def _describe_query_definitions(self: LogsResponse) -> str:
    prefix = self._get_param("queryDefinitionNamePrefix") or ""
    limit = int(self._get_param("maxResults") or 1000)
    start = int(self._get_param("nextToken") or 0)
    with _lock:
        found = [dict(d) for d in _definitions(_backend(self)).values() if d["name"].startswith(prefix)]
    found.sort(key=lambda d: (-d["lastModified"], d["name"]))
    page = found[start : start + limit]
    body: dict[str, Any] = {"queryDefinitions": page}
    if start + limit < len(found):
        body["nextToken"] = str(start + limit)
    return json.dumps(body)


def _delete_query_definition(self: LogsResponse) -> str:
    definition_id = self._get_param("queryDefinitionId")
    with _lock:
        if _definitions(_backend(self)).pop(definition_id, None) is None:
            raise ResourceNotFoundException(f"Query definition {definition_id} does not exist")
    return json.dumps({"success": True})


def install() -> None:
    """Add the three operations to moto's CloudWatch Logs responses (idempotent)."""
    LogsResponse.put_query_definition = _put_query_definition  # type: ignore[attr-defined]
    LogsResponse.describe_query_definitions = _describe_query_definitions  # type: ignore[attr-defined]
    LogsResponse.delete_query_definition = _delete_query_definition  # type: ignore[attr-defined]
