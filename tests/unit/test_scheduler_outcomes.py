"""What a deploy's summary says when services end in other ways than healthy: the outcomes that mutation testing
(scripts/mutation.sh) found unguarded: databases, rollbacks, stops, refused logins, skips that propagate."""
from __future__ import annotations

from .test_scheduler import SEED, FakeHost, first, run

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
