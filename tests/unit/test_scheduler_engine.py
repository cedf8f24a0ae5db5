"""A Docker engine restarted during a deploy: the services whose containers stopped with it are not judged crash
loops. They are brought up again and given a whole wait, a bounded number of times (issue 22, item 5)."""
from __future__ import annotations

from ansible_collections.aiplatform.stack.plugins.module_utils import errors as err
from ansible_collections.aiplatform.stack.plugins.plugin_utils.scheduler import ENGINE_RESTARTS

from .test_scheduler import first, run

DEPS = {"redis": [], "postgres": ["redis"], "litellm": ["postgres"], "n8n": ["postgres"]}


def ups_of(host, name):
    """The steps that brought it up: in an `up`, or in the check (what needs nothing starts there)."""
    return [i for i, r in enumerate(host.requests) if any(p["service"] == name for p in r.get("up") or []) or
            any(p["service"] == name and p.get("start_if_changed") for p in r.get("check") or [])]


def test_services_stopped_with_a_restarted_engine_are_brought_up_again_and_end_healthy():
    specs = {"redis": {"ready_after": 1.0}, "postgres": {"ready_after": 1.0},
             "litellm": {"ready_after": 6.0, "engine_restarts_at": [4.0]},
             "n8n": {"ready_after": 6.0, "engine_restarts_at": [4.0]}}
    summary, events, host = run(specs, deps=DEPS)
    assert summary["failed_services"] == [] and set(summary["healthy"]) == set(DEPS)
    assert not [e for e in events if e["type"] in ("RESTART_LOOP", "DEPLOY_FAIL")]
    for name in ("litellm", "n8n"):
        assert len(ups_of(host, name)) == 2, name  # up again once the engine was seen back
        retry = next(e for e in events if e["type"] == "HEALTH_RETRY" and e["service"] == name and e.get("category"))
        assert retry["category"] == "engine" and retry["level"] == "WARN"
        assert "the Docker engine restarted while waiting for it" in retry["message"] and "exit code 137" in retry["message"]
        assert retry["message"].endswith("; bringing it up again, its wait starts over")
        # a whole wait from the second up: healthy ready_after seconds after it, not judged on the first deadline
        assert first(events, "HEALTH_SUCCESS", name)["t"] >= retry["t"] + 6.0
        assert summary["services"][name]["changed"] is True
    # what answered before the restart is brought up again (a no-op where the engine restarted it) and waited for;
    # its dependents start again only once it answers again
    for name in ("redis", "postgres"):
        assert len(ups_of(host, name)) == 2, name
        again = [e for e in events if e["type"] == "HEALTH_RETRY" and e["service"] == name and e.get("category")]
        assert len(again) == 1 and again[0]["message"].startswith(
            "the Docker engine restarted after it answered: it answered before; the engine may have stopped it;")
    postgres_again = [e["t"] for e in events if e["type"] == "HEALTH_SUCCESS" and e["service"] == "postgres"][1]
    litellm_again = [e["t"] for e in events if e["type"] == "DEPLOY_START" and e["service"] == "litellm"][1]
    assert litellm_again >= postgres_again


def test_an_engine_that_keeps_restarting_fails_the_service_with_category_engine_and_its_dependents_skip():
    restarts = [5.0 + 10.0 * i for i in range(ENGINE_RESTARTS + 1)]
    specs = {"redis": {"ready_after": 1.0}, "postgres": {"ready_after": 1.0},
             "litellm": {"ready_after": 12.0, "engine_restarts_at": restarts}, "n8n": {"ready_after": 1.0}}
    summary, events, host = run(specs, deps={**DEPS, "n8n": ["litellm"]})
    fail = first(events, "DEPLOY_FAIL", "litellm")
    assert fail["category"] == "engine"
    assert f"the Docker engine restarted {ENGINE_RESTARTS + 1} times while waiting for it (litellm)" in fail["message"]
    assert fail["message"].endswith(f"; fix: {err.ADVICE[err.ENGINE]}")  # what to do, not only what happened
    assert len(ups_of(host, "litellm")) == ENGINE_RESTARTS + 1
    assert summary["services"]["n8n"]["state"] == "skipped"
    assert not [e for e in events if e["type"] == "RESTART_LOOP"]


def test_an_engine_restart_between_the_check_and_the_first_probe_brings_back_what_the_check_found_healthy():
    # redis runs unchanged and answers the check (engine start 0.5); the engine restarts at 1.0, before any probe
    specs = {"redis": {"running": True}, "litellm": {"ready_after": 3.0, "engine_restarts_at": [1.0]}}
    summary, events, host = run(specs, deps={"redis": [], "litellm": ["redis"]})
    assert summary["failed_services"] == [] and set(summary["healthy"]) == {"redis", "litellm"}
    # unchanged at the check (nothing started there), brought up in an `up` after the restart
    assert any(p["service"] == "redis" for r in host.requests for p in r.get("up") or [])
    assert any(e["type"] == "HEALTH_RETRY" and e["service"] == "redis" and e.get("category") == "engine"
               for e in events)


def test_a_service_rolling_back_when_the_engine_restarts_gets_its_previous_version_again_not_the_failed_one():
    # LiteLLM's new version crash loops, its previous one is started (and answers 5 s later); the engine restarts
    # during that wait
    specs = {"redis": {"ready_after": 1.0}, "postgres": {"ready_after": 1.0},
             "litellm": {"crash": True, "previous_ready_after": 5.0, "engine_restarts_at": [6.0]}}
    summary, events, host = run(specs, deps={"redis": [], "postgres": ["redis"], "litellm": ["postgres"]})
    previous = [i for i, r in enumerate(host.requests) if any(p["service"] == "litellm" for p in r.get("previous") or [])]
    assert len(ups_of(host, "litellm")) == 1 and len(previous) == 2
    assert summary["rolled_back"] == ["litellm"] and summary["services"]["litellm"]["state"] == "rolled_back"
    assert summary["services"]["litellm"]["category"] == "crash_loop"  # why it was rolled back still stands


def test_serial_starts_nothing_else_in_the_step_that_rolls_a_service_back_or_stops_its_loop():
    # one service at a time (upgrade.yml): bringing LiteLLM back to its previous version (again after an engine
    # restart), or stopping Ollama's crash loop, is that service's turn; redis does not start in the same step
    for specs in ({"litellm": {"crash": True, "previous_ready_after": 8.0, "engine_restarts_at": [6.0]},
                   "redis": {"ready_after": 1.0}},
                  {"ollama": {"crash": True}, "redis": {"ready_after": 1.0}}):
        first_name = next(iter(specs))
        summary, events, host = run(specs, deps={first_name: [], "redis": []}, serial=True)
        assert "redis" in summary["healthy"]
        undo = [r for r in host.requests if r.get("previous") or r.get("stop")]
        assert len(undo) == (2 if first_name == "litellm" else 1)
        assert not [r for r in undo if r.get("up")], first_name
