"""The deploy scheduler against a fake host and a fake clock: order, failure propagation, rollback, interruption."""
from __future__ import annotations

import math
import random

import pytest

from ansible_collections.aiplatform.stack.plugins.module_utils import errors as err
from ansible_collections.aiplatform.stack.plugins.plugin_utils.health_wait import ENGINE_SECONDS
from ansible_collections.aiplatform.stack.plugins.plugin_utils.scheduler import POLL_SECONDS, Scheduler, Service

from ..dependency_map import default_dependencies

SEED = default_dependencies()  # the roles' own depends_on
STEP_COST = 0.2  # one module round trip
POLL_EVERY = 0.25  # the fake host's pause between probe rounds of a poll


class Clock:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t

    def sleep(self, seconds: float) -> None:
        self.t += max(0.0, seconds)


class FakeHost:
    """Services as behaviours: how long until ready after a start, whether they crash, fail to start, or run already.

    spec keys: ready_after (s), crash (bool), up_fails (category), running (unchanged and answering already),
    dies_at (time at which a running service starts crash looping), previous_ready_after (after a rollback),
    engine_restarts_at (times at which its containers stopped with a restarting Docker engine).
    """

    def __init__(self, clock: Clock, specs: dict[str, dict], interrupt_at_step: int | None = None) -> None:
        self.clock, self.specs = clock, specs
        self.started: dict[str, float] = {}
        self.rolled: set[str] = set()
        self.requests: list[dict] = []
        self.interrupt_at_step = interrupt_at_step
        self.databases_made_at: float | None = None
        self.polls: list[float] = []  # the poll window of each step that polled

    def verdict(self, name: str) -> dict:
        restarts = [t for s in self.specs.values() for t in s.get("engine_restarts_at", []) if t <= self.clock()]
        return dict(self._verdict(name), engine_started=max([0.5, *restarts]))

    def _verdict(self, name: str) -> dict:
        spec, now = self.specs[name], self.clock()
        if spec.get("engine_down_at") is not None and now >= spec["engine_down_at"]:
            return {"verdict": "waiting", "detail": "the Docker engine does not answer: Cannot connect",
                    "engine_down": True, "containers": []}
        restarted = [t for t in spec.get("engine_restarts_at", []) if t <= now and self.started.get(name, -1.0) < t]
        if restarted:  # its containers stopped with the engine at that time, and it was not brought up since
            return {"verdict": "engine_restarted", "detail": f"aiplatform-{name} stopped with the Docker engine "
                    "(exit code 137); the engine started again 2 s later", "containers": []}
        if spec.get("dies_at") is not None and now >= spec["dies_at"]:
            return {"verdict": "crash_loop", "detail": f"{name} exited with code 1", "logs": ["boom"], "containers": []}
        if spec.get("running") and name not in self.started:
            if now < spec.get("ready_at", 0.0):  # runs unchanged, answers only from then on
                return {"verdict": "waiting", "detail": "HTTP 503: redis down", "containers": []}
            return {"verdict": "ready", "detail": "ok", "containers": []}
        if name not in self.started:
            return {"verdict": "waiting", "detail": "no container", "containers": []}
        if spec.get("crash") and name not in self.rolled:
            return {"verdict": "crash_loop", "detail": f"{name} restarting", "logs": ["boom"], "containers": []}
        after = spec.get("previous_ready_after", 1.0) if name in self.rolled else spec.get("ready_after", 1.0)
        if after is None or now < self.started[name] + after:
            return {"verdict": "waiting", "detail": "HTTP 503", "containers": []}
        return {"verdict": "ready", "detail": "HTTP 200", "containers": []}

    def step(self, request: dict) -> dict:
        self.requests.append(request)
        if self.interrupt_at_step is not None and len(self.requests) == self.interrupt_at_step:
            raise KeyboardInterrupt
        self.clock.t += STEP_COST
        out: dict = {"check": {}, "up": {}, "previous": {}, "stop": {}, "probe": {}, "remote": {}, "wiring": {}}
        for p in request.get("check") or []:
            spec = self.specs[p["service"]]
            if spec.get("check_fails"):
                out["check"][p["service"]] = {"failed": True, "category": "config", "cause": spec["check_fails"]}
            elif p.get("start_if_changed") and not spec.get("running"):  # as the host does: checked, then up
                out["check"][p["service"]] = self.up(p["service"])
                if not out["check"][p["service"]].get("failed"):
                    out["check"][p["service"]].update(brought_up=True, changed_files=["compose.yml"])
            else:
                out["check"][p["service"]] = {"changed": not spec.get("running"), "changed_files": []}
                if not spec.get("running"):
                    out["check"][p["service"]]["validated"] = {"hash": "h-" + p["service"], "services": [], "images": []}
                if spec.get("running"):
                    out["probe"][p["service"]] = self.verdict(p["service"])
        for p in request.get("previous") or []:
            self.rolled.add(p["service"])
            self.started[p["service"]] = self.clock()
            out["previous"][p["service"]] = {"changed": True}
        for p in request.get("stop") or []:
            out["stop"][p["service"]] = {"changed": True}
        for p in request.get("up") or []:
            out["up"][p["service"]] = self.up(p["service"])
        self.answer(request, out)
        if request.get("poll"):  # as the host does: probe on, every POLL_EVERY s, until an answer is not "waiting"
            self.polls.append(request["poll"]["seconds"])
            end = self.clock() + request["poll"]["seconds"]
            while self.clock() + POLL_EVERY <= end + 1e-9 and all(
                    r["verdict"] == "waiting" for part in ("probe", "remote") for r in out[part].values()):
                self.clock.t += POLL_EVERY
                self.answer(request, out)
        dbs = request.get("databases")
        if dbs and (not dbs.get("when_ready") or out["probe"].get(dbs["when_ready"], {}).get("verdict") == "ready"):
            self.databases_made_at = self.clock()
            made = [] if self.specs["postgres"].get("running") else ["created database n8n"]
            out["databases"] = {"ok": True, "changes": made}
        out["models"] = {m["service"]: self.specs[m["service"]].get("models_missing", [])
                         for m in request.get("models") or []
                         if out["probe"].get(m["service"], {}).get("verdict") == "ready"}
        for w in request.get("wiring") or []:
            if not w.get("if_ready") or out["probe"].get(w["name"], {}).get("verdict") == "ready":
                bad = self.specs[w["name"]].get("unwired")
                out["wiring"][w["name"]] = {"postgres": {"ok": not bad, "address": "postgres:5432", "detail": "x"}}
        return out

    def up(self, name: str) -> dict:
        spec = self.specs[name]
        if spec.get("up_fails"):
            return {"failed": True, "category": spec["up_fails"], "cause": "bind failed"}
        self.started[name] = self.clock()
        return {"changed": True, "actions": ["up"], "rollback_available": bool(spec.get("previous_ready_after"))}

    def answer(self, request: dict, out: dict) -> None:
        for s in request.get("probe") or []:
            out["probe"][s["name"]] = self.verdict(s["name"])
        for d in request.get("remote") or []:
            ready = self.clock() >= self.specs[d["name"]].get("remote_ready_at", 0.0)
            out["remote"][d["name"]] = {"verdict": "ready" if ready else "waiting", "detail": "tcp"}


def service(name: str, deps: list[str], deadline: float = 60.0, wiring: bool = False) -> Service:
    backoff = {"initial": 0.5, "base": 0.5, "factor": 2, "cap": 2, "deadline": deadline, "floor": 0.1}
    return Service(name=name, deps=deps,
                   project={"service": name, "project_src": f"/opt/aiplatform/{name}", "project_name": f"aiplatform-{name}"},
                   wait={"name": name, "project": f"aiplatform-{name}", "probe": {"type": "http"}, "backoff": backoff,
                         "type": "application"},
                   wiring={"name": name, "container": f"aiplatform-{name}", "endpoints": []} if wiring else None,
                   databases={"container": "aiplatform-postgres", "databases": []} if name == "postgres" else None,
                   models={"port": 11434, "names": ["llama3.2"]} if name == "ollama" else None)


def run(specs: dict[str, dict], deps: dict | None = None, remote: dict | None = None, failures=None, **kwargs):
    deps = deps or SEED
    clock = Clock()
    host = FakeHost(clock, specs, kwargs.pop("interrupt_at_step", None))
    events: list[dict] = []

    def emit(event: dict) -> None:
        event["t"] = clock()
        events.append(event)

    local = [service(n, list(deps.get(n, [])), specs[n].get("deadline", 60.0), specs[n].get("wired", False))
             for n in deps if n in specs and not specs[n].get("elsewhere")]
    for s in local:
        s.failure = (failures or {}).get(s.name)
    sched = Scheduler(local, host.step, emit, remote=remote, clock=clock, wall=clock,
                      rng=random.Random(1),
                      **kwargs)
    return sched.run(), events, host


def first(events: list[dict], kind: str, service: str) -> dict:
    return next(e for e in events if e["type"] == kind and e["service"] == service)


def test_a_slow_n8n_does_not_hold_back_the_applications_that_do_not_need_it():
    specs = {n: {"ready_after": 2.0} for n in SEED}
    specs["n8n"].update(ready_after=60.0, deadline=120.0)
    summary, events, host = run(specs)
    assert summary["failed_services"] == [] and set(summary["healthy"]) == set(SEED)
    n8n_healthy = first(events, "HEALTH_SUCCESS", "n8n")["t"]
    litellm_healthy = first(events, "HEALTH_SUCCESS", "litellm")["t"]
    for app in ("dify", "flowise", "anythingllm", "openwebui"):
        started = next(i for i, r in enumerate(host.requests) if any(p["service"] == app for p in r.get("up") or []))
        # started in the first step after LiteLLM answered, and healthy long before n8n
        assert first(events, "DEPLOY_SUCCESS", app)["t"] <= litellm_healthy + STEP_COST + 1e-9, app
        assert first(events, "HEALTH_SUCCESS", app)["t"] < n8n_healthy, app
        assert started > 0
    # n8n itself started as soon as PostgreSQL and Redis were healthy, before LiteLLM was
    assert first(events, "DEPLOY_SUCCESS", "n8n")["t"] < litellm_healthy


def test_nothing_starts_before_its_own_dependencies_are_healthy():
    specs = {n: {"ready_after": 1.0 + i * 0.7} for i, n in enumerate(SEED)}
    summary, events, dummy = run(specs)
    assert summary["failed_services"] == []
    for name, deps in SEED.items():
        started = first(events, "DEPLOY_START", name)["t"]
        for dep in deps:
            assert first(events, "HEALTH_SUCCESS", dep)["t"] <= started, (name, dep)


def test_the_databases_are_made_in_the_step_where_postgres_answers_before_any_consumer_starts():
    summary, events, host = run({n: {"ready_after": 1.0} for n in SEED})
    assert host.databases_made_at == pytest.approx(first(events, "HEALTH_SUCCESS", "postgres")["t"])
    assert first(events, "DEPLOY_SUCCESS", "litellm")["t"] > host.databases_made_at


def test_each_up_carries_what_the_check_validated_so_the_host_does_not_validate_again():
    summary, dummy, host = run({n: {"ready_after": 1.0} for n in SEED})
    ups = [p for r in host.requests for p in r.get("up") or []]
    at_once = [p["service"] for p in host.requests[0]["check"] if p.get("start_if_changed")]
    assert summary["failed_services"] == [] and sorted([p["service"] for p in ups] + at_once) == sorted(SEED)
    assert all(p.get("validated", {}).get("hash") == "h-" + p["service"] for p in ups)


def test_what_needs_nothing_is_brought_up_by_the_first_step_itself():
    summary, events, host = run({n: {"ready_after": 1.0} for n in SEED})
    first_step = host.requests[0]
    assert sorted(p["service"] for p in first_step["check"] if p.get("start_if_changed")) == ["ollama", "redis"]
    assert host.started["redis"] == host.started["ollama"] == STEP_COST  # in the first round trip, not a second
    assert not any(p["service"] in ("redis", "ollama") for r in host.requests for p in r.get("up") or [])
    assert first(events, "DEPLOY_SUCCESS", "redis")["message"].startswith("started up")
    # its start is dated when the step began: another host may see it ready before the step comes back
    assert first(events, "DEPLOY_START", "redis")["time"] == 0.0 < first(events, "DEPLOY_START", "redis")["t"]
    assert summary["healthy"] and summary["failed_services"] == []
    # nothing is started by a check in check mode or one at a time
    for kwargs in ({"check_mode": True}, {"serial": True}):
        dummy, dummy, host = run({n: {"ready_after": 1.0} for n in SEED}, **kwargs)
        assert not any(p.get("start_if_changed") for p in host.requests[0]["check"])


def test_the_links_of_a_service_are_checked_in_the_step_in_which_it_answers():
    specs = {n: {"ready_after": 1.0, "wired": True} for n in SEED}
    summary, events, host = run(specs)
    assert summary["failed_services"] == []
    # no step asks for links alone: each is asked along with the probe that finds its service ready
    assert all(r.get("probe") or r.get("check") for r in host.requests if r.get("wiring"))
    assert not any(w for r in host.requests for w in r.get("wiring") or [] if not w.get("if_ready"))
    specs["flowise"]["unwired"] = True
    summary, events, host = run(specs)
    assert summary["failed_services"] == ["flowise"]
    assert len([e for e in events if e["type"] == "CONNECTIVITY_FAIL"]) == 1  # judged once


def test_the_step_that_finds_the_last_service_ready_may_give_the_run_lock_back():
    lock = {"dir": "/opt/aiplatform", "run": "r1"}
    no_models = {n: d for n, d in SEED.items() if n != "ollama"}  # Ollama's models are pulled by a task after it
    summary, dummy, host = run({n: {"ready_after": 1.0, "wired": n != "postgres"} for n in no_models}, no_models,
                               lock=lock)
    offered = [i for i, r in enumerate(host.requests) if r.get("release_lock_if_settled")]
    # the check (which releases it on the fast path) and the step that finds the last service ready, no step between
    assert offered[0] == 0 and offered[-1] == len(host.requests) - 1 and len(host.requests) > 2
    for i in offered[1:]:
        r = host.requests[i]
        assert not any(r.get(part) for part in ("up", "stop", "previous", "databases"))
        assert {p["name"] for p in r["probe"]} <= {w["name"] for w in r["wiring"]} | {"redis", "postgres"}
    summary, dummy, host = run({n: {"ready_after": 1.0} for n in SEED}, lock=lock)
    assert not any(r.get("release_lock_if_settled") for r in host.requests[1:])  # models not known to be there
    # never while something still has to start or a failure is known
    specs = {n: {"ready_after": 1.0} for n in SEED}
    specs["litellm"].update(ready_after=None, deadline=5.0)
    summary, dummy, host = run(specs, lock=lock)
    assert summary["failed_services"]
    assert not any(r.get("release_lock_if_settled") for r in host.requests[1:]
                   if any(s in ("dify", "flowise", "openwebui", "anythingllm") for s in
                          [p["service"] for p in r.get("up") or []]))
    last_failed = next(i for i, r in enumerate(host.requests) if any(p["name"] == "litellm" for p in r.get("probe") or [])
                       and i > 0)
    assert not any(r.get("release_lock_if_settled") for r in host.requests[last_failed + 1:])


def test_a_failure_skips_its_dependents_with_the_reason_and_independent_services_carry_on():
    specs = {n: {"ready_after": 1.0} for n in SEED}
    specs["litellm"]["ready_after"] = None  # never ready
    specs["litellm"]["deadline"] = 5.0
    summary, events, dummy = run(specs)
    assert summary["services"]["litellm"]["state"] == "failed"
    for app in ("dify", "flowise", "anythingllm", "openwebui"):
        assert summary["services"][app]["state"] == "skipped"
        skip = first(events, "DEPLOY_SKIPPED", app)
        assert "depends on litellm, which failed" in skip["message"] and skip["category"] == "dependency"
    assert {"postgres", "redis", "ollama", "n8n"} <= set(summary["healthy"])
    assert first(events, "HEALTH_TIMEOUT", "litellm")["category"] == "timeout"


def test_a_start_failure_is_categorised_and_blocks_only_its_dependents():
    specs = {n: {"ready_after": 1.0} for n in SEED}
    specs["redis"]["up_fails"] = "port"
    summary, events, dummy = run(specs)
    assert first(events, "PORT_CONFLICT", "redis")["category"] == "port"
    assert first(events, "DEPLOY_FAIL", "redis")["category"] == "port"
    assert set(summary["healthy"]) == {"ollama"}
    assert summary["services"]["postgres"]["detail"] == "not started: it depends on redis, which failed"


def test_a_change_that_crash_loops_is_rolled_back_and_its_dependents_still_start():
    specs = {n: {"ready_after": 1.0} for n in SEED}
    specs["litellm"].update(crash=True, previous_ready_after=1.0)
    summary, events, host = run(specs)
    assert summary["rolled_back"] == ["litellm"] and summary["reverted"] == ["litellm"]
    assert any(r.get("previous") for r in host.requests)
    assert not any(p["service"] == "litellm" for r in host.requests for p in r.get("stop") or [])
    rolled = next(e for e in events if e["type"] == "DEPLOY_SUCCESS" and e.get("rollback"))
    assert rolled["service"] == "litellm"
    assert {"dify", "flowise", "anythingllm", "openwebui"} <= set(summary["healthy"])


def test_a_crash_loop_without_a_previous_version_is_stopped_not_left_looping():
    specs = {n: {"ready_after": 1.0} for n in SEED}
    specs["ollama"]["crash"] = True
    summary, events, host = run(specs, rollback=True)
    assert summary["services"]["ollama"]["state"] == "failed" and summary["reverted"] == []  # its new files stay
    assert summary["services"]["ollama"]["category"] == "crash_loop"
    assert [p["service"] for r in host.requests for p in r.get("stop") or []] == ["ollama"]
    assert any("stopped to end the crash loop" in e["message"] for e in events if e["service"] == "ollama")
    assert len(summary["healthy"]) == len(SEED) - 1


def test_a_dependency_that_dies_during_a_wait_fails_and_skips_what_needs_it():
    specs = {n: {"ready_after": 1.0} for n in SEED}
    specs["postgres"].update(running=True, dies_at=0.5)  # answers in the check, crash loops by its next probe
    specs["litellm"]["ready_after"] = 30.0
    specs["redis"]["running"] = True
    summary, events, dummy = run(specs)
    # postgres answered the first check (healthy then); everything that started after still runs, nothing hangs
    assert summary["services"]["postgres"]["state"] == "healthy"
    specs = {n: {"ready_after": 1.0} for n in SEED}
    specs["postgres"].update(ready_after=3.0, dies_at=2.0)  # started, then crash loops before it answered
    summary, events, dummy = run(specs)
    assert summary["services"]["postgres"]["category"] == "crash_loop"
    assert {"litellm", "n8n", "dify"} <= set(summary["failed_services"])
    assert set(summary["healthy"]) == {"redis", "ollama"}


def test_the_no_op_fast_path_is_one_round_trip_and_changes_nothing():
    specs = {n: {"running": True, "wired": n != "postgres"} for n in SEED}
    summary, events, host = run(specs)
    assert len(host.requests) == 1
    assert summary["changed"] is False
    assert set(summary["healthy"]) == set(SEED)
    assert {e["type"] for e in events} == {"DEPLOY_START", "DEPLOY_SUCCESS", "HEALTH_SUCCESS"}
    # the wiring and the databases were checked in that same call
    assert len(host.requests[0]["wiring"]) == len(SEED) - 1 and host.requests[0]["databases"]["when_ready"] == "postgres"


def test_a_broken_link_found_by_the_wiring_check_fails_the_service():
    specs = {n: {"running": True} for n in SEED}
    specs["n8n"]["wired"] = True
    specs["n8n"]["unwired"] = True
    summary, events, dummy = run(specs)
    assert summary["failed_services"] == ["n8n"]
    assert first(events, "CONNECTIVITY_FAIL", "n8n")["message"].startswith("cannot reach postgres at postgres:5432")


def test_check_mode_starts_nothing():
    specs = {n: {"ready_after": 1.0} for n in SEED}
    specs["redis"]["running"] = True
    summary, events, host = run(specs, check_mode=True)
    assert len(host.requests) == 1 and not host.started
    assert summary["changed"] is True
    assert summary["services"]["litellm"]["state"] == "would_change"
    assert summary["services"]["redis"]["state"] == "healthy"


def test_serial_starts_one_service_at_a_time():
    specs = {n: {"ready_after": 1.0} for n in SEED}
    summary, dummy, host = run(specs, serial=True)
    assert summary["failed_services"] == []
    assert all(len(r.get("up") or []) <= 1 for r in host.requests)


def test_a_dependency_on_another_host_is_waited_for_by_probing_it_from_here():
    deps = {"litellm": ["postgres"], "n8n": ["postgres"]}
    specs = {"litellm": {"ready_after": 1.0}, "n8n": {"ready_after": 1.0},
             "postgres": {"elsewhere": True, "remote_ready_at": 4.0}}
    remote = {"postgres": {"host": "10.0.0.5", "port": 5432, "probe": {"type": "tcp"},
                           "backoff": {"initial": 0, "base": 0.5, "factor": 2, "cap": 1, "deadline": 30}}}
    summary, events, host = run(specs, deps=deps, remote=remote)
    assert summary["failed_services"] == []
    ready = first(events, "DEPENDENCY_READY", "postgres")["t"]
    assert ready >= 4.0
    assert first(events, "DEPLOY_SUCCESS", "litellm")["t"] >= ready
    assert any(e["type"] == "DEPENDENCY_WAIT" and e["level"] == "WARN" for e in events)


def test_a_dependency_on_another_host_ready_at_the_first_look_is_recorded_as_ready_then():
    deps = {"litellm": ["postgres"]}
    specs = {"litellm": {"ready_after": 1.0}, "postgres": {"elsewhere": True, "remote_ready_at": 0.0}}
    remote = {"postgres": {"host": "10.0.0.5", "port": 5432, "probe": {"type": "tcp"},
                           "backoff": {"initial": 0, "base": 0.5, "factor": 2, "cap": 1, "deadline": 30}}}
    summary, events, dummy = run(specs, deps=deps, remote=remote)
    ready = first(events, "DEPENDENCY_READY", "postgres")
    assert summary["failed_services"] == [] and ready["t"] == STEP_COST and "10.0.0.5:5432" in ready["message"]
    assert first(events, "DEPLOY_START", "litellm")["t"] >= ready["t"]


def test_a_dependency_on_another_host_that_never_answers_skips_its_dependents():
    deps = {"n8n": ["postgres"], "ollama": []}
    specs = {"n8n": {}, "ollama": {}, "postgres": {"elsewhere": True, "remote_ready_at": 1e9}}
    remote = {"postgres": {"host": "10.0.0.5", "port": 5432, "probe": {"type": "tcp"},
                           "backoff": {"initial": 0, "base": 0.5, "factor": 2, "cap": 1, "deadline": 5}}}
    summary, events, dummy = run(specs, deps=deps, remote=remote)
    assert summary["services"]["n8n"]["state"] == "skipped"
    assert first(events, "DEPENDENCY_FAIL", "postgres")["level"] == "ERROR"
    assert summary["healthy"] == ["ollama"]


def test_a_dependency_on_a_host_that_dropped_out_is_failed_at_once():
    deps = {"n8n": ["postgres"]}
    summary, dummy, host = run({"n8n": {}}, deps=deps, down={"postgres"})
    assert summary["services"]["n8n"]["state"] == "skipped"
    assert host.requests == []  # nothing left to ask the host


def test_an_interrupted_run_records_what_was_in_flight_and_stops():
    specs = {n: {"ready_after": 5.0} for n in SEED}
    events: list[dict] = []
    with pytest.raises(KeyboardInterrupt):
        clock = Clock()
        host = FakeHost(clock, specs, interrupt_at_step=3)
        local = [service(n, SEED[n]) for n in SEED]
        Scheduler(local, host.step, events.append, clock=clock).run()
    interrupted = [e for e in events if e["type"] == "DEPLOY_FAIL" and e["category"] == "interrupted"]
    assert {e["service"] for e in interrupted} == set(SEED)
    assert len(host.requests) == 3


def test_a_config_error_in_the_check_fails_before_anything_starts():
    specs = {n: {"ready_after": 1.0} for n in SEED}
    specs["litellm"]["check_fails"] = "config.yaml: model_list must be a list"
    summary, events, host = run(specs)
    assert first(events, "CONFIG_INVALID", "litellm")["category"] == "config"
    assert summary["services"]["dify"]["state"] == "skipped"
    assert not any(p["service"] == "litellm" for r in host.requests for p in r.get("up") or [])


def test_models_are_left_to_the_pull_step_only_when_not_known_to_be_there():
    summary, dummy, dummy2 = run({n: {"running": True} for n in SEED})
    assert summary["models"] == []  # listed in the check: nothing to pull, no pull step
    specs = {n: {"running": True} for n in SEED}
    specs["ollama"]["models_missing"] = ["llama3.2"]
    assert run(specs)[0]["models"] == ["ollama"]
    assert run({n: {"ready_after": 1.0} for n in SEED})[0]["models"] == ["ollama"]  # started now: not known


def test_an_unchanged_service_that_does_not_answer_waits_for_its_dependencies_then_is_waited_for_not_restarted():
    specs = {n: {"running": True} for n in SEED}
    specs["redis"] = {"ready_after": 1.0}  # stopped by hand: drifted, brought back
    specs["litellm"] = {"running": True, "ready_at": 3.0}
    summary, events, host = run(specs)
    assert summary["failed_services"] == []
    assert first(events, "HEALTH_SUCCESS", "redis")["t"] <= first(events, "DEPLOY_START", "litellm")["t"]
    assert not any(p["service"] == "litellm" for r in host.requests for p in r.get("up") or [])


def test_a_running_service_whose_dependency_dropped_out_is_skipped_with_the_reason():
    summary, events, host = run({"n8n": {"running": True}}, deps={"n8n": ["postgres"]}, down={"postgres"})
    assert summary["services"]["n8n"]["state"] == "skipped"
    assert first(events, "DEPLOY_SKIPPED", "n8n")["blocked_by"] == "postgres"
    assert not [e for e in events if e["type"] == "DEPLOY_START"]


def test_a_service_that_could_not_be_rendered_fails_alone_and_its_dependents_are_skipped():
    summary, events, host = run({n: {"ready_after": 1.0} for n in SEED},
                                failures={"litellm": ("config", "not deployed: no secret 'master_key' loaded")})
    assert first(events, "CONFIG_INVALID", "litellm")["category"] == "config"
    assert {"dify", "flowise", "anythingllm", "openwebui"} == {e["service"] for e in events if e["type"] == "DEPLOY_SKIPPED"}
    assert {"postgres", "redis", "ollama", "n8n"} == set(summary["healthy"])
    assert not any(p["service"] == "litellm" for r in host.requests for p in r.get("check") or [])


def test_the_links_of_a_running_service_are_checked_once_its_dependency_on_another_host_is_back():
    deps = {"dify": ["litellm"]}
    specs = {"dify": {"running": True, "wired": True}, "litellm": {"elsewhere": True, "remote_ready_at": 5.0}}
    remote = {"litellm": {"host": "10.0.0.6", "port": 4000, "probe": {"type": "http", "path": "/health/readiness"},
                          "backoff": {"initial": 0, "base": 0.5, "factor": 2, "cap": 1, "deadline": 60}}}
    summary, events, host = run(specs, deps=deps, remote=remote)
    assert summary["healthy"] == ["dify"]
    checked = [i for i, r in enumerate(host.requests)
               if any(w["name"] == "dify" and not w.get("if_ready") for w in r.get("wiring") or [])]
    assert checked and host.requests[checked[0]].get("wiring")
    assert first(events, "DEPENDENCY_READY", "litellm")["t"] >= 5.0
    assert not [r for r in host.requests[:1] if r["wiring"] and not r["wiring"][0].get("if_ready")]


def test_a_service_is_seen_ready_within_a_poll_round_and_a_round_trip_of_answering():
    specs = {n: {"ready_after": 7.3} for n in ("redis", "postgres")}
    summary, events, host = run(specs, deps={"redis": [], "postgres": ["redis"]})
    assert summary["healthy"] == ["redis", "postgres"]
    for name in ("redis", "postgres"):
        answered = first(events, "DEPLOY_SUCCESS", name)["t"] + 7.3
        assert answered <= first(events, "HEALTH_SUCCESS", name)["t"] <= answered + POLL_EVERY + 2 * STEP_COST + 1e-9
    # waits are probed on the host; no step polls longer than the window, and no sleeping round trips in between
    assert host.polls and max(host.polls) <= POLL_SECONDS
    assert len(host.requests) <= 1 + 2 * (1 + math.ceil(7.3 / POLL_SECONDS))  # check, then per service: up, polls


def test_a_poll_ends_by_the_deadline_of_the_wait():
    specs = {"redis": {"ready_after": None, "deadline": 7.0}}
    summary, events, host = run(specs, deps={"redis": []})
    timeout = first(events, "HEALTH_TIMEOUT", "redis")
    assert summary["failed_services"] == ["redis"] and timeout["category"] == "timeout"
    assert 7.0 - 0.25 <= timeout["duration"] <= 7.0 + POLL_EVERY + STEP_COST + 1e-9


def test_an_engine_that_stops_answering_during_a_wait_fails_the_service_with_category_engine():
    specs = {"redis": {"ready_after": 1.0}, "postgres": {"ready_after": 50.0, "deadline": 300.0, "engine_down_at": 5.0},
             "litellm": {"ready_after": 1.0}}
    summary, events, dummy = run(specs, deps={"redis": [], "postgres": ["redis"], "litellm": ["postgres"]})
    fail = first(events, "DEPLOY_FAIL", "postgres")
    assert fail["category"] == "engine" and "does not answer" in fail["message"]
    assert fail["message"].endswith(f"; fix: {err.ADVICE[err.ENGINE]}")  # what to do, not only what happened
    # its grace, not the 300 s deadline: seen down by the end of a poll, failed by the end of one ENGINE_SECONDS later
    assert 5.0 + ENGINE_SECONDS <= fail["t"] <= 5.0 + ENGINE_SECONDS + 2 * (POLL_SECONDS + STEP_COST)
    assert summary["services"]["litellm"]["state"] == "skipped"
    assert not [e for e in events if e["type"] in ("DEPLOY_SUCCESS", "RESTART_LOOP") and e.get("rollback")]
