"""recover.yml's recovery (recovery.Recovery) against a fake host and a fake clock, as the deploy's scheduler is
tested: each state's plan in order, bounded, backing off, a recovery that must stay healthy, and a call for manual
action that says why. The health wait is the real one (health_wait.wait_for) on the same fake clock."""
from __future__ import annotations

import random

from ansible_collections.aiplatform.stack.plugins.plugin_utils import recovery as rc
from ansible_collections.aiplatform.stack.plugins.plugin_utils.health_wait import wait_for

SVC = {"name": "n8n", "project": "aiplatform-n8n", "probe": {"type": "http", "port": 5678},
       "backoff": {"initial": 0.5, "base": 0.5, "factor": 2, "cap": 2, "deadline": 20, "floor": 0.1}}
CONTAINERS = [{"name": "aiplatform-n8n", "status": "running", "running": True, "restart_count": 0, "exit_code": 0}]
READY = {"verdict": "ready", "detail": "HTTP 200", "containers": CONTAINERS}
WAITING = {"verdict": "waiting", "detail": "HTTP 503", "containers": CONTAINERS}
LOOPING = {"verdict": "crash_loop", "detail": "aiplatform-n8n exited with code 1", "logs": ["Error: boom"],
           "containers": [dict(CONTAINERS[0], status="exited", running=False, exit_code=1)]}
ENGINE = {"verdict": "engine_restarted", "detail": "aiplatform-n8n stopped with the Docker engine (exit 137)",
          "containers": [dict(CONTAINERS[0], status="exited", running=False, exit_code=137)]}


class Clock:
    def __init__(self) -> None:
        self.t, self.slept = 0.0, []

    def __call__(self) -> float:
        return self.t

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.t += max(0.0, seconds)


class FakeHost:
    """What the service does after each action: `after[action]` is healthy, looping, silent (never answers), engine
    (stopped with a restarted engine), or (healthy_for, seconds[, then]): answers, then loops (or `then`) that long
    after the action; a list: one of those for each time the action is taken (the last one after that).
    `fails[action]` is the act's result."""

    def __init__(self, clock: Clock, after: dict, fails: dict | None = None) -> None:
        self.clock, self.after, self.fails = clock, after, fails or {}
        self.actions: list[tuple[float, str]] = []
        self.stops = 0
        self.current = None
        self.paused_before: list[float | None] = []  # the last pause before each action

    def act(self, svc, action):
        self.clock.t += 0.2  # one module call
        self.actions.append((self.clock(), action))
        self.paused_before.append(self.clock.slept[-1] if self.clock.slept else None)
        if action in self.fails:
            return self.fails[action]
        self.current = action
        return {"changed": True}

    def stop(self, svc):
        self.stops += 1
        return {"changed": True}

    def probe(self, specs, baseline):
        self.clock.t += 0.2
        kind = self.after.get(self.current, "looping")
        if isinstance(kind, list):
            taken = sum(1 for dummy, action in self.actions if action == self.current)
            kind = kind[min(taken, len(kind)) - 1]
        if isinstance(kind, tuple):
            since = self.clock() - self.actions[-1][0]
            kind = "healthy" if since < kind[1] else (kind[2] if len(kind) > 2 else "looping")
        entry = {"healthy": READY, "looping": LOOPING, "silent": WAITING, "engine": ENGINE}[kind]
        return {s["name"]: entry for s in specs}


def recover(first_look, after, fails=None, check_mode=False, stable_seconds=5.0):
    clock = Clock()
    host = FakeHost(clock, after, fails)
    events: list[dict] = []

    def emit(event):
        event["t"] = clock()
        events.append(event)

    def wait(specs, probe, emit_, clock=None, sleep=None):
        return wait_for(specs, probe, emit_, clock=clock, sleep=sleep, rng=random.Random(1))

    recovery = rc.Recovery(host.act, host.stop, host.probe, wait, emit, stable_seconds=stable_seconds,
                           check_mode=check_mode, clock=clock, sleep=clock.sleep)
    outcome = recovery.run([SVC], {"n8n": first_look})["n8n"]
    return outcome, events, host, clock


def kinds(events):
    return [e["type"] for e in events if e["type"].startswith(("RECOVERY", "RESTART"))]


def test_a_crash_loop_is_recreated_then_reconfigured_backing_off_and_recovered_when_it_stays_healthy():
    outcome, events, host, clock = recover(LOOPING, {"recreate": "looping", "reconfigure": "healthy"})
    assert outcome == {"state": "recovered", "attempts": 2, "action": "reconfigure"}
    assert [a for dummy, a in host.actions] == ["recreate", "reconfigure"]
    assert host.paused_before[1] == rc.attempt_delay(2) == 2.0  # backed off right before the second attempt
    assert kinds(events) == ["RECOVERY_START", "RESTART_LOOP", "RECOVERY_START", "RECOVERY_SUCCESS"]
    success = events[-1]
    assert success["message"] == "healthy again after reconfigure (attempt 2)"
    # recovered only after it stayed healthy for stable_seconds
    assert success["t"] - host.actions[-1][0] >= 5.0
    assert host.stops == 0


def test_healthy_then_looping_within_the_stable_time_is_not_recovered_and_the_next_action_follows():
    outcome, events, host, dummy = recover(LOOPING, {"recreate": ("healthy_for", 3.0), "reconfigure": "healthy"})
    assert outcome["state"] == "recovered" and outcome["action"] == "reconfigure"
    relapse = next(e for e in events if e["type"] == "RESTART_LOOP")
    assert relapse["message"] == "healthy, then aiplatform-n8n exited with code 1"


def test_a_crash_loop_nothing_cures_is_stopped_with_a_call_for_manual_action_naming_the_last_log_line():
    outcome, events, host, dummy = recover(LOOPING, {})
    assert outcome["state"] == "crash_loop" and outcome["attempts"] == 2
    assert [a for dummy, a in host.actions] == ["recreate", "reconfigure"]
    assert host.stops == 1  # not left looping; volumes are never touched by a stop
    needed = events[-1]
    assert needed["type"] == "RECOVERY_NEEDED" and needed["level"] == "ERROR" and needed["category"] == "crash_loop"
    assert needed["message"].startswith("crash_loop after 2 recovery attempt(s): ")
    assert needed["message"].endswith("Last log line: Error: boom")


def test_a_service_that_never_answers_is_restarted_then_recreated_then_handed_to_the_operator():
    outcome, events, host, clock = recover(WAITING, {"restart": "silent", "recreate": "silent"})
    assert [a for dummy, a in host.actions] == ["restart", "recreate"]
    assert outcome["state"] == "unhealthy" and outcome["attempts"] == 2 and host.stops == 0
    assert clock.t >= 2 * SVC["backoff"]["deadline"]  # each attempt had its whole wait
    assert "never answers its readiness probe" in events[-1]["message"]


def test_a_failed_action_with_a_category_no_restart_cures_goes_straight_to_the_operator():
    fails = {"recreate": {"failed": True, "category": "port", "cause": "0.0.0.0:5678: address already in use"}}
    outcome, events, host, dummy = recover(LOOPING, {}, fails)
    assert [a for dummy, a in host.actions] == ["recreate"] and outcome["attempts"] == 1
    needed = events[-1]
    assert needed["category"] == "port" and "address already in use" in needed["message"]


def test_check_mode_says_what_it_would_do_and_does_nothing():
    outcome, events, host, dummy = recover(LOOPING, {}, check_mode=True)
    assert outcome == {"state": "crash_loop", "attempts": 0, "would": "recreate"}
    assert host.actions == [] and host.stops == 0 and kinds(events) == ["RECOVERY_START"]


def test_a_healthy_service_is_left_alone():
    outcome, events, host, dummy = recover(READY, {})
    assert outcome == {"state": "healthy", "attempts": 0} and host.actions == [] and events == []


def test_an_engine_restart_in_the_stable_time_repeats_the_action_and_is_no_crash_loop():
    outcome, events, host, dummy = recover(LOOPING, {"recreate": [("healthy_for", 2.0, "engine"), "healthy"]})
    assert outcome == {"state": "recovered", "attempts": 1, "action": "recreate"}
    assert [a for dummy, a in host.actions] == ["recreate", "recreate"] and host.stops == 0
    assert "RESTART_LOOP" not in kinds(events)
    retry = next(e for e in events if e["type"] == "HEALTH_RETRY" and e.get("category") == "engine")
    assert retry["message"].startswith("the Docker engine restarted after recreate: ")


def test_an_engine_restart_during_the_wait_repeats_the_action():
    outcome, events, host, dummy = recover(WAITING, {"restart": ["engine", "healthy"]})
    assert outcome == {"state": "recovered", "attempts": 1, "action": "restart"}
    assert [a for dummy, a in host.actions] == ["restart", "restart"]


def test_an_engine_that_keeps_restarting_is_the_operators_with_category_engine_and_nothing_is_stopped():
    outcome, events, host, dummy = recover(LOOPING, {"recreate": ("healthy_for", 2.0, "engine")})
    assert [a for dummy, a in host.actions] == ["recreate"] * (1 + rc.ENGINE_RESTARTS)
    assert outcome["state"] == "stopped" and host.stops == 0
    needed = events[-1]
    assert needed["type"] == "RECOVERY_NEEDED" and needed["category"] == "engine"
    assert f"the Docker engine restarted {rc.ENGINE_RESTARTS + 1} times" in needed["message"]


PG = dict(SVC, name="postgres", project="aiplatform-postgres")
DEPS = {"postgres": [], "n8n": ["postgres"]}


class GraphHost(FakeHost):
    """Two services, n8n needing postgres: `after[service][action]` as FakeHost's; before any action of its own a
    service shows `before[service]` (n8n may come back with postgres: `before["n8n"]` is then a function of it)."""

    def __init__(self, clock, after, before):
        super().__init__(clock, {})
        self.graph_after, self.before, self.doing = after, before, {}
        self.probed: list[str] = []

    def act(self, svc, action):
        self.doing[svc["name"]] = action
        return super().act(svc, action)

    def probe(self, specs, baseline):
        self.clock.t += 0.2
        out = {}
        for s in specs:
            name = s["name"]
            self.probed.append(name)
            if name in self.doing:
                kind = self.graph_after[name].get(self.doing[name], "looping")
            else:
                kind = self.before[name](self) if callable(self.before[name]) else self.before[name]
            out[name] = {"healthy": READY, "looping": LOOPING, "silent": WAITING}[kind]
        return out


def recover_graph(found, after, before, check_mode=False):
    clock = Clock()
    host = GraphHost(clock, after, before)
    events: list[dict] = []

    def wait(specs, probe, emit_, clock=None, sleep=None):
        return wait_for(specs, probe, emit_, clock=clock, sleep=sleep, rng=random.Random(1))

    recovery = rc.Recovery(host.act, host.stop, host.probe, wait, events.append, stable_seconds=2.0,
                           check_mode=check_mode, clock=clock, sleep=clock.sleep)
    return recovery.run([PG, SVC], found, DEPS), events, host


def test_a_dependent_of_a_dependency_nothing_cured_is_not_acted_on_and_names_it():
    outcome, events, host = recover_graph({"postgres": LOOPING, "n8n": WAITING}, {"postgres": {}}, {})
    assert outcome["postgres"]["state"] == "crash_loop" and outcome["n8n"]["attempts"] == 0
    assert [a for dummy, a in host.actions] == ["recreate", "reconfigure"]  # postgres' only
    blocked = events[-1]
    assert blocked["type"] == "RECOVERY_NEEDED" and blocked["service"] == "n8n" and blocked["category"] == "dependency"
    assert "its dependency postgres is not healthy on this host" in blocked["message"]


def test_a_dependent_that_came_back_with_its_dependency_is_judged_again_and_left_alone():
    outcome, events, host = recover_graph(
        {"postgres": LOOPING, "n8n": WAITING}, {"postgres": {"recreate": "healthy"}},
        {"n8n": lambda h: "healthy" if "postgres" in h.doing else "silent"})
    assert outcome == {"postgres": {"state": "recovered", "attempts": 1, "action": "recreate"},
                       "n8n": {"state": "healthy", "attempts": 0}}
    assert [a for dummy, a in host.actions] == ["recreate"]


def test_a_dependent_still_down_after_its_dependency_came_back_gets_its_own_recovery():
    outcome, events, host = recover_graph({"postgres": LOOPING, "n8n": WAITING},
                                          {"postgres": {"recreate": "healthy"}, "n8n": {"restart": "healthy"}},
                                          {"n8n": "silent"})
    assert outcome["n8n"] == {"state": "recovered", "attempts": 1, "action": "restart"}


def test_a_healthy_dependent_of_a_failed_dependency_is_left_alone_and_check_mode_blocks_nothing():
    outcome, events, host = recover_graph({"postgres": LOOPING, "n8n": READY}, {"postgres": {}}, {})
    assert outcome["n8n"] == {"state": "healthy", "attempts": 0}
    outcome, events, host = recover_graph({"postgres": LOOPING, "n8n": WAITING}, {}, {}, check_mode=True)
    assert outcome["n8n"] == {"state": "unhealthy", "attempts": 0, "would": "restart"} and host.actions == []


def test_a_crash_looping_dependent_of_a_dependency_still_down_is_stopped_not_left_looping():
    outcome, events, host = recover_graph({"postgres": LOOPING, "n8n": LOOPING}, {"postgres": {}}, {})
    assert outcome["n8n"]["attempts"] == 0 and [a for dummy, a in host.actions] == ["recreate", "reconfigure"]
    assert host.stops == 2  # postgres once nothing cured it, n8n while it waits for postgres
    assert "It was stopped, not left looping." in events[-1]["message"]


def recover_after_a_wait_that_ends(ended: str, detail: str):
    """(outcome, events, actions) of an unhealthy n8n whose first action's wait ends `ended`."""
    clock, events, acts = Clock(), [], []

    def act(svc, action):
        acts.append(action)
        return {"changed": True}

    def wait(specs, probe, emit, clock=None, sleep=None):
        return {s["name"]: {"state": ended, "detail": detail} for s in specs}

    recovery = rc.Recovery(act, lambda svc: None, lambda specs, baseline: {}, wait, events.append,
                           clock=clock, sleep=clock.sleep)
    return recovery.run([SVC], {"n8n": WAITING})["n8n"], events, acts


def test_a_wait_that_ends_in_a_refused_login_or_a_lost_engine_goes_to_the_operator_at_once():
    for ended, detail in (("config", "redis refused the login: WRONGPASS"),
                          ("engine", "the Docker engine does not answer (for 45 s)")):
        outcome, events, acts = recover_after_a_wait_that_ends(ended, detail)
        assert acts == ["restart"] and outcome["attempts"] == 1, ended  # no heavier action after it
        needed = events[-1]
        assert needed["type"] == "RECOVERY_NEEDED" and needed["category"] == ended and detail in needed["message"]
