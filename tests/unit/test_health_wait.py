"""The wait loop on a fake clock: schedules, deadlines, crash loops, events."""
import random

from ansible_collections.aiplatform.stack.plugins.module_utils import events as ev
from ansible_collections.aiplatform.stack.plugins.plugin_utils.health_wait import wait_for


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        assert seconds >= 0
        self.now += seconds


def container(name, restarts=0, status="running"):
    return {"name": name, "restart_count": restarts, "status": status}


def run(services, answer, seed=1):
    clock = Clock()
    events = []
    rounds = []

    def probe_round(specs, baseline):
        rounds.append((clock.now, [s["name"] for s in specs]))
        return {s["name"]: answer(s["name"], clock.now) for s in specs}

    out = wait_for(services, probe_round, events.append, clock=clock, sleep=clock.sleep, rng=random.Random(seed))
    return out, events, rounds, clock


def test_ready_after_start_delay_emits_retries_then_success():
    svc = [{"name": "pg", "backoff": {"initial": 0.5, "base": 0.25, "cap": 2, "deadline": 30}}]

    def answer(name, t):
        return {"verdict": "ready" if t >= 3 else "waiting", "detail": "x", "containers": [container("pg")]}

    out, events, rounds, clock = run(svc, answer)
    assert out["pg"]["state"] == "healthy"
    types = [e["type"] for e in events]
    assert types[-1] == ev.HEALTH_SUCCESS and set(types[:-1]) == {ev.HEALTH_RETRY}
    assert rounds[0][0] == 0.5  # initial delay honoured
    assert 3 <= clock.now <= 3 + 2  # noticed within one capped delay of becoming ready
    assert "attempt 1, next in" in events[0]["message"]


def test_never_ready_times_out_at_the_deadline_not_before_not_much_after():
    svc = [{"name": "x", "backoff": {"initial": 0, "base": 0.5, "cap": 4, "deadline": 20}}]
    out, events, rounds, clock = run(svc, lambda n, t: {"verdict": "waiting", "detail": "HTTP 503"})
    assert out["x"]["state"] == "timeout"
    assert events[-1]["type"] == ev.HEALTH_TIMEOUT and events[-1]["level"] == "ERROR"
    assert 19.8 <= clock.now <= 20.5
    assert "within 20 s" in events[-1]["message"]


def test_crash_loop_ends_the_wait_at_once():
    svc = [{"name": "c", "backoff": {"initial": 0, "base": 1, "cap": 5, "deadline": 300}}]

    def answer(name, t):
        if t < 2:
            return {"verdict": "waiting", "detail": "starting", "containers": [container("c")]}
        return {"verdict": "crash_loop", "detail": "c exited with code 3", "logs": ["boom"],
                "containers": [container("c", status="exited")]}

    out, events, rounds, clock = run(svc, answer)
    assert out["c"]["state"] == "crash_loop" and out["c"]["logs"] == ["boom"]
    assert clock.now < 10  # not the 300 s deadline
    assert events[-1]["type"] == ev.RESTART_LOOP and "last log line: boom" in events[-1]["message"]


def test_services_of_a_wave_are_waited_for_together():
    svc = [{"name": "a", "backoff": {"initial": 0, "base": 0.5, "cap": 1, "deadline": 30}},
           {"name": "b", "backoff": {"initial": 0, "base": 0.5, "cap": 1, "deadline": 30}}]
    out, events, rounds, clock = run(svc, lambda n, t: {"verdict": "ready" if t >= 4 else "waiting", "detail": ""})
    assert {o["state"] for o in out.values()} == {"healthy"}
    assert clock.now < 6  # both in about 4 s, not 8
    assert rounds[0][1] == ["a", "b"]  # one probe call covers both


def test_baseline_restart_counts_are_taken_from_the_first_round():
    seen = []

    def probe_round(specs, baseline):
        seen.append(dict(baseline))
        return {"a": {"verdict": "ready" if len(seen) > 1 else "waiting", "detail": "",
                      "containers": [container("a-1", restarts=4)]}}

    clock = Clock()
    wait_for([{"name": "a", "backoff": {"initial": 0}}], probe_round, lambda e: None, clock=clock, sleep=clock.sleep)
    assert seen[0] == {} and seen[1] == {"a-1": 4}


def test_assess_container_states():
    from ansible_collections.aiplatform.stack.plugins.module_utils.probes import assess

    def c(**kw):
        base = {"name": "x", "oneshot": False, "status": "running", "running": True, "exit_code": 0,
                "restart_count": 0, "oom_killed": False}
        base.update(kw)
        return base

    assert assess([c()]) == ("ok", "running")
    assert assess([])[0] == "missing"
    assert assess([c(status="restarting", running=False, exit_code=3, restart_count=2)])[1] == "x restarting (exit code 3, 2 restarts)"
    assert assess([c(restart_count=5)], {"x": 4})[1] == "x restarted 1 time(s) during the wait (5 in all)"
    assert assess([c(restart_count=5)], {"x": 5}) == ("ok", "running")
    assert assess([c(status="exited", running=False, exit_code=137, oom_killed=True)])[1] == "x exited with code 137 (out of memory)"
    assert assess([c(oneshot=True, status="exited", running=False)]) == ("ok", "running")


WRONGPASS = 'HTTP 503: {"problems": ["redis: WRONGPASS invalid username-password pair or user is disabled."]}'


def test_a_login_refused_on_every_probe_ends_the_wait_as_config_not_at_the_deadline():
    svc = [{"name": "n8n", "backoff": {"initial": 0.5, "base": 0.5, "cap": 5, "deadline": 300}}]
    out, events, rounds, clock = run(svc, lambda name, t: {"verdict": "waiting", "detail": WRONGPASS})
    assert out["n8n"]["state"] == "config" and out["n8n"]["link"] == "redis"
    assert clock.now < 30  # about 10 s of refusals, not the 300 s deadline
    err = next(e for e in events if e["type"] == ev.CONFIG_INVALID)
    assert err["category"] == "config" and "redis.json" in err["message"] and "n8n" in err["message"]


def test_a_refusal_that_shows_only_in_the_log_is_found_too():
    svc = [{"name": "n8n", "backoff": {"initial": 0.5, "base": 0.5, "cap": 5, "deadline": 300}}]

    def answer(name, t):
        return {"verdict": "waiting", "detail": "HTTP 503",
                "logs": ['Error: password authentication failed for user "n8n"']}

    out, events, dummy, clock = run(svc, answer)
    assert out["n8n"]["state"] == "config" and out["n8n"]["link"] == "postgres"
    assert "db_password in <aiplatform_secrets_dir>/n8n.json" in next(e for e in events if e["type"] == ev.CONFIG_INVALID)["message"]


def test_a_refusal_in_the_log_asked_for_every_third_probe_ends_the_wait_and_names_the_right_link():
    # The real Open WebUI given a wrong Redis password: its probe says only "Redis not ready", its log (fetched on
    # every third probe) says auth:AuthenticationError. The wait once ran out its whole deadline (325 s measured).
    clock, events = Clock(), []

    def probe_round(specs, baseline):
        out = {}
        for s in specs:
            out[s["name"]] = {"verdict": "waiting", "detail": 'HTTP 503: {"detail":"Redis not ready"}'}
            if s.get("with_logs"):
                out[s["name"]]["logs"] = ["INFO  [open_webui.main] Readiness check Redis ping failed: "
                                          "auth:AuthenticationError"]
        return out

    svc = [{"name": "openwebui", "backoff": {"initial": 0.5, "base": 0.5, "cap": 5, "deadline": 300}}]
    out = wait_for(svc, probe_round, events.append, clock=clock, sleep=clock.sleep, rng=random.Random(1))
    assert out["openwebui"]["state"] == "config" and out["openwebui"]["link"] == "redis", out
    assert clock.now < 40, clock.now  # tens of seconds, not the 300 s deadline
    err = next(e for e in events if e["type"] == ev.CONFIG_INVALID)
    assert "user_openwebui in <aiplatform_secrets_dir>/redis.json" in err["message"]


def test_a_refusal_seen_in_a_log_is_forgotten_when_the_answer_changes():
    clock, events = Clock(), []

    def probe_round(specs, baseline):
        out = {}
        for s in specs:
            detail = "HTTP 503: starting" if clock.now > 3 else 'HTTP 503: {"detail":"Redis not ready"}'
            out[s["name"]] = {"verdict": "ready" if clock.now > 20 else "waiting", "detail": detail}
            if s.get("with_logs") and clock.now <= 3:
                out[s["name"]]["logs"] = ["Readiness check Redis ping failed: auth:AuthenticationError"]
        return out

    svc = [{"name": "openwebui", "backoff": {"initial": 0.5, "base": 0.5, "cap": 2, "deadline": 300}}]
    out = wait_for(svc, probe_round, events.append, clock=clock, sleep=clock.sleep, rng=random.Random(1))
    assert out["openwebui"]["state"] == "healthy"  # a refusal while Redis restarted, then a different answer


def test_a_passing_refusal_keeps_the_backoff():
    svc = [{"name": "n8n", "backoff": {"initial": 0.5, "base": 0.5, "cap": 5, "deadline": 300}}]

    def answer(name, t):  # refused for 4 s (a dependency restarting), then fine
        return {"verdict": "ready", "detail": "HTTP 200"} if t > 4 else {"verdict": "waiting", "detail": WRONGPASS}

    out, dummy, dummy2, dummy3 = run(svc, answer)
    assert out["n8n"]["state"] == "healthy"


def test_every_third_probe_asks_for_the_log_tail():
    clock, asked = Clock(), []

    def probe_round(specs, baseline):
        asked.append(bool(specs[0].get("with_logs")))
        return {s["name"]: {"verdict": "ready" if clock.now > 3 else "waiting", "detail": "x"} for s in specs}

    wait_for([{"name": "a", "backoff": {"initial": 0, "base": 0.5, "cap": 0.5, "deadline": 60}}], probe_round,
             lambda e: None, clock=clock, sleep=clock.sleep, rng=random.Random(1))
    assert asked[:6] == [False, False, True, False, False, True]
