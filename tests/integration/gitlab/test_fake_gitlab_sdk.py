"""python-gitlab, GitLab's own Python client, parses the fake GitLab (as Microsoft's SDK parses the fake Azure
DevOps): runners, a runner's details, managers and jobs, pause, delete and pagination, so the fake's shapes are the
ones a real client reads."""

from __future__ import annotations

import gitlab as python_gitlab
import pytest

from emulator.gitlab import FakeGitLab
from gate.domain.clock import ManualClock
from tests.integration.gitlab.conftest import TOKEN


def client(fake: FakeGitLab, token: str = TOKEN) -> python_gitlab.Gitlab:
    return python_gitlab.Gitlab(fake.url, private_token=token, retry_transient_errors=False)


def test_runners_details_managers_and_jobs_parse(gitlab: FakeGitLab, clock: ManualClock) -> None:
    rid = gitlab.add_runner("ci-i-0123456789abcdef0", tags=["linux", "i-0123456789abcdef0"])
    mid = gitlab.add_manager(rid, "10.0.1.5", system_id="s_0123456789ab")
    job = gitlab.start_job(rid, 300)
    gl = client(gitlab)

    [listed] = gl.runners.list(get_all=True)
    assert (listed.id, listed.description, listed.paused) == (rid, "ci-i-0123456789abcdef0", False)
    assert listed.status == "online"
    runner = gl.runners.get(rid)
    assert runner.tag_list == ["linux", "i-0123456789abcdef0"] and runner.runner_type == "project_type"

    [running] = runner.jobs.list(status="running", get_all=True)
    assert running.id == job and running.status == "running"
    assert running.runner_manager["id"] == mid and running.runner_manager["system_id"] == "s_0123456789ab"
    # python-gitlab has no class for /runners/:id/managers: its HTTP layer still parses and pages the answer
    [manager] = gl.http_list(f"/runners/{rid}/managers", get_all=True)
    assert manager["ip_address"] == "10.0.1.5" and manager["job_execution_status"] == "active"

    clock.advance(301)
    assert runner.jobs.list(status="running", get_all=True) == []
    [done] = runner.jobs.list(status="success", get_all=True)
    assert done.finished_at is not None and done.duration == pytest.approx(300)
    assert gl.version()[0] == "17.5.2-ee"


def test_pause_stops_new_jobs_and_delete_removes_the_registration(gitlab: FakeGitLab) -> None:
    rid = gitlab.add_runner("ci-a")
    gl = client(gitlab)
    runner = gl.runners.get(rid)
    runner.paused = True
    runner.save()
    assert gitlab.runner(rid)["paused"] and gl.runners.get(rid).paused
    with pytest.raises(ValueError, match="takes no job"):
        gitlab.start_job(rid, 60)
    assert [r.id for r in gl.runners.list(paused=True, get_all=True)] == [rid]
    gl.runners.delete(rid)
    assert gitlab.runner(rid)["deleted"]
    with pytest.raises(python_gitlab.GitlabGetError) as err:
        gl.runners.get(rid)
    assert err.value.response_code == 404


def test_a_single_job_is_read_back_by_project_and_id(gitlab: FakeGitLab, clock: ManualClock) -> None:
    """`GET /projects/:id/jobs/:job_id`: how the gate reads back a job it saw running (issue 21). It keeps its status,
    finished_at and runner_manager after its runner is deleted (`runner` null then); a wrong project or id is 404."""
    rid = gitlab.add_runner("ci-i-0123456789abcdef0")
    mid = gitlab.add_manager(rid, "10.0.1.5", system_id="s_0123456789ab")
    job = gitlab.start_job(rid, 120, project="acme/api")
    gl = client(gitlab)
    [listed] = gl.runners.get(rid).jobs.list(status="running", get_all=True)
    project = gl.projects.get(listed.project["id"], lazy=True)  # lazy: the job route only, no project lookup
    read = project.jobs.get(job)
    assert (read.id, read.status, read.finished_at) == (job, "running", None)
    assert read.runner["id"] == rid and read.runner_manager["id"] == mid and read.pipeline["project_id"] == project.id
    clock.advance(121)
    gitlab.remove_runner(rid)  # gitlab-runner unregister as the job ends: the runner and its job list are 404 ...
    with pytest.raises(python_gitlab.GitlabListError) as gone:
        gl.runners.get(rid, lazy=True).jobs.list(get_all=True)
    assert gone.value.response_code == 404
    done = project.jobs.get(job)  # ... the job is not
    assert done.status == "success" and done.finished_at is not None and done.runner is None
    assert done.runner_manager["id"] == mid
    for project_id, job_id in ((project.id, job + 1), (project.id + 7, job)):
        with pytest.raises(python_gitlab.GitlabGetError) as err:
            gl.projects.get(project_id, lazy=True).jobs.get(job_id)
        assert err.value.response_code == 404


def test_pagination_headers_are_followed(gitlab: FakeGitLab) -> None:
    ids = [gitlab.add_runner(f"ci-{n}") for n in range(45)]
    gl = client(gitlab)
    pages = gl.runners.list(iterator=True, per_page=20)
    assert pages.total == 45 and pages.total_pages == 3
    assert [r.id for r in pages] == ids
    pages_asked = [c["query"].get("page") for c in gitlab.calls if c["path"] == "/api/v4/runners"]
    assert pages_asked[-2:] == ["2", "3"]


def test_auth_admin_list_and_rate_limit_answers(gitlab: FakeGitLab) -> None:
    gitlab.add_runner("shared", runner_type="instance_type", owned=False)
    with pytest.raises(python_gitlab.GitlabAuthenticationError):
        client(gitlab, "glpat-wrong").runners.list(get_all=True)
    with pytest.raises(python_gitlab.GitlabListError) as err:
        client(gitlab).runners_all.list(get_all=True)
    assert err.value.response_code == 403
    gitlab.admin = True
    [shared] = client(gitlab).runners_all.list(get_all=True)
    assert shared.is_shared and shared.runner_type == "instance_type"
    gitlab.inject("rate_limit", count=1, retry_after=7)
    with pytest.raises(python_gitlab.GitlabListError) as limited:
        # obey_rate_limit=False: python-gitlab would otherwise sleep on the Retry-After in wall time, then retry
        client(gitlab).runners.list(get_all=True, obey_rate_limit=False)
    assert limited.value.response_code == 429
    assert (limited.value.response_body or b"").startswith(b"Retry later")
