"""The fake Azure DevOps speaks the real wire format (checked with `requests` and Microsoft's SDK) and
simulates builds on an injected clock, so end-to-end tests can trust what it tells the gate."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from emulator.azure_devops import FakeAzureDevOps
from gate.domain.clock import ManualClock

PAT = "fake-pat-0123456789"
AUTH = ("", PAT)
ISO_Z = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,3})?Z$")


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def fake(clock: ManualClock) -> Iterator[FakeAzureDevOps]:
    with FakeAzureDevOps(clock=clock, pat=PAT, page_size=4) as server:
        yield server


def get(fake: FakeAzureDevOps, path: str, **params: Any) -> requests.Response:
    return requests.get(f"{fake.url}/_apis/{path}", params={"api-version": "7.1", **params}, auth=AUTH, timeout=5)


def agents(fake: FakeAzureDevOps, pool: int, **params: Any) -> list[dict[str, Any]]:
    response = get(fake, f"distributedtask/pools/{pool}/agents", **params)
    assert response.status_code == 200, response.text
    value: list[dict[str, Any]] = response.json()["value"]
    return value


def test_pool_and_agent_shapes(fake: FakeAzureDevOps) -> None:
    pool = fake.add_pool("linux")
    fake.add_pool("windows")
    busy = fake.add_agent(pool, "agent-i-1", capabilities={"AWS_INSTANCE_ID": "i-1"}, computer_name="ip-10-0-0-1")
    fake.add_agent(pool, "agent-i-2", online=False)
    request_id = fake.start_build(busy, 600)

    body = get(fake, "distributedtask/pools", poolName="LINUX").json()
    assert body["count"] == 1
    p = body["value"][0]
    assert p | {"id": pool, "name": "linux", "isHosted": False, "poolType": "automation", "size": 2} == p
    assert ISO_Z.match(p["createdOn"]) and "autoProvision" in p

    listed = agents(fake, pool, includeCapabilities="true", includeAssignedRequest="true")
    a, idle = listed
    assert (a["id"], a["name"], a["enabled"], a["status"], a["maxParallelism"]) == (
        busy,
        "agent-i-1",
        True,
        "online",
        1,
    )
    assert a["provisioningState"] == "Provisioned" and ISO_Z.match(a["createdOn"]) and ISO_Z.match(a["statusChangedOn"])
    caps = a["systemCapabilities"]
    assert (caps["Agent.Name"], caps["Agent.ComputerName"], caps["AWS_INSTANCE_ID"]) == (
        "agent-i-1",
        "ip-10-0-0-1",
        "i-1",
    )
    req = a["assignedRequest"]
    assert (req["requestId"], req["poolId"], req["planType"], req["reservedAgent"]["id"]) == (
        request_id,
        pool,
        "Build",
        busy,
    )
    assert {"queueTime", "assignTime", "receiveTime", "planId", "jobId", "definition", "owner", "data"} <= req.keys()
    assert "finishTime" not in req and "result" not in req
    assert idle["status"] == "offline" and "assignedRequest" not in idle

    bare = agents(fake, pool)
    assert all("systemCapabilities" not in x and "assignedRequest" not in x for x in bare)
    assert [x["name"] for x in agents(fake, pool, agentName="agent-i-2")] == ["agent-i-2"]
    assert [x["id"] for x in agents(fake, pool, demands="AWS_INSTANCE_ID -equals i-1")] == [busy]

    single = get(fake, f"distributedtask/pools/{pool}/agents/{busy}", includeAssignedRequest="true").json()
    assert single["assignedRequest"]["requestId"] == request_id


def test_not_found_uses_the_service_error_shape(fake: FakeAzureDevOps) -> None:
    pool = fake.add_pool("linux")
    missing_pool = get(fake, "distributedtask/pools/99/agents")
    assert missing_pool.status_code == 404
    body = missing_pool.json()
    assert body["typeKey"] == "TaskAgentPoolNotFoundException" and body["$id"] == "1" and body["eventId"] == 3000
    assert body["typeName"].startswith("Microsoft.TeamFoundation.DistributedTask.WebApi.TaskAgentPoolNotFoundException")
    missing_agent = get(fake, f"distributedtask/pools/{pool}/agents/42")
    assert (missing_agent.status_code, missing_agent.json()["typeKey"]) == (404, "TaskAgentNotFoundException")


def test_pagination_with_continuation_tokens(fake: FakeAzureDevOps) -> None:
    pool = fake.add_pool("big")
    ids = [fake.add_agent(pool, f"agent-{i}") for i in range(10)]
    seen: list[int] = []
    pages, token = 0, None
    while True:
        response = get(fake, f"distributedtask/pools/{pool}/agents", **({"continuationToken": token} if token else {}))
        pages += 1
        seen += [a["id"] for a in response.json()["value"]]
        token = response.headers.get("x-ms-continuationtoken")
        if token is None:
            break
    assert (pages, seen) == (3, ids)
    top = get(fake, f"distributedtask/pools/{pool}/agents", **{"$top": 2})
    assert len(top.json()["value"]) == 2 and top.headers["x-ms-continuationtoken"] == str(ids[2])


def test_builds_run_on_the_injected_clock(fake: FakeAzureDevOps, clock: ManualClock) -> None:
    pool = fake.add_pool("linux")
    agent = fake.add_agent(pool, "a1")
    first = fake.start_build(agent, 60)
    clock.advance(59)
    assert fake.agent(agent)["busy"]  # type: ignore[index]
    clock.advance(1)
    assert fake.build(first)["result"] == "succeeded" and not fake.agent(agent)["busy"]  # type: ignore[index]
    # Queued jobs chain on one agent even when the clock jumps far past all of them.
    t0 = clock.now()
    queued = [fake.queue_build(pool, 10) for _ in range(3)]
    clock.advance(1000)
    starts = [fake.build(b)["assigned_at"] - t0 for b in queued]
    assert starts == [0, 10, 20] and all(fake.build(b)["result"] == "succeeded" for b in queued)


def test_disable_lets_the_running_build_finish(fake: FakeAzureDevOps, clock: ManualClock) -> None:
    pool = fake.add_pool("linux")
    agent = fake.add_agent(pool, "a1")
    build = fake.start_build(agent, 120)
    url = f"{fake.url}/_apis/distributedtask/pools/{pool}/agents/{agent}?api-version=7.1"
    patched = requests.patch(url, json={"id": agent, "enabled": False}, auth=AUTH, timeout=5)
    assert patched.status_code == 200 and patched.json()["enabled"] is False
    assert fake.build(build)["finished_at"] is None and fake.agent(agent)["busy"]  # type: ignore[index]
    clock.advance(120)
    assert fake.build(build)["result"] == "succeeded"
    assert fake.agent(agent)["history"] == [{"time": clock.now() - 120, "enabled": False, "by": "api"}]  # type: ignore[index]


def test_disabled_agent_gets_no_queued_job(fake: FakeAzureDevOps, clock: ManualClock) -> None:
    pool = fake.add_pool("linux")
    drained = fake.add_agent(pool, "drained")
    worker = fake.add_agent(pool, "worker")
    fake.set_enabled(drained, False)
    fake.start_build(worker, 30)
    first, second = fake.queue_build(pool, 10), fake.queue_build(pool, 10)
    assert fake.build(first)["agent_id"] is None
    clock.advance(30)
    assert (fake.build(first)["agent_id"], fake.build(first)["assigned_at"]) == (worker, clock.now())
    assert fake.build(second)["agent_id"] is None  # FIFO: the second still waits
    fake.set_enabled(drained, True)  # an operator re-enables mid-hold: it takes the waiting job
    assert fake.build(second)["agent_id"] == drained
    with pytest.raises(ValueError, match="busy"):
        fake.start_build(drained, 1)


def test_start_build_refuses_unavailable_agents(fake: FakeAzureDevOps) -> None:
    pool = fake.add_pool("linux")
    disabled = fake.add_agent(pool, "d", enabled=False)
    offline = fake.add_agent(pool, "o", online=False)
    gone = fake.add_agent(pool, "g")
    fake.remove_agent(gone)
    for agent, reason in ((disabled, "disabled"), (offline, "offline"), (gone, "deleted")):
        with pytest.raises(ValueError, match=reason):
            fake.start_build(agent, 1)


def test_delete_while_running_abandons_the_build(fake: FakeAzureDevOps) -> None:
    pool = fake.add_pool("linux")
    agent, other = fake.add_agent(pool, "a1"), fake.add_agent(pool, "a2")
    build, other_build = fake.start_build(agent, 600), fake.start_build(other, 600)
    url = f"{fake.url}/_apis/distributedtask/pools/{pool}/agents/{agent}?api-version=7.1"
    assert requests.delete(url, auth=AUTH, timeout=5).status_code == 200  # the spec's status for Agents_Delete
    assert fake.build(build)["result"] == "abandoned"
    assert fake.agent(agent)["deleted"] and fake.agent(agent)["deleted_by"] == "api"  # type: ignore[index]
    assert [a["id"] for a in agents(fake, pool)] == [other]
    fake.remove_agent(other)
    assert fake.build(other_build)["result"] == "abandoned" and fake.agent(other)["deleted_by"] == "script"  # type: ignore[index]


def test_jobrequests(fake: FakeAzureDevOps, clock: ManualClock) -> None:
    pool = fake.add_pool("linux")
    agent = fake.add_agent(pool, "a1")
    fake.start_build(agent, 5)
    clock.advance(10)
    newest_done = fake.queue_build(pool, 5)
    clock.advance(10)
    running = fake.start_build(agent, 100)
    body = get(fake, f"distributedtask/pools/{pool}/jobrequests", agentId=agent, completedRequestCount=1).json()
    assert [r["requestId"] for r in body["value"]] == [running, newest_done]
    live, last = body["value"]
    assert "finishTime" not in live and "result" not in live and live["reservedAgent"]["id"] == agent
    assert last["result"] == "succeeded" and ISO_Z.match(last["finishTime"])
    everything = get(fake, f"distributedtask/pools/{pool}/jobrequests", agentId=agent).json()
    assert everything["count"] == 3


@pytest.mark.parametrize("kind", ["rate_limit", "server_error", "malformed", "unauthorized", "signin", "down"])
def test_fault_kinds(fake: FakeAzureDevOps, clock: ManualClock, kind: str) -> None:
    fake.add_pool("linux")
    fake.inject(kind, status=503, retry_after=7)
    if kind == "down":
        with pytest.raises(requests.ConnectionError):
            get(fake, "distributedtask/pools")
    else:
        r = get(fake, "distributedtask/pools")
        if kind == "rate_limit":
            assert r.status_code == 429 and r.headers["Retry-After"] == "7"
            assert r.headers["X-RateLimit-Remaining"] == "0" and r.headers["X-RateLimit-Resource"]
            assert int(r.headers["X-RateLimit-Reset"]) == int(clock.now() + 7)
        elif kind == "server_error":
            assert r.status_code == 503
        elif kind == "malformed":
            assert r.status_code == 200
            with pytest.raises(ValueError):
                r.json()
        elif kind == "unauthorized":
            assert r.status_code == 401
        else:
            assert r.status_code == 203 and r.headers["Content-Type"].startswith("text/html")
    assert get(fake, "distributedtask/pools").status_code == 200  # count=1: the next request is served
    expected = {"rate_limit": 429, "server_error": 503, "malformed": 200, "unauthorized": 401, "signin": 203}
    assert [c["status"] for c in fake.calls][-2:] == [expected.get(kind, 0), 200]  # a dropped connection logs 0


def test_fault_windows_filters_and_slow(fake: FakeAzureDevOps, clock: ManualClock) -> None:
    pool = fake.add_pool("linux")
    fake.inject("server_error", seconds=30, path_contains="/agents")
    assert get(fake, "distributedtask/pools").status_code == 200
    assert get(fake, f"distributedtask/pools/{pool}/agents").status_code == 500
    assert get(fake, f"distributedtask/pools/{pool}/agents").status_code == 500
    clock.advance(30)
    assert get(fake, f"distributedtask/pools/{pool}/agents").status_code == 200
    fake.inject("rate_limit", count=2, method="PATCH")
    assert get(fake, "distributedtask/pools").status_code == 200
    fake.clear_faults()
    fake.inject("slow", delay=0.3)
    started = time.monotonic()
    assert get(fake, "distributedtask/pools").status_code == 200
    assert time.monotonic() - started >= 0.3


def test_auth(fake: FakeAzureDevOps) -> None:
    url = f"{fake.url}/_apis/distributedtask/pools"
    suppress = {"X-TFS-FedAuthRedirect": "Suppress"}
    for auth in [("", "wrong"), None, ("user", PAT + "x")]:
        r = requests.get(url, auth=auth, headers=suppress, timeout=5)
        assert r.status_code == 401 and r.json()["typeKey"] == "UnauthorizedRequestException"
        assert "wrong" not in r.text and PAT not in r.text
        page = requests.get(url, auth=auth, timeout=5)  # without the header: a browser's sign-in page
        assert page.status_code == 203 and page.headers["Content-Type"].startswith("text/html")
        patch = requests.patch(f"{url}/1/agents/1?api-version=7.1", json={}, auth=auth, timeout=5)
        assert patch.status_code == 401  # writes get a 401 either way
    assert requests.get(url, auth=("anyone", PAT), timeout=5).status_code == 200
    assert all(PAT not in str(c) and "wrong" not in str(c) for c in fake.calls)


def test_control_endpoints(fake: FakeAzureDevOps) -> None:
    base = f"{fake.base_url}/_fake"
    pool = requests.post(f"{base}/pools", json={"name": "linux"}, timeout=5).json()["id"]
    caps = {"AWS_INSTANCE_ID": "i-9"}
    agent = requests.post(f"{base}/agents", json={"pool": "linux", "name": "a", "capabilities": caps}, timeout=5)
    agent_id = agent.json()["id"]
    build = requests.post(f"{base}/builds", json={"agent_id": agent_id, "duration": 60}, timeout=5).json()["id"]
    queued = requests.post(f"{base}/builds", json={"pool": pool, "duration": 60}, timeout=5).json()["id"]
    assert requests.post(f"{base}/builds", json={"agent_id": agent_id, "duration": 1}, timeout=5).status_code == 409
    assert requests.post(f"{base}/faults", json={"kind": "rate_limit", "count": 1}, timeout=5).status_code == 201
    assert get(fake, "distributedtask/pools").status_code == 429
    requests.post(f"{base}/faults", json={"kind": "server_error"}, timeout=5)
    assert requests.delete(f"{base}/faults", timeout=5).status_code == 204
    assert get(fake, "distributedtask/pools").status_code == 200
    finished = requests.post(f"{base}/builds/{build}/finish", json={"result": "canceled"}, timeout=5).json()
    assert finished["result"] == "canceled"
    state = requests.get(f"{base}/state", timeout=5).json()
    assert [b["agent_id"] for b in state["builds"]] == [agent_id, agent_id]  # the queued job took the freed agent
    assert state["agents"][0]["capabilities"] == caps and queued == state["builds"][1]["id"]
    assert requests.delete(f"{base}/agents/{agent_id}", timeout=5).json()["deleted"]
    assert all("/_fake/" not in c["path"] for c in fake.calls) and len(fake.calls) == 2


def test_official_sdk_parses_the_fake(fake: FakeAzureDevOps, monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    monkeypatch.setenv("AZURE_DEVOPS_CACHE_DIR", str(tmp_path))  # the SDK caches discovery on disk at import
    from azure.devops import client as sdk_client
    from azure.devops import connection as sdk_connection
    from azure.devops._file_cache import FileCache
    from azure.devops.connection import Connection
    from azure.devops.exceptions import AzureDevOpsServiceError
    from azure.devops.v7_1.task_agent.models import TaskAgent
    from msrest.authentication import BasicAuthentication

    # Memory-only caches: no stale discovery from other runs, nothing written to $HOME.
    monkeypatch.setattr(sdk_client, "OPTIONS_FILE_CACHE", FileCache(""))
    monkeypatch.setattr(sdk_connection, "RESOURCE_FILE_CACHE", FileCache(""))

    pool = fake.add_pool("linux")
    busy = fake.add_agent(pool, "agent-i-1", capabilities={"AWS_INSTANCE_ID": "i-1"})
    idle = fake.add_agent(pool, "agent-i-2")
    request_id = fake.start_build(busy, 600)

    conn = Connection(base_url=fake.url, creds=BasicAuthentication("", PAT))
    client = conn.clients_v7_1.get_task_agent_client()
    pools = client.get_agent_pools(pool_name="linux")
    assert [(p.id, p.name, p.is_hosted, p.size) for p in pools] == [(pool, "linux", False, 2)]

    listed = client.get_agents(pool, include_capabilities=True, include_assigned_request=True)
    by_id = {a.id: a for a in listed}
    assert by_id[busy].assigned_request.request_id == request_id
    assert by_id[busy].assigned_request.reserved_agent.id == busy
    assert by_id[busy].assigned_request.assign_time.year >= 2020
    assert by_id[busy].system_capabilities["AWS_INSTANCE_ID"] == "i-1"
    assert by_id[busy].system_capabilities["Agent.Name"] == "agent-i-1"
    assert (by_id[busy].enabled, by_id[busy].status) == (True, "online")
    assert by_id[idle].assigned_request is None

    updated = client.update_agent(TaskAgent(id=busy, enabled=False), pool, busy)
    assert updated.enabled is False and fake.build(request_id)["finished_at"] is None
    client.delete_agent(pool, idle)
    assert fake.agent(idle)["deleted"]  # type: ignore[index]
    with pytest.raises(AzureDevOpsServiceError, match="No agent found"):
        client.get_agent(pool, idle)
    assert conn.clients.get_task_agent_client().get_agent(pool, busy).enabled is False  # the 7.0 client too


def test_latency_costs_fake_clock_time_per_call(fake: FakeAzureDevOps, clock: ManualClock) -> None:
    fake.add_pool("linux")
    fake.inject("latency", count=None, delay=10)
    t0 = clock.now()
    started = time.monotonic()
    for _ in range(3):
        assert get(fake, "distributedtask/pools").status_code == 200
    assert clock.now() - t0 == 30 and time.monotonic() - started < 5  # clock time, not wall time
    fake.inject("rate_limit", count=1)
    assert get(fake, "distributedtask/pools").status_code == 429  # latency applies on top of an answer fault
    assert clock.now() - t0 == 40


def test_endless_pages_repeat_the_continuation_token(fake: FakeAzureDevOps) -> None:
    pool = fake.add_pool("linux")
    for i in range(6):
        fake.add_agent(pool, f"a{i}")
    fake.inject("endless_pages", count=None)
    first = get(fake, f"distributedtask/pools/{pool}/agents")
    token = first.headers["x-ms-continuationtoken"]
    for _ in range(3):
        again = get(fake, f"distributedtask/pools/{pool}/agents", continuationToken=token)
        assert again.headers["x-ms-continuationtoken"] == token and again.json()["value"]


def test_count_mismatch_drops_a_record_and_keeps_the_count(fake: FakeAzureDevOps) -> None:
    pool = fake.add_pool("linux")
    fake.add_agent(pool, "a1")
    fake.add_agent(pool, "a2")
    fake.inject("count_mismatch", count=2)
    body = get(fake, f"distributedtask/pools/{pool}/agents").json()
    assert (body["count"], len(body["value"])) == (2, 1)
    fake.remove_agent(1)
    fake.remove_agent(2)
    empty = get(fake, f"distributedtask/pools/{pool}/agents").json()
    assert (empty["count"], empty["value"]) == (1, [])
    assert get(fake, f"distributedtask/pools/{pool}/agents").json()["count"] == 0


def test_no_assigned_request_hides_the_busy_field(fake: FakeAzureDevOps) -> None:
    pool = fake.add_pool("linux")
    busy = fake.add_agent(pool, "a1")
    fake.start_build(busy, 600)
    fake.inject("no_assigned_request", count=None, path_contains="/agents")
    listed = agents(fake, pool, includeAssignedRequest="true")
    single = get(fake, f"distributedtask/pools/{pool}/agents/{busy}", includeAssignedRequest="true").json()
    assert "assignedRequest" not in listed[0] and "assignedRequest" not in single
    jobs = get(fake, f"distributedtask/pools/{pool}/jobrequests", agentId=busy).json()["value"]
    assert [j["reservedAgent"]["id"] for j in jobs] == [busy]  # the job requests still tell the truth


def test_slow_down_warns_on_a_200_before_throttling(fake: FakeAzureDevOps, clock: ManualClock) -> None:
    fake.add_pool("linux")
    fake.inject("slow_down", count=1, retry_after=5)
    r = get(fake, "distributedtask/pools")
    assert r.status_code == 200 and r.json()["count"] == 1
    assert r.headers["Retry-After"] == "5" and r.headers["X-RateLimit-Remaining"] == "1"
    assert int(r.headers["X-RateLimit-Reset"]) == int(clock.now() + 5)
    assert "Retry-After" not in get(fake, "distributedtask/pools").headers


def _write(fake: FakeAzureDevOps, method: str, path: str, params: str = "", **kw: Any) -> requests.Response:
    return requests.request(method, f"{fake.url}/_apis/{path}{params}", auth=AUTH, timeout=5, **kw)


def test_api_version_is_validated_like_the_service(fake: FakeAzureDevOps) -> None:
    pool = fake.add_pool("linux")
    agent = fake.add_agent(pool, "a1")
    path = f"distributedtask/pools/{pool}/agents/{agent}"
    missing = _write(fake, "PATCH", path, json={"enabled": False})
    assert missing.status_code == 400 and missing.json()["typeKey"] == "VssVersionNotSpecifiedException"
    assert missing.json()["message"].startswith('No api-version was supplied for the "PATCH" request.')
    assert requests.get(f"{fake.url}/_apis/{path}", auth=AUTH, timeout=5).status_code == 200  # GET: latest
    high = _write(fake, "GET", path, "?api-version=9.0")
    assert high.status_code == 400 and high.json()["typeKey"] == "VssVersionOutOfRangeException"
    assert high.json()["message"] == (
        "The requested REST API version of 9.0 is out of range for this server. "
        "The latest REST API version this server supports is 7.2."
    )
    preview = _write(fake, "GET", path, "?api-version=7.2")
    assert preview.status_code == 400 and preview.json()["typeKey"] == "VssInvalidPreviewVersionException"
    assert _write(fake, "GET", path, "?api-version=7.2-preview.1").status_code == 200
    by_header = requests.get(
        f"{fake.url}/_apis/{path}", headers={"Accept": "application/json;api-version=9.1"}, auth=AUTH, timeout=5
    )
    assert by_header.status_code == 400 and "9.1 is out of range" in by_header.json()["message"]


def test_patch_keeps_what_the_service_keeps(fake: FakeAzureDevOps) -> None:
    pool = fake.add_pool("linux")
    agent = fake.add_agent(pool, "a1")
    path = f"distributedtask/pools/{pool}/agents/{agent}"
    partial = _write(fake, "PATCH", path, "?api-version=7.1", json={"id": agent, "enabled": False})
    assert partial.status_code == 200 and partial.json()["maxParallelism"] == 1  # the cloud keeps it
    renamed = _write(fake, "PATCH", path, "?api-version=7.1", json={"name": "other", "status": "offline"})
    assert (renamed.json()["name"], renamed.json()["status"]) == ("a1", "online")  # not the caller's to change
    wrong_id = _write(fake, "PATCH", path, "?api-version=7.1", json={"id": agent + 1, "enabled": False})
    assert wrong_id.status_code == 400
    bad = _write(fake, "PATCH", path, "?api-version=7.1", json={"enabled": "no"})
    assert bad.status_code == 400 and fake.agent(agent)["enabled"] is False  # type: ignore[index]


def test_jobrequests_include_matched_and_foreign_requests(fake: FakeAzureDevOps, clock: ManualClock) -> None:
    pool = fake.add_pool("linux")
    a, b = fake.add_agent(pool, "a"), fake.add_agent(pool, "b")
    done = fake.start_build(a, 5)
    clock.advance(10)
    on_b = fake.queue_build(pool, 600)  # both idle: b's free_since is older... either way one takes it
    taker = fake.build(on_b)["agent_id"]
    other = a if taker == b else b
    queued = fake.queue_build(pool, 600)  # the other agent takes it
    backlog = fake.queue_build(pool, 600)  # nobody free: queued, matched to both
    body = get(fake, f"distributedtask/pools/{pool}/jobrequests", agentId=other, completedRequestCount=1).json()
    by_id = {r["requestId"]: r for r in body["value"]}
    assert set(by_id) >= {queued, backlog, on_b}
    assert by_id[on_b]["reservedAgent"]["id"] == taker  # reserved by another agent, still listed
    assert "reservedAgent" not in by_id[backlog] and {m["id"] for m in by_id[backlog]["matchedAgents"]} == {a, b}
    assert by_id[queued]["reservedAgent"]["id"] == other
    if other == a:
        assert by_id[done]["result"] == "succeeded"
    assert body["count"] == len(body["value"])


@pytest.mark.parametrize(("server", "latest"), [("2020", "6.0"), ("2022", "7.0")])
def test_server_mode_serves_a_collection_with_its_api_range(clock: ManualClock, server: str, latest: str) -> None:
    with FakeAzureDevOps(clock=clock, pat=PAT, org="DefaultCollection", server=server) as fake:
        assert fake.url.endswith("/tfs/DefaultCollection")
        pool = fake.add_pool("linux")
        agent = fake.add_agent(pool, "a1")
        url = f"{fake.url}/_apis/distributedtask/pools/{pool}/agents/{agent}"
        high = requests.get(url, params={"api-version": "7.1"}, auth=AUTH, timeout=5)
        assert high.status_code == 400 and high.json()["message"].endswith(f"supports is {latest}.")
        ok = requests.patch(
            url, params={"api-version": latest}, json={"id": agent, "enabled": False}, auth=AUTH, timeout=5
        )
        assert ok.status_code == 200 and ok.json()["maxParallelism"] == 0  # the partial-body damage on Server
        fake.set_enabled(agent, True)
        fake.queue_build(pool, 10)
        assert fake.agent(agent)["busy"] is False  # type: ignore[index]  # an agent at 0 takes no job
        wrong = requests.get(url, params={"api-version": latest}, auth=("", "nope"), timeout=5)
        assert wrong.status_code == 401  # no sign-in page on Server


@pytest.mark.parametrize("server", [None, "2022", "2020"])
def test_official_sdk_parses_every_call_the_gate_makes(
    clock: ManualClock, monkeypatch: pytest.MonkeyPatch, tmp_path: Any, server: str | None
) -> None:
    """Each request the gate sends (gate/adapters/azure.py), made by Microsoft's SDK against the fake in both
    deployments:
    the SDK discovers locations with OPTIONS, negotiates the version down to the server's and deserializes the
    answers into its own models (TaskAgentPool, TaskAgent, TaskAgentJobRequest, WrappedException)."""
    monkeypatch.setenv("AZURE_DEVOPS_CACHE_DIR", str(tmp_path))
    from azure.devops import client as sdk_client
    from azure.devops import connection as sdk_connection
    from azure.devops._file_cache import FileCache
    from azure.devops.connection import Connection
    from azure.devops.exceptions import AzureDevOpsServiceError
    from azure.devops.v7_1.task_agent.models import TaskAgent
    from msrest.authentication import BasicAuthentication

    monkeypatch.setattr(sdk_client, "OPTIONS_FILE_CACHE", FileCache(""))
    monkeypatch.setattr(sdk_connection, "RESOURCE_FILE_CACHE", FileCache(""))
    monkeypatch.setattr(sdk_client.Client, "_locations_cache", {})
    org = "DefaultCollection" if server else "fakeorg"
    with FakeAzureDevOps(clock=clock, pat=PAT, org=org, server=server) as fake:
        pool = fake.add_pool("linux")
        busy = fake.add_agent(pool, "agent-i-1", capabilities={"AWS_INSTANCE_ID": "i-1"})
        idle = fake.add_agent(pool, "agent-i-2")
        request_id = fake.start_build(busy, 600)
        fake.set_enabled(idle, False)  # drained: the queued job waits, matched to both agents, reserved by none
        queued = fake.queue_build(pool, 60)
        conn = Connection(base_url=fake.url, creds=BasicAuthentication("", PAT))
        client = conn.clients_v7_1.get_task_agent_client()

        [found] = client.get_agent_pools(pool_name="linux")  # GET pools?poolName=
        assert (found.id, found.name) == (pool, "linux")
        listed = client.get_agents(pool, include_capabilities=True, include_assigned_request=True)  # GET agents
        assert {a.id: a.assigned_request.request_id if a.assigned_request else None for a in listed} == {
            busy: request_id,
            idle: None,
        }
        one = client.get_agent(pool, busy, include_capabilities=True, include_assigned_request=True)  # GET agent
        assert one.system_capabilities["AWS_INSTANCE_ID"] == "i-1" and one.max_parallelism == 1

        # GET jobrequests?agentId=&completedRequestCount= (no SDK method: the SDK's own request path and models)
        location = "fc825784-c92a-4299-9221-998a02d1b54f"
        response = client._send(
            http_method="GET",
            location_id=location,
            version="7.2-preview.1",
            route_values={"poolId": pool},
            query_parameters={"agentId": idle, "completedRequestCount": 1},
        )
        jobs = client._deserialize("[TaskAgentJobRequest]", client._unwrap_collection(response))
        assert [(j.request_id, j.reserved_agent) for j in jobs] == [(queued, None)]
        assert {m.id for m in jobs[0].matched_agents} == {busy, idle} and jobs[0].queue_time.year >= 2020

        # PATCH with the listed record's fields, as the gate sends it
        record = TaskAgent(
            id=idle,
            name="agent-i-2",
            version=one.version,
            os_description=one.os_description,
            enabled=False,
            status="online",
            provisioning_state="Provisioned",
            max_parallelism=1,
        )
        updated = client.update_agent(record, pool, idle)
        assert (updated.enabled, updated.max_parallelism, updated.name) == (False, 1, "agent-i-2")
        client.delete_agent(pool, idle)  # DELETE agent
        with pytest.raises(AzureDevOpsServiceError, match="No agent found"):
            client.get_agent(pool, idle)


def test_contract_details_of_the_published_api(fake: FakeAzureDevOps, clock: ManualClock) -> None:
    """After MicrosoftDocs/vsts-rest-api-specs (distributedTask 7.1): pool answers carry no null integers (the
    service omits null fields), ReplaceAgent (PUT) and GetAgentRequest (GET one job request) are served, an
    UpdateAgent without a body is refused, and every JSON answer, errors included, names the negotiated version."""
    pool = fake.add_pool("linux")
    agent = fake.add_agent(pool, "a1")
    request_id = fake.start_build(agent, 600)

    pools = get(fake, "distributedtask/pools")
    assert pools.headers["Content-Type"] == "application/json; charset=utf-8; api-version=7.1"
    for record in pools.json()["value"]:
        assert None not in record.values(), record
    one = requests.get(
        f"{fake.url}/_apis/distributedtask/pools/{pool}", params={"api-version": "7.1-preview.1"}, auth=AUTH, timeout=5
    )
    assert one.headers["Content-Type"].endswith("api-version=7.1-preview.1") and None not in one.json().values()

    job = get(fake, f"distributedtask/pools/{pool}/jobrequests/{request_id}")
    assert job.status_code == 200 and job.json()["requestId"] == request_id
    assert job.json()["reservedAgent"]["id"] == agent
    missing = get(fake, f"distributedtask/pools/{pool}/jobrequests/{request_id + 100}", **{"api-version": "7.0"})
    assert missing.status_code == 404 and missing.json()["typeKey"] == "TaskAgentJobNotFoundException"
    assert missing.headers["Content-Type"] == "application/json; charset=utf-8; api-version=7.0"

    path = f"distributedtask/pools/{pool}/agents/{agent}"
    empty = _write(fake, "PATCH", path, "?api-version=7.1")
    assert empty.status_code == 400 and empty.json()["typeKey"] == "ArgumentNullException"
    assert empty.headers["Content-Type"].endswith("api-version=7.1")
    assert fake.agent(agent)["enabled"] is True  # type: ignore[index]
    replaced = _write(fake, "PUT", path, "?api-version=7.1-preview.1", json={"id": agent, "enabled": False})
    assert replaced.status_code == 200 and replaced.json()["enabled"] is False
    assert _write(fake, "PUT", path, "?api-version=7.1-preview.1").status_code == 400
