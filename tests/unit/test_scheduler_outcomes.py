"""What a deploy's summary says when services end in other ways than healthy: the outcomes that mutation testing
(scripts/mutation.sh) found unguarded: databases, rollbacks, stops, refused logins, skips that propagate."""
from __future__ import annotations

import random

import pytest

from ansible_collections.aiplatform.stack.plugins.plugin_utils.scheduler import Scheduler

from .test_scheduler import SEED, Clock, FakeHost, first, run, service

N8N_REFUSED = 'HTTP 503: Error: password authentication failed for user "n8n"'


def test_postgres_counts_healthy_only_once_the_host_has_made_its_databases(monkeypatch):
    # the host answers PostgreSQL's probe, but reports the application databases only from the third such step on
    asked: list[int] = []
    step = FakeHost.step

    def late_databases(self, request):
        out = step(self, request)
        if request.get("databases"):
            asked.append(len(self.requests))
            if len(asked) < 3:
                out.pop("databases", None)
        return out

    monkeypatch.setattr(FakeHost, "step", late_databases)
    summary, events, host = run({n: {"ready_after": 1.0} for n in SEED})
    assert len(asked) >= 3 and summary["failed_services"] == []
    # no consumer of PostgreSQL was started before the step that brought its databases back
    made_in = asked[2]
    for i, request in enumerate(host.requests, start=1):
        started = {p["service"] for p in request.get("up") or []} | \
                  {p["service"] for p in request.get("check") or [] if p.get("start_if_changed")}
        if i <= made_in:
            assert not started & {"litellm", "n8n", "dify", "flowise", "anythingllm", "openwebui"}, i
    assert "postgres" in summary["healthy"]


def test_postgres_whose_databases_cannot_be_made_fails_and_blocks_its_consumers(monkeypatch):
    step = FakeHost.step

    def refused(self, request):
        out = step(self, request)
        if "databases" in out:
            out["databases"] = {"ok": False, "category": "config", "cause": "role postgres: password refused"}
        return out

    monkeypatch.setattr(FakeHost, "step", refused)
    summary, events, dummy = run({n: {"ready_after": 1.0} for n in SEED})
    assert summary["services"]["postgres"]["state"] == "failed"
    assert summary["services"]["postgres"]["category"] == "config"
    assert "password refused" in summary["services"]["postgres"]["detail"]
    assert "postgres" not in summary["healthy"]
    assert summary["services"]["n8n"]["state"] == "skipped"


def test_databases_made_on_an_otherwise_unchanged_platform_make_the_run_changed(monkeypatch):
    step = FakeHost.step

    def made(self, request):
        out = step(self, request)
        if "databases" in out:
            out["databases"] = {"ok": True, "changes": ["created database flowise"]}
        return out

    monkeypatch.setattr(FakeHost, "step", made)
    summary, events, dummy = run({n: {"running": True} for n in SEED})
    assert not any(s["changed"] for s in summary["services"].values())
    assert summary["changed"] is True
    assert any(e.get("databases") and "created database flowise" in e["message"] for e in events)


def test_a_crash_loop_stopped_on_an_otherwise_unchanged_platform_makes_the_run_changed():
    specs = {n: {"running": True} for n in SEED}
    specs["n8n"].update(ready_at=1000.0, dies_at=2.0)  # runs unchanged, never answers, then loops
    summary, events, host = run(specs)
    assert summary["services"]["n8n"]["state"] == "failed"
    assert summary["services"]["n8n"]["category"] == "crash_loop"
    assert any(p["service"] == "n8n" for r in host.requests for p in r.get("stop") or [])
    assert summary["changed"] is True


def test_a_rolled_back_service_counts_among_the_healthy_and_is_marked_changed():
    specs = {n: {"ready_after": 1.0} for n in SEED}
    specs["litellm"].update(crash=True, previous_ready_after=1.0)
    summary, events, dummy = run(specs)
    assert summary["rolled_back"] == ["litellm"]
    assert "litellm" in summary["healthy"]
    assert summary["services"]["litellm"]["state"] == "rolled_back"
    assert summary["changed"] is True
    assert first(events, "DEPLOY_SUCCESS", "litellm")["changed"] is True
    assert any(e["type"] == "DEPLOY_SUCCESS" and e.get("rollback") for e in events)


def test_a_refused_login_ends_the_wait_as_a_config_error_not_a_timeout(monkeypatch):
    verdict = FakeHost.verdict

    def refusing(self, name):
        r = verdict(self, name)
        if name == "n8n" and r["verdict"] == "waiting":
            return dict(r, detail=N8N_REFUSED)
        return r

    monkeypatch.setattr(FakeHost, "verdict", refusing)
    specs = {n: {"ready_after": 1.0} for n in SEED}
    specs["n8n"].update(ready_after=None, deadline=300.0)  # never answers: only its refusals can end the wait
    summary, events, dummy = run(specs)
    assert summary["services"]["n8n"]["state"] == "failed"
    assert summary["services"]["n8n"]["category"] == "config"
    assert "refused the login" in summary["services"]["n8n"]["detail"]
    assert first(events, "CONFIG_INVALID", "n8n")["t"] < 60.0  # not the 300 s deadline


def test_a_service_whose_wait_runs_out_fails_as_a_timeout():
    specs = {n: {"ready_after": 1.0} for n in SEED}
    specs["n8n"].update(ready_after=None, deadline=20.0)
    summary, dummy, dummy2 = run(specs)
    assert summary["services"]["n8n"]["state"] == "failed"
    assert summary["services"]["n8n"]["category"] == "timeout"
    assert summary["failed_services"] == ["n8n"]


def test_a_skipped_service_blocks_what_depends_on_it_in_turn():
    # PostgreSQL fails to start: LiteLLM (needs it) is skipped, and the applications that need only LiteLLM's
    # side of it are skipped because of LiteLLM, each naming the service that blocked it
    deps = {"postgres": [], "litellm": ["postgres"], "openwebui": ["litellm"], "ollama": []}
    specs = {n: {"ready_after": 1.0} for n in deps}
    specs["postgres"]["up_fails"] = "port"
    summary, events, host = run(specs, deps=deps)
    assert summary["services"]["litellm"]["state"] == "skipped"
    assert summary["services"]["openwebui"]["state"] == "skipped"
    assert first(events, "DEPLOY_SKIPPED", "openwebui")["blocked_by"] == "litellm"
    assert "depends on litellm, which failed" in summary["services"]["openwebui"]["detail"]
    assert summary["failed_services"] == ["postgres", "litellm", "openwebui"]
    assert summary["healthy"] == ["ollama"]
    assert not any(p["service"] in ("litellm", "openwebui") for r in host.requests for p in r.get("up") or [])


def run_tweaked(specs: dict, deps: dict, tweak, answer, check_mode: bool = False):
    """run() with the services given first-admin or key specs by `tweak`, and the host's answers edited by `answer`."""
    clock = Clock()
    host = FakeHost(clock, specs)
    events: list[dict] = []

    def step(request: dict) -> dict:
        return answer(request, host.step(request))

    local = [service(n, list(deps[n])) for n in deps]
    tweak({s.name: s for s in local})
    sched = Scheduler(local, step, events.append, clock=clock, wall=clock, rng=random.Random(1),
                      check_mode=check_mode)
    return sched.run(), events, host, sched


ADMIN = {"kind": "n8n", "target": "n8n", "port": 5678, "email": "admin@example.org", "secrets_file": "/etc/n8n.json"}


def with_admin(services):
    services["n8n"].admin = dict(ADMIN)


def admins_answer(action, ok=True, category="auth"):
    def answer(request, out):
        if request.get("admins"):
            out["admins"] = {a["service"]: {"ok": ok, "action": action, "category": category, "cause": "login refused",
                                            "advice": "reset the password"}
                             for a in request["admins"] if out["probe"].get(a["service"], {}).get("verdict") == "ready"}
        return out
    return answer


@pytest.mark.parametrize("action", ["created", "would_create"])
def test_a_first_administrator_made_or_to_be_made_is_said_and_makes_the_run_changed(action):
    specs = {"n8n": {"running": True}}
    summary, events, dummy, dummy2 = run_tweaked(specs, {"n8n": []}, with_admin, admins_answer(action),
                                                 check_mode=action == "would_create")
    said = [e for e in events if e["type"] == "DEPLOY_SUCCESS" and e.get("admin") == action]
    assert len(said) == 1 and said[0]["service"] == "n8n" and said[0]["changed"] is True
    assert "admin@example.org" in said[0]["message"]
    assert summary["changed"] is True and summary["healthy"] == ["n8n"]


def test_a_verified_first_administrator_changes_nothing():
    summary, events, dummy, sched = run_tweaked({"n8n": {"running": True}}, {"n8n": []}, with_admin,
                                                admins_answer("verified"))
    assert summary["changed"] is False and summary["healthy"] == ["n8n"] and sched.warnings == []


def test_a_first_administrator_that_could_not_be_checked_now_is_a_warning_not_a_failure():
    summary, events, dummy, sched = run_tweaked({"n8n": {"running": True}}, {"n8n": []}, with_admin,
                                                admins_answer("unverified"))
    assert summary["healthy"] == ["n8n"] and summary["changed"] is False
    assert len(sched.warnings) == 1 and sched.warnings[0].startswith("n8n: its first administrator exists")


def test_a_first_administrator_refused_or_not_answered_fails_the_application():
    summary, dummy, dummy2, dummy3 = run_tweaked({"n8n": {"running": True}}, {"n8n": []}, with_admin,
                                                 admins_answer("created", ok=False))
    assert summary["services"]["n8n"]["state"] == "failed"
    assert summary["services"]["n8n"]["category"] == "auth" and summary["services"]["n8n"]["detail"] == "login refused"
    summary, dummy, dummy2, dummy3 = run_tweaked({"n8n": {"running": True}}, {"n8n": []}, with_admin,
                                                 lambda request, out: out)  # the host said nothing about it
    assert summary["services"]["n8n"]["state"] == "failed"
    assert summary["services"]["n8n"]["category"] == "unknown"
    assert summary["services"]["n8n"]["detail"] == "setup of the first administrator: no answer"


def test_a_first_administrator_refused_for_its_configuration_says_the_fix():
    summary, events, dummy, dummy2 = run_tweaked({"n8n": {"running": True}}, {"n8n": []}, with_admin,
                                                 admins_answer("created", ok=False, category="config"))
    assert first(events, "CONFIG_INVALID", "n8n")["message"] == "login refused; fix: reset the password"


def with_keys(services):
    services["litellm"].virtual_keys = {"target": "litellm", "port": 4000, "applications": [{"alias": "dify"}]}


def keys_answer(actions, ok=True):
    def answer(request, out):
        if request.get("virtual_keys"):
            out["virtual_keys"] = {k["service"]: {"ok": ok, "actions": actions, "category": "config", "cause": "401",
                                                  "advice": "check master_key"}
                                   for k in request["virtual_keys"]}
        return out
    return answer


def test_registered_virtual_keys_are_said_and_make_the_run_changed_verified_ones_do_not():
    summary, events, dummy, dummy2 = run_tweaked({"litellm": {"running": True}}, {"litellm": []}, with_keys,
                                                 keys_answer({"dify": "registered", "n8n": "verified"}))
    said = [e for e in events if e["type"] == "DEPLOY_SUCCESS" and e.get("virtual_keys")]
    assert [e["virtual_keys"] for e in said] == [{"dify": "registered"}] and said[0]["changed"] is True
    assert said[0]["service"] == "litellm" and said[0]["message"] == "virtual keys: dify registered"
    assert summary["changed"] is True and summary["healthy"] == ["litellm"]
    summary, events, dummy, dummy2 = run_tweaked({"litellm": {"running": True}}, {"litellm": []}, with_keys,
                                                 keys_answer({"dify": "verified"}))
    assert summary["changed"] is False and not any(e.get("virtual_keys") for e in events)


def test_virtual_keys_refused_or_not_answered_fail_litellm():
    summary, events, dummy2, dummy3 = run_tweaked({"litellm": {"running": True}}, {"litellm": []}, with_keys,
                                                  keys_answer({}, ok=False))
    assert first(events, "CONFIG_INVALID", "litellm")["message"] == "401; fix: check master_key"
    assert summary["services"]["litellm"]["state"] == "failed"
    assert summary["services"]["litellm"]["category"] == "config" and summary["services"]["litellm"]["detail"] == "401"
    summary, dummy, dummy2, dummy3 = run_tweaked({"litellm": {"running": True}}, {"litellm": []}, with_keys,
                                                 lambda request, out: out)
    assert summary["services"]["litellm"]["state"] == "failed"
    assert summary["services"]["litellm"]["category"] == "unknown"
    assert summary["services"]["litellm"]["detail"] == "virtual keys: no answer"


# -- what the events say ---------------------------------------------------------------------------------------------
def test_every_event_about_a_dependency_elsewhere_says_so_at_the_level_of_its_own_type():
    from ansible_collections.aiplatform.stack.plugins.module_utils import events as ev

    deps = {"litellm": ["postgres"]}
    specs = {"litellm": {"ready_after": 1.0}, "postgres": {"elsewhere": True, "remote_ready_at": 3.0}}
    remote = {"postgres": {"host": "10.0.0.5", "port": 5432, "probe": {"type": "tcp"},
                           "backoff": {"initial": 0, "base": 0.5, "factor": 2, "cap": 1, "deadline": 30}}}
    dummy, events, dummy2 = run(specs, deps=deps, remote=remote)
    about = [e for e in events if e["service"] == "postgres"]
    assert {e["type"] for e in about} == {"DEPENDENCY_WAIT", "DEPENDENCY_READY"}
    for e in about:
        assert e["message"].startswith("dependency on another host: ")
        assert e["level"] == ev.level_of(e["type"])


def test_a_broken_link_names_each_unreachable_dependency_in_the_failure():
    specs = {n: {"running": True} for n in SEED}
    specs["n8n"].update(wired=True, unwired=True)
    summary, events, dummy = run(specs)
    assert summary["services"]["n8n"]["category"] == "dependency"
    assert summary["services"]["n8n"]["detail"] == "cannot reach postgres at postgres:5432"
    assert first(events, "CONNECTIVITY_FAIL", "n8n")["category"] == "dependency"


def test_a_start_says_what_compose_did_how_long_it_took_and_which_files_changed():
    summary, events, dummy = run({"redis": {"ready_after": 1.0}}, deps={"redis": []})
    started = first(events, "DEPLOY_SUCCESS", "redis")
    assert started["changed"] is True and started["changed_files"] == ["compose.yml"]
    assert started["message"].startswith("started up (") and started["duration"] == 0.2


def test_compose_output_the_parser_does_not_know_is_a_warning_with_its_first_lines(monkeypatch):
    up = FakeHost.up

    def chatty(self, name):
        return dict(up(self, name), unparsed=[f"line {i}" for i in range(7)])

    monkeypatch.setattr(FakeHost, "up", chatty)
    clock = Clock()
    host = FakeHost(clock, {"n8n": {"ready_after": 1.0}})
    sched = Scheduler([service("n8n", [])], host.step, lambda e: None, clock=clock, wall=clock,
                      rng=random.Random(1))
    sched.run()
    assert sched.warnings == ["n8n: compose printed output the parser does not know: line 0; line 1; line 2; "
                              "line 3; line 4"]


def test_a_failure_with_advice_says_the_fix_in_its_specific_event_and_a_crash_loop_has_no_second_one():
    specs = {n: {"ready_after": 1.0} for n in SEED}
    specs["litellm"]["up_fails"] = "port"
    dummy, events, dummy2 = run(specs, failures={"n8n": ("config", "no secret 'db_password' loaded")})
    assert first(events, "PORT_CONFLICT", "litellm")["message"] == "bind failed"
    assert first(events, "CONFIG_INVALID", "n8n")["message"] == "no secret 'db_password' loaded"  # no fix to say
    assert first(events, "DEPLOY_FAIL", "litellm")["message"] == "[port] bind failed"
    specs = {n: {"ready_after": 1.0} for n in SEED}
    specs["n8n"]["crash"] = True
    dummy, events, dummy2 = run(specs)
    assert len([e for e in events if e["type"] == "RESTART_LOOP" and e["service"] == "n8n"]) == 2  # the loop, the stop


def test_virtual_keys_to_be_registered_in_check_mode_are_said_in_words_with_nothing_changed():
    summary, events, dummy, dummy2 = run_tweaked({"litellm": {"running": True}}, {"litellm": []}, with_keys,
                                                 keys_answer({"dify": "would_register"}), check_mode=True)
    said = next(e for e in events if e.get("virtual_keys"))
    assert said["message"] == "virtual keys: dify would register; check mode: nothing changed"


@pytest.mark.parametrize("claim", ["admin", "keys"])
def test_a_refusal_that_gives_no_category_cause_or_advice_fails_as_unknown_with_no_fix(claim):
    name = "n8n" if claim == "admin" else "litellm"
    part = "admins" if claim == "admin" else "virtual_keys"

    def answer(request, out):
        if request.get(part):
            out[part] = {name: {"ok": False}}
        return out

    summary, events, dummy, dummy2 = run_tweaked({name: {"running": True}}, {name: []},
                                                 with_admin if claim == "admin" else with_keys, answer)
    assert summary["services"][name]["category"] == "unknown" and summary["services"][name]["detail"] == ""


@pytest.mark.parametrize("claim", ["admin", "keys"])
def test_a_configuration_refusal_without_advice_says_only_its_cause(claim):
    name = "n8n" if claim == "admin" else "litellm"
    part = "admins" if claim == "admin" else "virtual_keys"

    def answer(request, out):
        if request.get(part):
            out[part] = {name: {"ok": False, "category": "config", "cause": "bad key"}}
        return out

    dummy, events, dummy2, dummy3 = run_tweaked({name: {"running": True}}, {name: []},
                                                with_admin if claim == "admin" else with_keys, answer)
    assert first(events, "CONFIG_INVALID", name)["message"] == "bad key"
