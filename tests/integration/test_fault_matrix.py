"""The rest of the fault matrix: each case's category, event sequence, healthy services untouched, data kept.

LiteLLM's role runs the lab stand-in (fault knobs through litellm_extra_env); PostgreSQL and Redis are real.
Outcomes go to tests/output/fault_matrix.json (cases, median crash-loop detection, recovery rate).
"""
import threading
import time

import pytest

from ansible_collections.aiplatform.stack.plugins.module_utils import events as ev

from .conftest import docker, wait_until
from .test_faults import KNOBS, standin

ROW = "matrix-row"


def started(name):
    return docker("inspect", "-f", "{{.State.StartedAt}}", name, check=False).stdout.strip()


def subsequence(types, wanted):
    it = iter(types)
    return all(any(t == w for t in it) for w in wanted)


def psql(sql):
    return docker("exec", "aiplatform-postgres", "psql", "-U", "platform", "-d", "platform", "-Atc", sql, check=False)


@pytest.fixture(scope="module")
def base(platform):
    run = standin(platform)
    assert run.rc == 0, run.stdout[-3000:]
    assert psql(f"CREATE TABLE IF NOT EXISTS m (v text); INSERT INTO m VALUES ('{ROW}')").returncode == 0
    return platform


def untouched_and_kept(before):
    assert {n: started(n) for n in before} == before, "a healthy service was restarted"
    assert psql("SELECT v FROM m").stdout.strip() == ROW


def test_slow_start_inside_the_deadline(base, matrix):
    infra = {n: started(n) for n in ("aiplatform-postgres", "aiplatform-redis")}
    # (10 s: under the second lane's load a deploy step can take longer than 4 s, and the first probe then found the
    # stand-in ready already, with no retry to see)
    run = standin(base, {"STANDIN_START_DELAY": "10"}, backoff={"initial": 0.5, "base": 0.5, "cap": 2, "deadline": 60})
    assert run.rc == 0
    types = [e["type"] for e in run.events if e["service"] == "litellm"]
    assert subsequence(types, [ev.DEPLOY_START, ev.DEPLOY_SUCCESS, ev.HEALTH_RETRY, ev.HEALTH_SUCCESS])
    untouched_and_kept(infra)
    matrix.record("slow_start", category=None, events=types, passed=True)


def test_crash_loop_detection_time(base, matrix):
    infra = {n: started(n) for n in ("aiplatform-postgres", "aiplatform-redis")}
    times = []
    for dummy in range(3):
        run = standin(base, {"STANDIN_EXIT_CODE": "3", "STANDIN_EXIT_AFTER": "0"},
                      backoff={"initial": 0.5, "base": 0.5, "cap": 2, "deadline": 300})
        deployed = run.of(ev.DEPLOY_SUCCESS, "litellm")[0]["time"]
        loop = run.of(ev.RESTART_LOOP, "litellm")[0]
        times.append(loop["time"] - deployed)
        assert loop["category"] == "crash_loop"
        # the loop ends the wait at once: nowhere near the 300 s deadline
        assert times[-1] < 30, times
    untouched_and_kept(infra)
    matrix.record("crash_loop", category="crash_loop", detect_s=round(sorted(times)[1], 2), runs=times, passed=True)


def test_missing_image_leaves_the_running_version_alone(base, matrix):
    run = standin(base)
    assert run.rc == 0
    before = started("aiplatform-litellm")
    run = standin(base, litellm_image="aiplatform-lab/no-such-image:1.0")
    assert run.rc != 0
    fail = run.of(ev.DEPLOY_FAIL, "litellm")
    assert fail and fail[0]["category"] == "image" and "no-such-image" in fail[0]["message"]
    assert started("aiplatform-litellm") == before  # the old container still runs
    matrix.record("missing_image", category="image", passed=True)


def test_dependency_down_before_deploy_is_brought_back_first(base, matrix):
    docker("stop", "aiplatform-redis")
    run = standin(base)
    assert run.rc == 0, run.stdout[-4000:]
    redis = run.of(ev.DEPLOY_SUCCESS, "redis")
    assert redis and "started" in redis[0]["message"]
    assert run.of(ev.HEALTH_SUCCESS, "redis")[0]["time"] <= run.of(ev.DEPLOY_START, "litellm")[0]["time"]
    matrix.record("dependency_down_before_deploy", category=None, passed=True)


def test_dependency_dies_during_the_wait_then_recovery(base, matrix):
    killed = []

    def kill_redis_when_litellm_starts():
        wait_until(lambda: docker("inspect", "-f", "{{.State.Status}}", "aiplatform-litellm",
                                  check=False).stdout.strip() == "running", 60, "LiteLLM running", 0.2)
        docker("stop", "aiplatform-redis")
        killed.append(time.monotonic())

    docker("rm", "-f", "aiplatform-litellm")
    killer = threading.Thread(target=kill_redis_when_litellm_starts)
    killer.start()
    run = standin(base, {"STANDIN_START_DELAY": "3"}, backoff={"initial": 0.5, "base": 0.5, "cap": 2, "deadline": 12})
    killer.join()
    assert killed, "Redis was never stopped during the wait"
    assert run.rc != 0
    timeout = run.of(ev.HEALTH_TIMEOUT, "litellm")
    assert timeout and "redis" in timeout[0]["message"].lower() and timeout[0]["category"] == "timeout"
    rec = base.deploy({"litellm_image": "aiplatform-lab/standin:current", "litellm_database_enabled": True,
                       "litellm_extra_env": KNOBS}, playbook="playbooks/recover.yml")
    assert rec.rc == 0, rec.stdout[-3000:]
    # Redis is brought back; LiteLLM then answers again by itself (its readiness checks Redis), or is restarted.
    assert "redis" in {e["service"] for e in rec.of(ev.RECOVERY_SUCCESS)}
    assert not rec.of(ev.RECOVERY_NEEDED)
    status = base.deploy(playbook="playbooks/status.yml")
    assert any('"litellm   localhost  healthy' in line for line in status.stdout.splitlines())
    assert psql("SELECT v FROM m").stdout.strip() == ROW
    matrix.record("dependency_dies_during_wait", category="timeout", recoverable=True, recovered=True, passed=True)


def test_exit_after_becoming_healthy_ends_in_a_call_for_manual_action(base, matrix):
    knobs = {"STANDIN_EXIT_CODE": "2", "STANDIN_EXIT_AFTER": "5"}
    run = standin(base, knobs, backoff={"initial": 0.5, "base": 0.25, "cap": 1, "deadline": 30})
    assert run.rc == 0 and run.of(ev.HEALTH_SUCCESS, "litellm")  # healthy first
    wait_until(lambda: int(docker("inspect", "-f", "{{.RestartCount}}", "aiplatform-litellm").stdout.split()[0]) >= 3,
               90, "LiteLLM restarted three times", 1)
    rec = base.deploy({"litellm_image": "aiplatform-lab/standin:current", "litellm_database_enabled": True,
                       "litellm_extra_env": dict(KNOBS, **knobs),
                       "litellm_backoff": {"initial": 0.5, "base": 0.25, "cap": 1, "deadline": 30}},
                      playbook="playbooks/recover.yml")
    assert rec.rc != 0
    needed = rec.of(ev.RECOVERY_NEEDED, "litellm")
    assert needed and needed[0]["level"] == "ERROR"
    assert [e["action"] for e in rec.of(ev.RECOVERY_START, "litellm")][:1] in (["recreate"], ["restart"])
    assert docker("inspect", "-f", "{{.State.Status}}", "aiplatform-litellm").stdout.strip() == "exited"
    assert psql("SELECT v FROM m").stdout.strip() == ROW
    matrix.record("exit_after_healthy", category="crash_loop", recoverable=True, recovered=False, passed=True)


def test_a_wrong_password_fails_fast_as_config_not_at_the_deadline(base, matrix):
    # LiteLLM given a Redis password Redis does not know: WRONGPASS from the first probe on
    run = standin(base, litellm_extra_secrets={"REDIS_PASSWORD": "not-the-password"},
                  backoff={"initial": 0.5, "base": 0.5, "cap": 2, "deadline": 300})
    assert run.rc != 0
    deployed = run.of(ev.DEPLOY_SUCCESS, "litellm")[0]["time"]
    refused = run.of(ev.CONFIG_INVALID, "litellm")
    assert refused and refused[0]["category"] == "config", run.stdout[-3000:]
    assert "redis" in refused[0]["message"] and "redis.json" in refused[0]["message"]
    took = refused[0]["time"] - deployed
    assert took < 30, took  # the wait ended on the refusal, nowhere near its 300 s deadline
    assert not run.of(ev.HEALTH_TIMEOUT, "litellm")
    matrix.record("wrong_password", category="config", detect_s=round(took, 2), passed=True)
