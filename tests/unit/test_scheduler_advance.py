"""The deploy's steps after the check against the fake host: what each step asks for and when, how an interrupted
run is recorded, and the order rules (serial, dependencies not deployed here, links checked late). Mutation testing
(scripts/mutation.sh) found these unguarded."""
from __future__ import annotations

import itertools
import random

import pytest

from ansible_collections.aiplatform.stack.plugins.plugin_utils.scheduler import Scheduler

from .test_scheduler import Clock, FakeHost, first, service
from .test_scheduler_check import deploy, in_check

SLOW_REMOTE = {"litellm": {"host": "10.0.0.6", "port": 4000, "probe": {"type": "http"},
                           "backoff": {"initial": 0, "base": 0.5, "factor": 2, "cap": 1, "deadline": 20}}}


def test_the_run_lock_is_not_counted_given_back_when_no_service_got_as_far_as_the_check():
    clock = Clock()
    host = FakeHost(clock, {"n8n": {}})
    n8n = service("n8n", [])
    n8n.failure = ("config", "no secret loaded")
    sched = Scheduler([n8n], host.step, lambda e: None, clock=clock, wall=clock,
                      rng=random.Random(1), lock={"dir": "/run/aiplatform", "run": "r1"})
    sched.run()
    assert sched.lock_released is False and host.requests == []


def test_a_check_step_failure_of_a_specific_category_says_only_the_hosts_message():
    def broken(out):
        out.clear()
        out.update(failed=True, category="config", msg="project folder unreadable")
    dummy, events, dummy2, dummy3 = deploy({"redis": {}}, {"redis": []}, in_check(broken))
    assert first(events, "CONFIG_INVALID", "redis")["message"] == "project folder unreadable"


def test_a_dependency_deployed_neither_here_nor_elsewhere_in_this_run_does_not_hold_a_service_back():
    summary, dummy, dummy2, dummy3 = deploy({"n8n": {}}, {"n8n": ["postgres"]}, serial=True)
    assert summary["healthy"] == ["n8n"]


def interrupted(specs: dict, deps: dict, when):
    """A run stopped (Ctrl-C) at the first step for which when(request) holds; the events, the summary."""
    clock = Clock()
    host = FakeHost(clock, specs)
    events: list[dict] = []

    def step(request: dict) -> dict:
        if when(request):
            raise KeyboardInterrupt
        return host.step(request)

    sched = Scheduler([service(n, list(deps[n])) for n in deps], step, events.append, clock=clock, wall=clock, rng=random.Random(1))
    with pytest.raises(KeyboardInterrupt):
        sched.run()
    return events, sched.summary()


def test_an_interrupted_run_says_which_service_it_stopped_and_what_it_was_doing():
    def after_rollback(request):
        return not request.get("previous") and any(e.get("rollback") for e in events_so_far)

    events_so_far: list[dict] = []
    specs = {"litellm": {"crash": True, "previous_ready_after": 5.0}}
    clock = Clock()
    host = FakeHost(clock, specs)

    def step(request: dict) -> dict:
        if after_rollback(request):
            raise KeyboardInterrupt
        return host.step(request)

    sched = Scheduler([service("litellm", [])], step, events_so_far.append, clock=clock, wall=clock, rng=random.Random(1))
    with pytest.raises(KeyboardInterrupt):
        sched.run()
    assert sched.summary()["services"]["litellm"] == {"state": "failed", "changed": True, "category": "interrupted",
                                                      "detail": "interrupted while rolling_back"}
    said = [e for e in events_so_far if e["type"] == "DEPLOY_FAIL"]
    assert len(said) == 1 and said[0]["category"] == "interrupted"
    assert said[0]["message"] == "[interrupted] the run was stopped while litellm was rolling back; re-run to converge"


def test_a_service_being_started_when_the_run_is_interrupted_is_recorded_as_interrupted():
    dummy, summary = interrupted({"redis": {"running": True}, "n8n": {}}, {"redis": [], "n8n": ["redis"]},
                                 lambda request: "up" in request)
    assert summary["services"]["n8n"] == {"state": "failed", "changed": False, "category": "interrupted",
                                          "detail": "interrupted while starting"}


def test_links_the_host_did_not_check_as_the_service_answered_are_checked_in_the_next_step():
    unchecked: list[int] = []

    def skip_first_links(request, out):
        if any(w.get("if_ready") for w in request.get("wiring") or []) and not unchecked and \
                out["probe"].get("n8n", {}).get("verdict") == "ready":
            unchecked.append(1)
            out["wiring"].clear()
        return out
    specs = {"n8n": {"ready_after": 1.0, "wired": True, "unwired": True}, "ollama": {"ready_after": 5.0, "wired": True}}
    summary, dummy2, host, dummy = deploy(specs, {"n8n": [], "ollama": []}, skip_first_links)
    assert unchecked
    assert any(w["name"] == "n8n" and not w.get("if_ready") for r in host.requests for w in r.get("wiring") or [])
    assert summary["services"]["n8n"]["state"] == "failed"
    assert summary["services"]["n8n"]["detail"] == "cannot reach postgres at postgres:5432"


def test_links_left_unchecked_by_the_last_service_to_answer_are_still_checked_before_the_run_ends():
    unchecked: list[int] = []

    def skip_first_links(request, out):
        if out["probe"].get("n8n", {}).get("verdict") == "ready" and not unchecked:
            unchecked.append(1)
            out["wiring"].clear()
        return out
    summary, dummy2, host, dummy = deploy({"n8n": {"ready_after": 1.0, "wired": True, "unwired": True}},
                                          {"n8n": []}, skip_first_links)
    assert unchecked
    assert any(w["name"] == "n8n" and not w.get("if_ready") for r in host.requests for w in r.get("wiring") or [])
    assert summary["services"]["n8n"]["state"] == "failed"
    assert summary["services"]["n8n"]["detail"] == "cannot reach postgres at postgres:5432"


def test_databases_refused_say_the_fix_and_made_ones_are_a_change_of_postgres():
    def refused(request, out):
        if "databases" in out:
            out["databases"] = {"ok": False, "category": "config", "cause": "role n8n: permission denied"}
        return out
    summary, events, dummy, dummy2 = deploy({"postgres": {}}, {"postgres": []}, refused)
    assert first(events, "CONFIG_INVALID", "postgres")["message"] == ("application databases: role n8n: permission "
                                                                      "denied; fix: check the PostgreSQL admin "
                                                                      "credentials and the database names")
    assert len([e for e in events if e["type"] == "DEPLOY_FAIL" and e["service"] == "postgres"]) == 1

    def bare(request, out):
        if "databases" in out:
            out["databases"] = {"ok": False}
        return out
    summary, events, dummy, dummy2 = deploy({"postgres": {}}, {"postgres": []}, bare)
    assert summary["services"]["postgres"]["category"] == "unknown"

    def made(request, out):
        if "databases" in out:
            out["databases"] = {"ok": True, "changes": ["created database n8n", "created role n8n"]}
        return out
    summary, events, dummy, dummy2 = deploy({"postgres": {"running": True}}, {"postgres": []}, made)
    said = next(e for e in events if e.get("databases"))
    assert said["type"] == "DEPLOY_SUCCESS" and said["service"] == "postgres" and said["changed"] is True
    assert said["message"] == "application databases: created database n8n, created role n8n"


ADMIN = {"kind": "n8n", "target": "n8n", "port": 5678, "email": "admin@example.org", "secrets_file": "/etc/n8n.json"}


def test_the_host_is_asked_for_a_first_administrator_with_all_its_facts_and_not_during_a_rollback():
    clock = Clock()
    host = FakeHost(clock, {"n8n": {"crash": True, "previous_ready_after": 1.0}})
    n8n = service("n8n", [])
    n8n.admin = dict(ADMIN)

    def step(request):
        out = host.step(request)
        out["admins"] = {a["service"]: {"ok": True, "action": "verified"} for a in request.get("admins") or []}
        return out
    Scheduler([n8n], step, lambda e: None, clock=clock, wall=clock, rng=random.Random(1)).run()
    asked = [r["admins"] for r in host.requests if r.get("admins")]
    assert asked and all(a == [dict(ADMIN, service="n8n")] for a in asked)
    rolled = next(i for i, r in enumerate(host.requests) if r.get("previous"))
    assert not any(r.get("admins") for r in host.requests[rolled:])


def test_a_service_with_several_broken_links_names_each_of_them():
    def broken(request, out):
        for name in out["wiring"]:
            out["wiring"][name] = {"redis": {"ok": False, "address": "redis:6379", "detail": "refused"},
                                   "postgres": {"ok": False, "address": "postgres:5432", "detail": "refused"}}
        return out
    summary, dummy, dummy2, dummy3 = deploy({"n8n": {"running": True, "wired": True}}, {"n8n": []}, broken)
    assert summary["services"]["n8n"]["detail"] == "cannot reach postgres at postgres:5432, redis at redis:6379"


def test_a_skipped_service_fails_in_the_dependency_category():
    summary, dummy, dummy2, dummy3 = deploy({"redis": {"up_fails": "port"}, "n8n": {}}, {"redis": [], "n8n": ["redis"]})
    assert summary["services"]["n8n"]["category"] == "dependency"


def test_serial_starts_the_next_service_only_once_the_one_before_is_healthy():
    specs = {"redis": {"ready_after": 2.0}, "ollama": {"ready_after": 2.0}, "n8n": {"ready_after": 2.0}}
    summary, events, dummy2, dummy = deploy(specs, {n: [] for n in specs}, serial=True)
    assert summary["healthy"] == ["redis", "ollama", "n8n"]
    starts = [e for e in events if e["type"] == "DEPLOY_START"]
    for before, after in itertools.pairwise(starts):
        assert first(events, "HEALTH_SUCCESS", before["service"])["t"] <= after["t"]


def test_an_unchanged_service_that_did_not_answer_is_probed_in_the_step_that_follows_its_dependencies():
    specs = {"redis": {"ready_after": 1.0}, "n8n": {"running": True, "ready_at": 0.5, "wired": True}, "dify": {}}
    summary, events, host, dummy = deploy(specs, {"redis": [], "n8n": ["redis"], "dify": ["redis"]})
    step = next(r for r in host.requests if r.get("up"))
    assert [p["service"] for p in step["up"]] == ["dify"]
    assert "n8n" in [p["name"] for p in step["probe"]]  # at once: nothing was restarted
    assert [w["name"] for w in step["wiring"] if w.get("if_ready")] == ["n8n"]  # its links, in the same step
    said = first(events, "DEPLOY_SUCCESS", "n8n")
    assert said["message"] == "unchanged, nothing restarted"
    assert said["changed"] is False and said["changed_files"] == []
    assert summary["healthy"] == ["redis", "n8n", "dify"] and summary["services"]["n8n"]["changed"] is False


def test_the_links_of_a_service_are_not_checked_when_its_dependency_elsewhere_fails():
    specs = {"dify": {"running": True, "wired": True, "unwired": True},
             "litellm": {"elsewhere": True, "remote_ready_at": 1000.0}}
    dummy2, events, host, dummy = deploy(specs, {"dify": ["litellm"], "litellm": []}, remote=SLOW_REMOTE)
    assert not any(w for r in host.requests for w in r.get("wiring") or [] if not w.get("if_ready"))
    assert not any(e["type"] == "CONNECTIVITY_FAIL" for e in events)
    assert first(events, "DEPENDENCY_FAIL", "litellm")


def test_a_dependency_elsewhere_is_probed_without_asking_for_logs():
    specs = {"n8n": {}, "litellm": {"elsewhere": True, "remote_ready_at": 6.0}}
    summary, dummy, host, dummy2 = deploy(specs, {"n8n": ["litellm"], "litellm": []}, remote=SLOW_REMOTE)
    probes = [d for r in host.requests for d in r.get("remote") or []]
    assert len(probes) >= 3 and not any(d.get("with_logs") for d in probes)
    assert summary["healthy"] == ["n8n"]


def test_a_poll_waiting_only_for_a_dependency_elsewhere_ends_by_its_deadline():
    specs = {"n8n": {}, "litellm": {"elsewhere": True, "remote_ready_at": 1000.0}}
    summary, dummy, host, dummy2 = deploy(specs, {"n8n": ["litellm"], "litellm": []}, remote=SLOW_REMOTE)
    assert summary["services"]["n8n"]["state"] == "skipped"
    assert all(p["poll"]["seconds"] <= 3.0 for p in host.requests if p.get("poll"))
    assert host.polls and min(host.polls) < 3.0


LOCK = {"dir": "/opt/aiplatform", "run": "r1"}


def offered_lock_wrongly(specs: dict, deps: dict, answer=None, **kwargs) -> list[int]:
    """The steps after the check that offered the run lock back although more steps followed when every service
    they probed answered (or that asked for more than probes); [] when the lock was offered only as it should be."""
    answers: list[dict] = []

    def recording(request, out):
        out = answer(request, out) if answer else out
        answers.append(out)
        return out
    dummy3, dummy, host, dummy2 = deploy(specs, deps, recording, lock=LOCK, **kwargs)
    last = len(host.requests) - 1
    wrong = []
    for i, (request, out) in enumerate(zip(host.requests, answers, strict=True)):
        if i == 0 or not request.get("release_lock_if_settled"):
            continue
        everything_answered = all(out["probe"].get(p["name"], {}).get("verdict") == "ready"
                                  for p in request.get("probe") or [])
        if any(request.get(part) for part in ("up", "stop", "previous", "databases", "remote")) or \
                (everything_answered and i != last):
            wrong.append(i)
    return wrong


def test_the_run_lock_is_offered_back_only_in_a_step_after_which_nothing_would_follow():
    no_models = {"redis": [], "postgres": [], "n8n": ["postgres", "redis"], "dify": ["redis"], "flowise": ["postgres"]}
    assert offered_lock_wrongly({n: {"ready_after": 1.0 + i, "wired": n != "postgres"}
                                 for i, n in enumerate(no_models)}, no_models) == []
    # a service still to start later, a rollback, a dependency elsewhere, links checked after the service answered
    assert offered_lock_wrongly({"redis": {"ready_after": 1.0}, "n8n": {"ready_after": 3.0}, "dify": {}},
                                {"redis": [], "n8n": [], "dify": ["n8n"]}) == []
    assert offered_lock_wrongly({"litellm": {"crash": True, "previous_ready_after": 2.0}, "redis": {"ready_after": 1.0}},
                                {"litellm": [], "redis": []}) == []
    assert offered_lock_wrongly({"n8n": {"ready_after": 1.0}, "dify": {"running": True, "ready_at": 2.0},
                                 "litellm": {"elsewhere": True, "remote_ready_at": 6.0}},
                                {"n8n": [], "dify": ["litellm"], "litellm": []}, remote=SLOW_REMOTE) == []
    # links of a service that answered before its own dependency did: checked once that dependency is healthy
    assert offered_lock_wrongly({"redis": {"ready_after": 4.0}, "n8n": {"running": True, "wired": True}},
                                {"redis": [], "n8n": ["redis"]}) == []
    unchecked: list[int] = []

    def skip_first_links(request, out):
        if out["probe"].get("n8n", {}).get("verdict") == "ready" and not unchecked:
            unchecked.append(1)
            out["wiring"].pop("n8n", None)
        return out
    assert offered_lock_wrongly({"n8n": {"ready_after": 1.0, "wired": True}, "ollama": {"ready_after": 1.5},
                                 "redis": {"ready_after": 1.5, "wired": True}},
                                {"n8n": [], "ollama": [], "redis": []}, skip_first_links) == []


def test_a_dependency_elsewhere_that_keeps_refusing_a_login_is_said_a_config_error_and_ends_its_wait_early():
    remote = {"postgres": {"host": "10.0.0.5", "port": 5432, "probe": {"type": "http"},
                           "backoff": {"initial": 0, "base": 0.5, "factor": 2, "cap": 1, "deadline": 120}}}

    def refusing(request, out):
        for d in request.get("remote") or []:
            out["remote"][d["name"]] = {"verdict": "waiting",
                                        "detail": 'HTTP 503: password authentication failed for user "n8n"'}
        return out
    specs = {"n8n": {}, "postgres": {"elsewhere": True}}
    summary, events, dummy, dummy2 = deploy(specs, {"n8n": ["postgres"], "postgres": []}, refusing, remote=remote)
    said = first(events, "CONFIG_INVALID", "postgres")
    assert said["level"] == "ERROR" and said["message"].startswith("dependency on another host: ")
    assert said["t"] < 60.0  # not the 120 s deadline
    assert summary["services"]["n8n"]["state"] == "skipped"


def test_the_run_lock_given_back_by_a_later_step_counts_as_given_back():
    def released(request, out):
        if request.get("release_lock_if_settled") and "check" not in request:
            out["lock_released"] = True
        return out
    dummy, dummy2, host, sched = deploy({"redis": {"ready_after": 1.0}}, {"redis": []}, released, lock=LOCK)
    assert len(host.requests) > 1 and sched.lock_released is True


def test_an_engine_that_stops_answering_fails_every_service_waiting_on_it():
    specs = {n: {"ready_after": None, "engine_down_at": 2.0, "deadline": 120.0} for n in ("redis", "n8n", "dify")}
    summary, dummy, dummy2, dummy3 = deploy(specs, {n: [] for n in specs})
    assert all(summary["services"][n]["category"] == "engine" for n in specs)
    assert summary["failed_services"] == ["redis", "n8n", "dify"]


def test_a_start_that_changed_nothing_is_said_unchanged_and_one_that_did_names_what_compose_did():
    def unchanged(request, out):
        for p in request.get("up") or []:
            out["up"][p["service"]] = {"changed": False, "actions": []}
        return out
    dummy, events, dummy2, dummy3 = deploy({"redis": {"running": True}, "n8n": {}}, {"redis": [], "n8n": ["redis"]},
                                           unchanged)
    said = first(events, "DEPLOY_SUCCESS", "n8n")
    assert said["message"] == "unchanged, nothing restarted (0.2 s)" and said["changed"] is False

    def recreated(request, out):
        for p in request.get("up") or []:
            out["up"][p["service"]]["actions"] = ["Recreate", "Start"]
        return out
    dummy, events, dummy2, dummy3 = deploy({"redis": {"running": True}, "n8n": {}}, {"redis": [], "n8n": ["redis"]},
                                           recreated)
    assert first(events, "DEPLOY_SUCCESS", "n8n")["message"] == "started Recreate, Start (0.2 s)"


def test_a_rollback_refused_for_its_configuration_without_advice_says_only_its_cause():
    def refused(request, out):
        for p in request.get("previous") or []:
            out["previous"][p["service"]] = {"failed": True, "category": "config", "cause": "no previous image"}
        return out
    dummy, events, dummy2, dummy3 = deploy({"litellm": {"crash": True, "previous_ready_after": 1.0}}, {"litellm": []},
                                           refused)
    assert first(events, "CONFIG_INVALID", "litellm")["message"] == "rollback failed: no previous image"


def test_a_running_service_that_answers_only_later_and_alone_is_waited_for_until_healthy():
    summary, dummy, host, dummy2 = deploy({"redis": {"running": True, "ready_at": 5.0}}, {"redis": []})
    assert summary["healthy"] == ["redis"] and summary["services"]["redis"]["changed"] is False
    assert summary["steps"] == len(host.requests) > 2


def test_a_dependency_elsewhere_probed_on_by_the_host_is_said_to_be_probed_on():
    specs = {"n8n": {}, "litellm": {"elsewhere": True, "remote_ready_at": 6.0}}
    dummy, events, dummy2, dummy3 = deploy(specs, {"n8n": ["litellm"], "litellm": []}, remote=SLOW_REMOTE)
    waits = [e for e in events if e["type"] == "DEPENDENCY_WAIT"]
    assert len(waits) > 1 and all(", probing on, " in e["message"] for e in waits[1:])
