"""The deploy's first step (the check) against the fake host: what it says about each service, what it asks the host,
and how it reads an answer that is partial or a failure. Mutation testing (scripts/mutation.sh) found these unguarded.
"""
from __future__ import annotations

import random

from ansible_collections.aiplatform.stack.plugins.plugin_utils.scheduler import Scheduler

from .test_scheduler import Clock, FakeHost, first, service

WALL = 1000.0  # the wall clock when the deploy begins (the fake monotonic clock starts at 0)
REMOTE = {"postgres": {"host": "10.0.0.5", "port": 5432, "probe": {"type": "tcp"},
                       "backoff": {"initial": 5, "base": 0.5, "factor": 2, "cap": 1, "deadline": 30}}}


def deploy(specs: dict, deps: dict, answer=None, **kwargs):
    """A run against the fake host whose answers `answer(request, out)` may edit; (summary, events, host, scheduler)."""
    clock = Clock()
    host = FakeHost(clock, specs)
    events: list[dict] = []

    def step(request: dict) -> dict:
        out = host.step(request)
        return answer(request, out) if answer else out

    def emit(event: dict) -> None:
        event["t"] = clock()
        events.append(event)

    local = [service(n, list(deps[n]), specs[n].get("deadline", 60.0), specs[n].get("wired", False))
             for n in deps if not specs[n].get("elsewhere")]
    sched = Scheduler(local, step, emit, clock=clock, wall=lambda: WALL + clock(),
                      rng=random.Random(1), **kwargs)
    return sched.run(), events, host, sched


def in_check(edit):
    """An answer that edits only the check step's answer."""
    def answer(request, out):
        if "check" in request:
            edit(out)
        return out
    return answer


def test_a_host_that_fails_the_check_step_fails_every_service_with_its_category_and_message():
    def broken(out):
        out.clear()
        out.update(failed=True, category="connection", msg="ssh: connection refused")

    summary, events, host, dummy = deploy({"redis": {}, "n8n": {}}, {"redis": [], "n8n": ["redis"]}, in_check(broken))
    for name in ("redis", "n8n"):
        assert summary["services"][name] == {"state": "failed", "changed": False, "category": "connection",
                                             "detail": "ssh: connection refused"}
        assert [e["type"] for e in events if e["service"] == name] == ["DEPLOY_START", "DEPLOY_FAIL"]
    assert len(host.requests) == 1


def test_a_check_step_failure_that_says_nothing_more_is_an_engine_failure_the_host_did_not_answer():
    summary, dummy, dummy2, dummy3 = deploy({"redis": {}}, {"redis": []},
                                            in_check(lambda out: (out.clear(), out.update(failed=True))))
    assert summary["services"]["redis"]["category"] == "engine"
    assert summary["services"]["redis"]["detail"] == "the host did not answer"


def test_the_run_lock_counts_as_given_back_only_when_the_check_step_says_so():
    lock = {"dir": "/run/aiplatform", "run": "r1"}
    dummy, dummy2, host, sched = deploy({"redis": {"running": True}}, {"redis": []},
                                        in_check(lambda out: out.update(lock_released=True)), lock=lock)
    assert host.requests[0]["release_lock_if_settled"] == lock and sched.lock_released is True
    dummy, dummy2, host, sched = deploy({"redis": {"running": True}}, {"redis": []}, lock=lock)
    assert sched.lock_released is False


def test_a_service_the_check_says_nothing_about_fails_as_unknown_with_no_answer():
    summary, events, dummy, dummy2 = deploy({"redis": {"running": True}, "n8n": {"running": True}},
                                            {"redis": [], "n8n": []},
                                            in_check(lambda out: out["check"].pop("n8n")))
    assert summary["services"]["n8n"] == {"state": "failed", "changed": False, "category": "unknown",
                                          "detail": "no answer"}
    assert [e["type"] for e in events if e["service"] == "n8n"] == ["DEPLOY_START", "DEPLOY_FAIL"]
    assert summary["healthy"] == ["redis"]


def test_a_check_failure_gives_its_cause_or_else_its_message_and_its_advice_in_the_specific_event():
    def refused(out):
        out["check"]["redis"] = {"failed": True, "category": "config", "cause": "bad port", "msg": "ignored",
                                 "advice": "fix the port"}
        out["check"]["n8n"] = {"failed": True, "msg": "template error"}

    summary, events, dummy, dummy2 = deploy({"redis": {}, "n8n": {}}, {"redis": [], "n8n": []}, in_check(refused))
    assert summary["services"]["redis"]["detail"] == "bad port"
    assert first(events, "CONFIG_INVALID", "redis")["message"] == "bad port; fix: fix the port"
    assert summary["services"]["n8n"] == {"state": "failed", "changed": False, "category": "unknown",
                                          "detail": "template error"}
    assert first(events, "DEPLOY_FAIL", "n8n")["message"] == "[unknown] template error"
    assert [e["type"] for e in events if e["service"] == "n8n"] == ["DEPLOY_START", "DEPLOY_FAIL"]


def test_a_check_failure_without_cause_or_message_says_an_empty_cause_and_no_fix():
    def refused(out):
        out["check"]["redis"] = {"failed": True, "category": "config"}

    summary, events, dummy, dummy2 = deploy({"redis": {}}, {"redis": []}, in_check(refused))
    assert summary["services"]["redis"]["detail"] == ""
    assert first(events, "CONFIG_INVALID", "redis")["message"] == ""


def test_the_diff_of_a_changed_service_keeps_its_lines_and_names_its_files_under_the_service():
    def diffs(out):
        out["check"]["n8n"]["diff"] = [{"before_header": "compose.yml", "after_header": "compose.yml", "before": "a",
                                        "after": "b"}, {"before": "", "after": "x"}]

    summary, dummy, dummy2, dummy3 = deploy({"n8n": {}}, {"n8n": []}, in_check(diffs), check_mode=True)
    assert summary["diff"] == [
        {"before_header": "n8n/compose.yml", "after_header": "n8n/compose.yml", "before": "a", "after": "b"},
        {"before_header": "n8n/", "after_header": "n8n/", "before": "", "after": "x"}]


def test_check_mode_says_which_files_would_change_or_why_or_which_containers_drifted():
    def answers(out):
        out["check"]["redis"].update(changed_files=["compose.yml", ".env"])
        out["check"]["n8n"].update(changed_files=[], reason="image updated")
        out["check"]["dify"].update(changed_files=None, drift=["dify-api", "dify-web"])

    specs = {"redis": {}, "n8n": {}, "dify": {}}
    summary, events, dummy, dummy2 = deploy(specs, {n: [] for n in specs}, in_check(answers), check_mode=True)
    said = {n: first(events, "DEPLOY_SUCCESS", n) for n in specs}
    assert said["redis"]["message"] == "would change (compose.yml, .env); check mode: nothing started"
    assert said["n8n"]["message"] == "would change (image updated); check mode: nothing started"
    assert said["dify"]["message"] == "would change (containers drifted: dify-api, dify-web); check mode: nothing started"
    assert said["redis"]["changed"] is True and said["redis"]["changed_files"] == ["compose.yml", ".env"]
    assert said["redis"]["duration"] == 0.2
    assert all(s["state"] == "would_change" and s["changed"] for s in summary["services"].values())


def test_an_unchanged_service_that_answers_is_said_unchanged_and_healthy_with_its_containers():
    container = {"name": "aiplatform-redis-1", "status": "running", "started_at": "t0", "created": "t-1",
                 "restart_count": 0, "oneshot": False, "image": "redis:7"}

    def probed(out):
        out["probe"]["redis"].update(detail="PONG", containers=[container])

    dummy3, events, dummy, dummy2 = deploy({"redis": {"running": True}}, {"redis": []}, in_check(probed))
    unchanged = first(events, "DEPLOY_SUCCESS", "redis")
    assert unchanged["message"] == "unchanged, nothing restarted (0.2 s)"
    assert unchanged["changed"] is False and unchanged["duration"] == 0.2 and unchanged["changed_files"] == []
    healthy = first(events, "HEALTH_SUCCESS", "redis")
    assert healthy["message"] == "healthy, unchanged: PONG"
    assert healthy["attempt"] == 1 and healthy["duration"] == 0.0
    assert healthy["containers"] == [{k: v for k, v in container.items() if k != "image"}]

    def bare(out):
        out["probe"]["redis"] = {"verdict": "ready", "detail": "PONG"}
    dummy, events, dummy2, dummy3 = deploy({"redis": {"running": True}}, {"redis": []}, in_check(bare))
    assert first(events, "HEALTH_SUCCESS", "redis")["containers"] == []


def test_the_check_times_its_round_trip_from_its_own_start():
    clock = Clock()
    clock.t = 7.0  # a deploy that begins late in the controller's run
    host = FakeHost(clock, {"redis": {"running": True}})
    events: list[dict] = []
    Scheduler([service("redis", [])], host.step, events.append, clock=clock,
              wall=clock, rng=random.Random(1)).run()
    assert first(events, "DEPLOY_SUCCESS", "redis")["duration"] == 0.2


def test_only_a_service_the_check_brought_up_is_dated_from_when_the_check_began():
    specs = {"redis": {}, "n8n": {"running": True}, "dify": {}}
    dummy, events, dummy2, dummy3 = deploy(specs, {"redis": [], "n8n": [], "dify": ["redis"]})
    assert first(events, "DEPLOY_START", "redis")["time"] == WALL  # brought up by the check itself
    assert first(events, "DEPLOY_START", "n8n")["time"] != WALL
    assert first(events, "DEPLOY_START", "dify")["time"] != WALL


def test_a_changed_service_that_still_answers_starts_once_in_its_up_not_in_the_check():
    def answering(out):
        out["probe"]["n8n"] = {"verdict": "ready", "detail": "old version", "containers": []}

    specs = {"redis": {}, "n8n": {}}
    dummy, events, dummy3, dummy2 = deploy(specs, {"redis": [], "n8n": ["redis"]}, in_check(answering))
    assert [e["type"] for e in events if e["service"] == "n8n"][:2] == ["DEPLOY_START", "DEPLOY_SUCCESS"]
    assert len([e for e in events if e["type"] == "DEPLOY_START" and e["service"] == "n8n"]) == 1
    assert first(events, "DEPLOY_SUCCESS", "n8n")["changed"] is True


def test_a_service_blocked_in_the_check_does_not_stop_the_check_of_the_services_after_it():
    def refused(out):
        out["check"]["postgres"] = {"failed": True, "category": "config", "cause": "bad password"}

    specs = {"postgres": {"running": True}, "n8n": {"running": True}, "redis": {"running": True}}
    summary, events, host, dummy = deploy(specs, {"postgres": [], "n8n": ["postgres"], "redis": []},
                                          in_check(refused))
    assert summary["services"]["n8n"]["state"] == "skipped"
    assert [e["type"] for e in events if e["service"] == "n8n"] == ["DEPLOY_SKIPPED"]
    assert summary["services"]["redis"]["state"] == "healthy" and summary["services"]["redis"]["changed"] is False
    assert len(host.requests) == 1


def test_the_check_probes_dependencies_elsewhere_with_their_address_and_says_the_answer_of_a_ready_one():
    specs = {"n8n": {"running": True}, "postgres": {"elsewhere": True}}

    def ready(out):
        out["remote"]["postgres"] = {"verdict": "ready", "detail": "tcp open"}
    dummy, events, host, dummy2 = deploy(specs, {"n8n": ["postgres"], "postgres": []}, in_check(ready),
                                         remote=REMOTE)
    assert host.requests[0]["remote"] == [dict(REMOTE["postgres"], name="postgres")]
    assert first(events, "DEPENDENCY_READY", "postgres")["message"] == \
        "dependency on another host: ready at 10.0.0.5:5432 at the first look: tcp open"

    def terse(out):
        out["remote"]["postgres"] = {"verdict": "ready"}
    dummy, events, host, dummy2 = deploy(specs, {"n8n": ["postgres"], "postgres": []}, in_check(terse),
                                         remote=REMOTE)
    assert first(events, "DEPENDENCY_READY", "postgres")["message"].endswith("at the first look: ")


def test_a_dependency_elsewhere_unanswered_at_the_first_look_is_probed_in_the_next_step_at_its_address():
    # the check's answer says nothing about it; its backoff would wait 5 s before the next probe, but the first look
    # counts as due at once, so the step that starts dify (its own dependency answered in the check) probes it
    specs = {"redis": {"running": True}, "dify": {}, "n8n": {"running": True, "ready_at": 100.0},
             "postgres": {"elsewhere": True, "remote_ready_at": 0.3}}
    deps = {"redis": [], "dify": ["redis"], "n8n": ["postgres"], "postgres": []}
    dummy2, events, host, dummy = deploy(specs, deps, in_check(lambda out: out["remote"].clear()), remote=REMOTE)
    assert [p["service"] for p in host.requests[1]["up"]] == ["dify"]
    assert host.requests[1]["remote"][0]["name"] == "postgres" and host.requests[1]["remote"][0]["host"] == "10.0.0.5"
    assert first(events, "DEPENDENCY_READY", "postgres")["t"] < 1.0


def test_a_dependency_elsewhere_known_down_does_not_stop_the_first_look_at_the_others():
    remote = dict(REMOTE, redis={"host": "10.0.0.6", "port": 6379, "probe": {"type": "tcp"},
                                 "backoff": {"initial": 5, "base": 0.5, "factor": 2, "cap": 1, "deadline": 30}})
    specs = {"n8n": {"running": True}, "postgres": {"elsewhere": True}, "redis": {"elsewhere": True},
             "ollama": {"running": True}}
    summary, events, host, dummy = deploy(specs, {"n8n": ["postgres"], "ollama": ["redis"], "postgres": [],
                                                  "redis": []}, remote=remote, down={"postgres"})
    assert [r["name"] for r in host.requests[0]["remote"]] == ["redis"]
    assert first(events, "DEPENDENCY_READY", "redis")["t"] == 0.2
    assert summary["healthy"] == ["ollama"] and len(host.requests) == 1


def test_the_check_asks_for_the_models_a_service_should_have():
    dummy3, dummy, host, dummy2 = deploy({"ollama": {"running": True}}, {"ollama": []})
    assert host.requests[0]["models"] == [{"port": 11434, "names": ["llama3.2"], "service": "ollama"}]


def test_the_check_and_every_step_after_it_ask_for_the_application_databases_with_postgres_spec():
    dummy3, dummy, host, dummy2 = deploy({"postgres": {"running": True}}, {"postgres": []})
    assert host.requests[0]["databases"] == {"container": "aiplatform-postgres", "databases": [],
                                             "when_ready": "postgres"}
    dummy3, dummy, host, dummy2 = deploy({"postgres": {"ready_after": 2.0}}, {"postgres": []})  # and in every poll
    asked = [r["databases"] for r in host.requests if "databases" in r]
    assert len(asked) > 1 and all(a == {"container": "aiplatform-postgres", "databases": [],
                                        "when_ready": "postgres"} for a in asked)
