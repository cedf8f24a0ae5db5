"""Failures of a service during the deploy: named, categorised, detected early, stopped.

LiteLLM's role is deployed with the lab stand-in image here, the stand-in's fault knobs set through the role's
litellm_extra_env; PostgreSQL and Redis are real.
"""
import itertools

import pytest

from ansible_collections.aiplatform.stack.plugins.module_utils import events as ev
from ansible_collections.aiplatform.stack.plugins.plugin_utils.scheduler import POLL_SECONDS

from .conftest import docker

STANDIN = {
    "litellm_image": "aiplatform-lab/standin:current",
    "litellm_database_enabled": True,
}
KNOBS = {"STANDIN_SERVICE": "litellm", "STANDIN_PORT": "4000", "STANDIN_READY_PATHS": "/health/readiness",
         "STANDIN_LIVE_PATHS": "/health/liveliness", "STANDIN_PG_URL_ENV": "DATABASE_URL",
         "STANDIN_REDIS_ENV_PREFIX": "REDIS_", "STANDIN_READY_BODY": '{"status":"healthy","db":"{db}"}'}


def standin(platform, knobs=None, backoff=None, **extra):
    vars_ = dict(STANDIN, litellm_extra_env=dict(KNOBS, **(knobs or {})), **extra)
    if backoff:
        vars_["litellm_backoff"] = backoff
    return platform.deploy(vars_)


@pytest.fixture(scope="module")
def wired(platform):
    run = standin(platform)
    assert run.rc == 0, run.stdout[-4000:]
    return run


def test_database_wiring_reaches_postgres_with_the_generated_role(platform, wired):
    healthy = wired.of(ev.HEALTH_SUCCESS, "litellm")
    assert healthy and "HTTP 200" in healthy[0]["message"]
    dbs = docker("exec", "aiplatform-postgres", "psql", "-U", "platform", "-d", "postgres", "-Atc",
                 "select datname || ':' || pg_get_userbyid(datdba) from pg_database").stdout.split()
    assert "litellm:litellm" in dbs
    again = standin(platform)
    assert again.rc == 0 and again.recap()["changed"] == 0


def test_wrong_wiring_fails_readiness(platform, wired):
    run = standin(platform, litellm_extra_secrets={"REDIS_PASSWORD": "not-the-password"},
                  backoff={"initial": 0.5, "base": 0.5, "cap": 1, "deadline": 8})
    assert run.rc != 0
    timeout = run.of(ev.HEALTH_TIMEOUT, "litellm")
    assert timeout and "redis" in timeout[0]["message"].lower()


def test_never_healthy_times_out_within_its_deadline(platform, wired):
    run = standin(platform, {"STANDIN_NEVER_READY": "1"}, backoff={"initial": 0.5, "base": 0.5, "cap": 2, "deadline": 10})
    assert run.rc != 0
    deployed = run.of(ev.DEPLOY_SUCCESS, "litellm")[0]["time"]
    timeout = run.of(ev.HEALTH_TIMEOUT, "litellm")
    assert timeout and timeout[0]["level"] == "ERROR" and timeout[0]["category"] == "timeout"
    assert 9 <= timeout[0]["time"] - deployed <= 14
    # Live progress: a retry line at least every poll window (POLL_SECONDS) until the timeout, whatever a step costs.
    marks = [deployed] + [e["time"] for e in run.of(ev.HEALTH_RETRY, "litellm")] + [timeout[0]["time"]]
    assert len(marks) >= 4, marks
    assert max(b - a for a, b in itertools.pairwise(marks)) <= POLL_SECONDS + 2, marks
    assert all(e["level"] == "WARN" for e in run.of(ev.HEALTH_RETRY))


def test_crash_loop_is_detected_in_seconds_and_stopped(platform, wired):
    # Without rollback (tested in test_operations), to see the loop stopped rather than replaced.
    run = standin(platform, {"STANDIN_EXIT_CODE": "3", "STANDIN_EXIT_AFTER": "0"},
                  backoff={"initial": 0.5, "base": 0.5, "cap": 2, "deadline": 300}, aiplatform_rollback=False)
    assert run.rc != 0
    deployed = run.of(ev.DEPLOY_SUCCESS, "litellm")[0]["time"]
    loop = run.of(ev.RESTART_LOOP, "litellm")
    assert loop, [e["type"] for e in run.events]
    assert loop[0]["time"] - deployed < 15  # seconds, not the 300 s deadline
    assert "code 3" in loop[0]["message"] or "restart" in loop[0]["message"]
    assert any("exiting with code 3" in line for line in loop[0]["logs"])
    status = docker("inspect", "-f", "{{.State.Status}}", "aiplatform-litellm").stdout.strip()
    assert status == "exited"  # stopped, not left looping


def test_port_held_by_a_foreign_process_stops_the_deploy_before_any_change(platform, wired):
    import os
    import socket

    compose_file = os.path.join(platform.base_dir, "litellm", "compose.yml")
    before = open(compose_file).read()
    started = docker("inspect", "-f", "{{.State.StartedAt}}", "aiplatform-litellm").stdout
    holder = socket.socket()
    holder.bind(("127.0.0.1", 0))
    holder.listen()
    try:
        port = holder.getsockname()[1]
        run = standin(platform, litellm_published_port=port)
    finally:
        holder.close()
    assert run.rc != 0
    conflict = run.of(ev.PORT_CONFLICT, "litellm")
    assert conflict and conflict[0]["level"] == "ERROR"
    message = conflict[0]["message"]
    assert f"port {port}" in message and f"process {os.getpid()}" in message and "litellm_published_port" in message
    assert not run.of(ev.DEPLOY_START)  # nothing was deployed
    assert open(compose_file).read() == before
    assert docker("inspect", "-f", "{{.State.StartedAt}}", "aiplatform-litellm").stdout == started
