"""Azure DevOps service hooks for the fake: the web hooks the service POSTs when a build or a pipeline job ends.

The payloads have the shapes Azure DevOps documents ("Build completed", event `build.complete`, resource version
2.0; "Run job state changed", event `ms.vss-pipelines.job-state-changed-event`, resource version 5.1-preview.1), with
the fake's ids and times. A `WebHooks` object holds the subscriptions (URL, basic-auth user and password, event
types, as the web hooks consumer takes them) and delivers on its own thread, after `delay` wall seconds, one attempt
per call, so the fake never blocks on a receiver. `watch` makes builds end on time even when nobody queries the
fake (the real service ends jobs by itself).
"""

from __future__ import annotations

import base64
import json
import queue
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

Json = dict[str, Any]
BUILD_COMPLETE = "build.complete"
JOB_STATE_CHANGED = "ms.vss-pipelines.job-state-changed-event"
EVENT_TYPES = (BUILD_COMPLETE, JOB_STATE_CHANGED)
_NS = uuid.UUID("0f5a3c1e-8a4e-4f0b-9d7c-51c0de5e7b11")
# The fake's build results -> the Build API's BuildResult names.
_BUILD_RESULT = {"succeeded": "succeeded", "succeededWithIssues": "partiallySucceeded", "abandoned": "canceled"}


def _iso(ts: float | None) -> str | None:
    return None if ts is None else datetime.fromtimestamp(ts, UTC).isoformat().replace("+00:00", "Z")


def _guid(*parts: object) -> str:
    return str(uuid.uuid5(_NS, "/".join(str(p) for p in parts)))


def _message(text: str) -> Json:
    return {"text": text, "html": text, "markdown": text}


def build_completed(org_url: str, build: Json, *, subscription: str, notification: int) -> Json:
    """The "Build completed" payload for one fake build snapshot (emulator.azure_devops._build_snapshot)."""
    number = f"{datetime.fromtimestamp(build['queued_at'], UTC):%Y%m%d}.{build['id']}"
    result = _BUILD_RESULT.get(str(build.get("result")), str(build.get("result") or "none"))
    project = {"id": _guid("project"), "name": "fake-project", "url": f"{org_url}/_apis/projects/{_guid('project')}"}
    api = f"{org_url}/{project['id']}/_apis/build/Builds/{build['id']}"
    return {
        "subscriptionId": subscription,
        "notificationId": notification,
        "id": _guid("event", BUILD_COMPLETE, build["id"]),
        "eventType": BUILD_COMPLETE,
        "publisherId": "tfs",
        "message": _message(f"Build {number} {result}"),
        "detailedMessage": _message(f"Build {number} {result}"),
        "resource": {
            "_links": {"self": {"href": api}, "web": {"href": f"{org_url}/_build/results?buildId={build['id']}"}},
            "id": build["id"],
            "buildNumber": number,
            "status": "completed",
            "result": result,
            "queueTime": _iso(build.get("queued_at")),
            "startTime": _iso(build.get("assigned_at")),
            "finishTime": _iso(build.get("finished_at")),
            "url": api,
            "definition": {"id": 1, "name": "fake-pipeline", "type": "build", "project": project},
            "project": project,
            "uri": f"vstfs:///Build/Build/{build['id']}",
            "queue": {"id": build.get("pool_id"), "pool": {"id": build.get("pool_id"), "isHosted": False}},
            "reason": "manual",
        },
        "resourceVersion": "2.0",
        "resourceContainers": {
            "collection": {"id": _guid("collection"), "baseUrl": f"{org_url}/"},
            "account": {"id": _guid("account"), "baseUrl": f"{org_url}/"},
            "project": {"id": project["id"], "baseUrl": f"{org_url}/"},
        },
        "createdDate": _iso(build.get("finished_at")),
    }


def job_state_changed(org_url: str, build: Json, *, subscription: str, notification: int) -> Json:
    """The "Run job state changed" payload (state completed) for one fake build, as one job of one run."""
    result = _BUILD_RESULT.get(str(build.get("result")), str(build.get("result") or "none"))
    web = f"{org_url}/_build/results?buildId={build['id']}"
    text = f"Run {build['id']} stage __default job Job {result}."
    return {
        "subscriptionId": subscription,
        "notificationId": notification,
        "id": _guid("event", JOB_STATE_CHANGED, build["id"]),
        "eventType": JOB_STATE_CHANGED,
        "publisherId": "pipelines",
        "message": _message(text),
        "detailedMessage": _message(text),
        "resource": {
            "job": {
                "_links": {
                    "web": {"href": web},
                    "pipeline.web": {"href": f"{org_url}/_build/definition?definitionId=1"},
                },
                "id": _guid("job", build["id"]),
                "name": "Job",
                "state": "completed",
                "result": result,
                "startTime": _iso(build.get("assigned_at")),
                "finishTime": _iso(build.get("finished_at")),
            },
            "stage": {"id": _guid("stage", build["id"]), "name": "__default", "state": "completed"},
            "run": {"id": build["id"], "name": str(build["id"]), "state": "completed", "result": result},
            "pipeline": {"id": 1, "name": "fake-pipeline", "folder": "\\"},
            "repositories": [],
        },
        "resourceVersion": "5.1-preview.1",
        "createdDate": _iso(build.get("finished_at")),
    }


PAYLOADS: dict[str, Callable[..., Json]] = {BUILD_COMPLETE: build_completed, JOB_STATE_CHANGED: job_state_changed}


@dataclass(frozen=True, slots=True)
class Subscription:
    id: str
    url: str
    event_types: tuple[str, ...]
    username: str | None = None
    password: str | None = None  # the web hooks consumer's basic authentication
    headers: tuple[tuple[str, str], ...] = ()  # the consumer's "HTTP headers" input


class WebHooks:
    """Subscriptions and deliveries for one fake organisation. `sent` logs every delivery (time, event type, URL,
    HTTP status; 0 when the receiver could not be reached), never the secret."""

    def __init__(self, org_url: str, *, delay: float = 0.0, timeout: float = 10.0) -> None:
        self.org_url = org_url.rstrip("/")
        self.delay = delay
        self.timeout = timeout
        self.subscriptions: list[Subscription] = []
        self.sent: list[Json] = []
        self._queue: queue.Queue[tuple[float, Subscription, Json] | None] = queue.Queue()
        self._notifications = 0
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._deliver, name="fake-ado-hooks", daemon=True)
        self._thread.start()
        self._watching = threading.Event()

    def subscribe(
        self,
        url: str,
        *,
        password: str | None = None,
        username: str = "gate",
        event_types: Sequence[str] = (BUILD_COMPLETE,),
        headers: Sequence[tuple[str, str]] = (),
    ) -> str:
        unknown = set(event_types) - set(EVENT_TYPES)
        if unknown:
            raise ValueError(f"event types {sorted(unknown)} not supported; choose from {EVENT_TYPES}")
        sub = Subscription(str(uuid.uuid4()), url, tuple(event_types), username, password, tuple(headers))
        with self._lock:
            self.subscriptions.append(sub)
        return sub.id

    def build_finished(self, build: Json) -> None:
        """Called by the fake (under its lock) when a build ends: queue one payload per subscription and event."""
        with self._lock:
            subs = list(self.subscriptions)
        for sub in subs:
            for event_type in sub.event_types:
                with self._lock:
                    self._notifications += 1
                    n = self._notifications
                payload = PAYLOADS[event_type](self.org_url, build, subscription=sub.id, notification=n)
                self._queue.put((time.monotonic() + self.delay, sub, payload))

    def _deliver(self) -> None:
        while (item := self._queue.get()) is not None:
            due, sub, payload = item
            wait = due - time.monotonic()
            if wait > 0:
                time.sleep(wait)
            self.sent.append(
                {
                    "time": time.time(),
                    "event_type": payload["eventType"],
                    "url": sub.url,
                    "status": self._post(sub, payload),
                }
            )

    def _post(self, sub: Subscription, payload: Json) -> int:
        headers = {"Content-Type": "application/json; charset=utf-8", **dict(sub.headers)}
        if sub.password is not None:
            token = base64.b64encode(f"{sub.username or ''}:{sub.password}".encode()).decode()
            headers["Authorization"] = f"Basic {token}"
        request = urllib.request.Request(sub.url, data=json.dumps(payload).encode(), headers=headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                return int(response.status)
        except urllib.error.HTTPError as exc:
            return int(exc.code)
        except (urllib.error.URLError, OSError):
            return 0

    def watch(self, poke: Callable[[], object], every: float = 0.2) -> None:
        """Call `poke` (e.g. the fake's `builds`) every `every` wall seconds, so builds end, and hooks fire, on time."""

        def loop() -> None:
            while not self._watching.wait(every):
                poke()

        threading.Thread(target=loop, name="fake-ado-hooks-watch", daemon=True).start()

    def close(self, wait: float = 5.0) -> None:
        """Stop watching; deliver what is queued (up to `wait` seconds), then stop."""
        self._watching.set()
        self._queue.put(None)
        self._thread.join(wait)
