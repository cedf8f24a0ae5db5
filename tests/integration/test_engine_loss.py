"""The Docker engine goes away in the middle of a deploy, or a module's process is killed: every failure is an
ERROR event (with its category and cause) in aiplatform.log and events.jsonl before RUN_END, and RUN_END names the
step that failed.

The engine is really stopped (SIGTERM to dockerd: its containers stop with it) at three points of a deploy of the
core services, and started again by scripts/engine.sh before the next case; the module is killed with SIGKILL.
An engine stopped and started again at once during a wait is no failure at all: the deploy ends healthy.
"""
import json
import os
import signal
import subprocess

import pytest

from ansible_collections.aiplatform.stack.plugins.module_utils import events as ev

from .conftest import ROOT, engine_ready, wait_for_other_engine_users, wait_until

# when the engine is stopped: the log line that marks the moment
POINTS = {
    # redis answered; the next step brings PostgreSQL up on an engine that is gone
    "between_steps": "[INFO] [redis] healthy",
    # LiteLLM's `compose up` has just been sent
    "during_compose_up": "[INFO] [litellm] deploying project",
    # LiteLLM is up and waited for
    "during_a_wait": "[WARN] [litellm] not ready",
}


def engine_pids():
    out = subprocess.run(["pgrep", "-x", "dockerd"], capture_output=True, text=True, check=False).stdout
    return [int(p) for p in out.split()]


def stop_engine():
    for pid in engine_pids():
        os.kill(pid, signal.SIGTERM)
    wait_until(lambda: not engine_pids(), 60, "dockerd stopped")


def start_engine():
    subprocess.run(["bash", "scripts/engine.sh"], cwd=ROOT, check=True, capture_output=True, text=True,
                   env=dict(os.environ, PATH=os.path.join(ROOT, ".venv", "bin") + os.pathsep + os.environ["PATH"]))
    wait_until(engine_ready, 60, "the engine answers again")


def start_deploy(platform, log_dir, **extra_vars):
    env = dict(os.environ, AIPLATFORM_LOG_DIR=log_dir, ANSIBLE_FORCE_COLOR="0",
               PATH=os.path.join(ROOT, ".venv", "bin") + os.pathsep + os.environ["PATH"])
    argv = ["ansible-playbook", "playbooks/site.yml", "-i", "inventories/lab",
            "-e", f"aiplatform_base_dir={platform.base_dir}", "-e", json.dumps({"aiplatform_services": platform.services}),
            # the wait for LiteLLM must outlast the engine's absence by far: the failure is the engine's, not a timeout
            "-e", json.dumps({"litellm_backoff": {"deadline": 300}, **extra_vars})]
    return subprocess.Popen(argv, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def log_has(log_dir, marker):
    path = os.path.join(log_dir, "aiplatform.log")
    return os.path.exists(path) and marker in open(path).read()


def events_of(log_dir):
    return [json.loads(line) for line in open(os.path.join(log_dir, "events.jsonl")).read().splitlines()]


def assert_accounted_for(log_dir, proc_out):
    events = events_of(log_dir)
    assert events[-1]["type"] == ev.RUN_END and events[-1]["status"] == "failed", proc_out[-3000:]
    errors = [e for e in events if e["level"] == "ERROR"]
    assert errors, [e["message"] for e in events]
    assert all(e.get("category") for e in errors), errors
    # the step where it went wrong: the deploy, not the verdict task that fails the host afterwards
    assert " at step 'aiplatform.stack.aiplatform : Deploy the services" in events[-1]["message"], events[-1]
    lines = open(os.path.join(log_dir, "aiplatform.log")).read().splitlines()
    end = max(i for i, line in enumerate(lines) if "[INFO] [run] run " in line and " failed at step '" in line)
    assert any("] [ERROR] [" in line for line in lines[:end]), lines[-20:]
    return errors


@pytest.fixture(scope="module")
def engine_platform(platform):
    wait_for_other_engine_users()  # stopping the engine would end the image builds and the lab hosts still running
    yield platform
    if not engine_ready():
        start_engine()


@pytest.mark.parametrize("point", sorted(POINTS))
def test_the_engine_stopped_mid_run_is_an_error_event_naming_the_step(engine_platform, tmp_path, point):
    platform = engine_platform
    platform.teardown()
    log_dir = str(tmp_path)
    proc = start_deploy(platform, log_dir)
    try:
        wait_until(lambda: log_has(log_dir, POINTS[point]) or proc.poll() is not None, 240, POINTS[point],
                   interval=0.05)
        assert proc.poll() is None, proc.stdout.read()[-3000:]
        stop_engine()
        out, dummy = proc.communicate(timeout=240)
    finally:
        if proc.poll() is None:
            proc.kill()
        start_engine()
    assert proc.returncode != 0
    errors = assert_accounted_for(log_dir, out)
    assert any(e["category"] == "engine" for e in errors), [(e["type"], e["category"], e["message"]) for e in errors]
    assert any("docker daemon" in e["message"].lower() or "engine" in e["message"].lower() for e in errors), errors


def test_an_engine_restarted_during_a_wait_is_not_a_crash_loop_and_the_deploy_ends_healthy(engine_platform, tmp_path):
    # restart policy "no": the engine does not start the containers again by itself, so what it stopped stays
    # stopped (exit code 137) until the deploy brings it up again; with it, PostgreSQL and Redis, which had answered
    platform = engine_platform
    platform.teardown()
    log_dir = str(tmp_path)
    proc = start_deploy(platform, log_dir, aiplatform_restart_policy="no")
    try:
        wait_until(lambda: log_has(log_dir, POINTS["during_a_wait"]) or proc.poll() is not None, 240,
                   POINTS["during_a_wait"], interval=0.05)
        assert proc.poll() is None, proc.stdout.read()[-3000:]
        stop_engine()
        start_engine()
        out, dummy = proc.communicate(timeout=300)
    finally:
        if proc.poll() is None:
            proc.kill()
        if not engine_ready():
            start_engine()
    assert proc.returncode == 0, out[-4000:]
    events = events_of(log_dir)
    assert not [e for e in events if e["level"] == "ERROR"], [e["message"] for e in events if e["level"] == "ERROR"]
    again = {e["service"]: e["message"] for e in events if e["type"] == ev.HEALTH_RETRY and e.get("category") == "engine"}
    assert "stopped with the Docker engine" in again.get("litellm", ""), again
    assert {"postgres", "redis"} <= set(again), again
    # each answered again after the engine came back, not only before it stopped
    for name in platform.services:
        again_at = next((i for i, e in enumerate(events) if e["type"] == ev.HEALTH_RETRY and e["service"] == name
                         and e.get("category") == "engine"), None)
        assert again_at is not None, name
        assert any(e["type"] == ev.HEALTH_SUCCESS and e["service"] == name for e in events[again_at:]), name
    assert events[-1]["type"] == ev.RUN_END and events[-1]["status"] != "failed", events[-1]


def test_a_killed_module_is_an_error_event_naming_the_step(platform, tmp_path):
    platform.teardown()
    log_dir = str(tmp_path)
    proc = start_deploy(platform, log_dir)
    try:
        wait_until(lambda: log_has(log_dir, "[INFO] [litellm] deploying project") or proc.poll() is not None, 240,
                   "LiteLLM's deploy started", interval=0.05)

        def deploy_module():
            out = subprocess.run(["pgrep", "-f", "AnsiballZ_deploy_step"], capture_output=True, text=True,
                                 check=False).stdout.split()
            return [int(p) for p in out if int(p) != os.getpid()]

        def kill_a_step():
            # a step that had just finished (or its not yet reaped process) is no kill: again until one lands
            for pid in deploy_module():
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            return log_has(log_dir, "[ERROR]") or proc.poll() is not None

        wait_until(kill_a_step, 30, "a deploy_step module killed", interval=0.05)
        out, dummy = proc.communicate(timeout=240)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode != 0, out[-3000:]
    errors = assert_accounted_for(log_dir, out)
    assert any(e["type"] in (ev.STEP_FAIL, ev.DEPLOY_FAIL) for e in errors), errors
