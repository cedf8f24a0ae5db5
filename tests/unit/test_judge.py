"""One judgement of a service's containers (probes.judge), read by the deploy's wait (assess), status and recover
(recovery.diagnose): the same container facts give the same state and the same words in all three."""
from __future__ import annotations

import datetime
import os

import pytest

from ansible_collections.aiplatform.stack.plugins.module_utils import probes
from ansible_collections.aiplatform.stack.plugins.plugin_utils import recovery as rc

NOW = datetime.datetime(2026, 12, 7, 10, 0, 0, tzinfo=datetime.UTC)
ENGINE_STARTED = NOW.timestamp() - 30  # 09:59:30


def c(**kw):
    base = {"name": "aiplatform-litellm", "status": "running", "running": True, "exit_code": 0, "restart_count": 0,
            "oneshot": False, "oom_killed": False, "started_at": "2026-12-07T09:50:00.5Z",
            "finished_at": "0001-01-01T00:00:00Z"}
    base.update(kw)
    return base


KILLED = c(status="exited", running=False, exit_code=137, finished_at="2026-12-07T09:59:27.812345678Z")


def test_docker_time_reads_nanoseconds_and_the_zero_time():
    assert probes.docker_time("2026-12-07T09:59:27.812345678Z") == pytest.approx(ENGINE_STARTED - 2.187655, abs=1e-6)
    assert probes.docker_time("2026-12-07T09:59:30Z") == ENGINE_STARTED
    assert probes.docker_time("0001-01-01T00:00:00Z") is None and probes.docker_time("") is None
    assert probes.docker_time("yesterday") is None


def test_a_container_that_ended_before_the_engine_started_again_stopped_with_the_engine():
    state, detail = probes.judge([KILLED], {}, ENGINE_STARTED, NOW.timestamp())
    assert state == probes.ENGINE_RESTARTED
    assert detail == "aiplatform-litellm stopped with the Docker engine (exit code 137); the engine started again 2 s later"
    # the deploy's wait gives it a whole wait again; status and recover call it stopped, in the same words
    assert probes.assess([KILLED], {}, ENGINE_STARTED) == ("engine_restarted", detail)
    assert rc.diagnose({"containers": [KILLED], "engine_started": ENGINE_STARTED}, NOW) == (rc.STOPPED, detail)


def test_an_exit_long_before_the_engine_started_is_the_containers_own_and_not_the_engines():
    # a crash days before a reboot is still a crash: the engine stops what runs, it did not stop this one
    old = dict(KILLED, exit_code=1, finished_at="2026-12-05T08:00:00Z")
    assert probes.judge([old], {}, ENGINE_STARTED, NOW.timestamp()) == (
        probes.CRASH_LOOP, "aiplatform-litellm exited with code 1")


def test_another_engine_named_by_a_docker_context_has_no_start_known_here(tmp_path, monkeypatch):
    pidfile = tmp_path / "docker.pid"
    pidfile.write_text("1234\n")
    monkeypatch.delenv("DOCKER_HOST", raising=False)
    monkeypatch.setenv("DOCKER_CONTEXT", "remote-engine")
    assert probes.engine_started_at(str(pidfile)) is None


def test_a_container_the_engine_ended_as_it_started_after_dying_stopped_with_the_engine():
    # measured here: `kill -9` of dockerd, then a start; the container that ran (restart policy no) was ended by the new
    # engine 0.3 s after its pid file, with exit code 0, which alone would read as a service that stopped by itself
    reaped = c(status="exited", running=False, exit_code=0, finished_at="2026-12-07T09:59:30.313Z")
    state, detail = probes.judge([reaped], {}, ENGINE_STARTED, NOW.timestamp())
    assert state == probes.ENGINE_RESTARTED
    assert detail == ("aiplatform-litellm still ran when the Docker engine stopped without stopping it (exit code 0); "
                      "ended as the engine started again")
    assert probes.assess([reaped], {}, ENGINE_STARTED) == ("engine_restarted", detail)
    assert rc.diagnose({"containers": [reaped], "engine_started": ENGINE_STARTED}, NOW) == (rc.STOPPED, detail)
    # started by the engine now running, then ended: its own, whenever that was
    own = dict(reaped, started_at="2026-12-07T09:59:30.2Z")
    assert probes.judge([own], {}, ENGINE_STARTED, NOW.timestamp())[0] == probes.STOPPED
    # ran before, but ended later than the engine's start could explain: its own (an engine with live-restore keeps
    # its containers running across its restart)
    late = dict(reaped, finished_at="2026-12-07T09:59:41Z")
    assert probes.judge([late], {}, ENGINE_STARTED, NOW.timestamp())[0] == probes.STOPPED
    # an error of its own just after the engine started (an engine with live-restore): a crash, not the engine's
    failed = dict(reaped, exit_code=1)
    assert probes.judge([failed], {}, ENGINE_STARTED, NOW.timestamp()) == (
        probes.CRASH_LOOP, "aiplatform-litellm exited with code 1")


def test_a_container_that_exited_after_the_engine_started_is_its_own_crash():
    crashed = dict(KILLED, finished_at="2026-12-07T09:59:45Z")
    assert probes.judge([crashed], {}, ENGINE_STARTED, NOW.timestamp()) == (
        probes.CRASH_LOOP, "aiplatform-litellm exited with code 137")
    # no engine start known (a remote engine): as before, a crash
    assert probes.judge([KILLED], {}, None, NOW.timestamp())[0] == probes.CRASH_LOOP


def test_the_deploy_and_status_judge_the_same_facts_alike():
    cases = [
        ([c(status="restarting", running=False, exit_code=3, restart_count=2)], probes.CRASH_LOOP, rc.CRASH_LOOP),
        ([c(status="exited", running=False, exit_code=1)], probes.CRASH_LOOP, rc.CRASH_LOOP),
        ([c(status="exited", running=False, exit_code=0)], probes.STOPPED, rc.STOPPED),
        ([c(status="created", running=False, exit_code=0)], probes.NOT_RUNNING, rc.STOPPED),
        ([], probes.MISSING, rc.MISSING),
        ([c(status="removing", running=False)], probes.NOT_RUNNING, rc.STOPPED),
        ([c(status="exited", running=False, oneshot=True), c(name="y")], probes.RUNNING, rc.HEALTHY),
    ]
    for containers, state, status_state in cases:
        judged = probes.judge(containers, {}, None, NOW.timestamp())
        assert judged[0] == state, containers
        assert probes.assess(containers, {}) == (probes.WAIT_VERDICT[state], judged[1])
        assert rc.diagnose({"verdict": "ready", "detail": "HTTP 200", "containers": containers}, NOW) == (
            status_state, "HTTP 200" if state == probes.RUNNING else judged[1])


def test_restarts_count_since_the_baseline_in_a_wait_and_within_the_window_without_one():
    looping = c(restart_count=5, started_at="2026-12-07T09:59:50Z")
    assert probes.judge([looping], {"aiplatform-litellm": 4}, None, NOW.timestamp())[1] == (
        "aiplatform-litellm restarted 1 time(s) during the wait (5 in all)")
    assert probes.judge([looping], {"aiplatform-litellm": 5}, None, NOW.timestamp())[0] == probes.RUNNING
    assert probes.judge([looping], None, None, NOW.timestamp())[0] == probes.CRASH_LOOP  # status: 5 >= 3, 10 s ago
    settled = c(restart_count=5, started_at="2026-12-07T09:00:00Z")
    assert probes.judge([settled], None, None, NOW.timestamp())[0] == probes.RUNNING


def test_the_engine_start_is_the_pid_file_dockerd_writes_as_it_starts(tmp_path, monkeypatch):
    pidfile = tmp_path / "docker.pid"
    pidfile.write_text("1234\n")
    os.utime(pidfile, (ENGINE_STARTED, ENGINE_STARTED))
    monkeypatch.delenv("DOCKER_HOST", raising=False)
    assert probes.engine_started_at(str(pidfile)) == ENGINE_STARTED
    assert probes.engine_started_at(str(tmp_path / "none.pid")) is None  # rootless, or another pid file
    monkeypatch.setenv("DOCKER_HOST", "tcp://engine.internal:2376")  # another machine's engine: its start is not known here
    assert probes.engine_started_at(str(pidfile)) is None
