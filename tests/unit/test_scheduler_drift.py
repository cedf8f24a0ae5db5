"""The scheduler with drift: a service whose containers were changed by hand is warned about, recreated, and the
DEPLOY_SUCCESS message says what was put back; in check mode it is only reported."""
from __future__ import annotations

import random

from ansible_collections.aiplatform.stack.plugins.module_utils import events as ev
from ansible_collections.aiplatform.stack.plugins.plugin_utils.scheduler import Scheduler

from .test_scheduler import Clock, FakeHost, service

DIFFS = [{"service": "redis", "container": "aiplatform-redis", "field": "image", "expected": "redis:7",
          "found": "redis:6"},
         {"service": "redis", "container": "aiplatform-redis", "field": "port", "expected": "(none)",
          "found": "0.0.0.0:6380->6380/tcp"}]
REASON = "drift: image redis:6 (want redis:7), port 0.0.0.0:6380->6380/tcp added"


class DriftedHost(FakeHost):
    """Redis runs and answers, but its container drifted: the check says changed, with the reason."""

    def step(self, request: dict) -> dict:
        out = super().step(request)
        if "redis" in out["check"]:
            out["check"]["redis"] = {"changed": True, "changed_files": [], "drift": [], "container_drift": DIFFS,
                                     "reason": REASON, "recreate_services": ["redis"],
                                     "diff": [{"before_header": "redis (running containers)", "before": "x\n",
                                               "after_header": "redis (as deployed)", "after": "y\n"}]}
            out["probe"].pop("redis", None)
        return out


def deploy(check_mode=False):
    clock = Clock()
    host = DriftedHost(clock, {"redis": {"running": True, "ready_after": 1.0}, "ollama": {"running": True}})
    events = []
    sched = Scheduler([service("redis", []), service("ollama", [])], host.step, events.append, clock=clock,
                      rng=random.Random(1), check_mode=check_mode)
    return sched.run(), events, host


def test_drift_is_warned_about_recreated_and_the_message_says_what_was_put_back():
    summary, events, host = deploy()
    warning = next(e for e in events if e["type"] == ev.DRIFT)
    assert warning["level"] == "WARN" and warning["service"] == "redis" and REASON in warning["message"]
    ups = [p for r in host.requests for p in r.get("up") or []]
    assert [p["service"] for p in ups] == ["redis"] and ups[0]["recreate_services"] == ["redis"]
    done = next(e for e in events if e["type"] == ev.DEPLOY_SUCCESS and e["service"] == "redis")
    assert done["changed"] and f"put back {REASON}" in done["message"]
    assert summary["services"]["redis"]["state"] == "healthy" and summary["changed"]
    assert not [e for e in events if e["type"] == ev.DRIFT and e["service"] == "ollama"]


def test_check_mode_reports_drift_and_its_diff_and_starts_nothing():
    summary, events, host = deploy(check_mode=True)
    would = next(e for e in events if e["type"] == ev.DEPLOY_SUCCESS and e["service"] == "redis")
    assert f"would change ({REASON})" in would["message"] and "check mode: nothing started" in would["message"]
    assert "check mode: nothing changed" in next(e for e in events if e["type"] == ev.DRIFT)["message"]
    assert not [r for r in host.requests if r.get("up")]
    assert summary["diff"][0]["before_header"] == "redis/redis (running containers)"


def test_the_drift_event_carries_the_differences_and_says_they_will_be_recreated():
    dummy, events, dummy2 = deploy()
    warning = next(e for e in events if e["type"] == ev.DRIFT)
    assert warning["drift"] == DIFFS
    assert warning["message"].endswith("; they will be recreated")
    # ollama runs unchanged and was never started: its only word is that nothing was restarted
    ollama = [e for e in events if e["type"] == ev.DEPLOY_SUCCESS and e["service"] == "ollama"]
    assert len(ollama) == 1 and ollama[0]["changed"] is False and ollama[0]["changed_files"] == []
