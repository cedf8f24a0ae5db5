"""Wait until services are ready: per-service exponential backoff with full jitter, cap and deadline.

All services of a wave are waited for together: each round probes only the services that are due, in one call.
A crash loop (container exited, restarting, or restarted during the wait) ends that service's wait at once.
The clock, sleep and probe are injected, so the schedule is tested without Docker or Ansible.
"""
from __future__ import annotations

import random
import time
from dataclasses import dataclass, field

from . import events as ev
from .backoff import Backoff, for_service


@dataclass
class Waiting:
    spec: dict
    backoff: Backoff
    due: float
    attempts: int = 0
    last: str = ""
    outcome: dict = field(default_factory=dict)


def brief_containers(containers: list[dict]) -> list[dict]:
    """The container facts the metrics need (uptime), carried by the event."""
    keys = ("name", "status", "started_at", "created", "restart_count", "oneshot")
    return [{k: c.get(k) for k in keys} for c in containers]


def wait_for(services: list[dict], probe_round, emit, clock=time.monotonic, sleep=time.sleep,
             rng: random.Random | None = None, baseline: dict[str, int] | None = None) -> dict[str, dict]:
    """Wait for every service {name, backoff, ...}; returns {name: {state, attempts, duration, detail, logs}}.

    probe_round(list of specs, baseline) -> {name: {verdict, detail, containers, logs}}
    emit(event dict) delivers HEALTH_RETRY / HEALTH_SUCCESS / HEALTH_TIMEOUT / RESTART_LOOP events as they happen.
    state is healthy, timeout or crash_loop.
    """
    start = clock()
    pending = {}
    for spec in services:
        backoff = for_service(spec)
        pending[spec["name"]] = Waiting(spec=spec, backoff=backoff, due=start + backoff.initial)
    baseline = dict(baseline or {})
    done: dict[str, dict] = {}
    first_round = True

    while pending:
        now = clock()
        nearest = min(w.due for w in pending.values())
        if nearest > now:
            sleep(nearest - now)
            now = clock()
        due = [w for w in pending.values() if w.due <= now]
        results = probe_round([w.spec for w in due], baseline)
        if first_round:
            # Restart counts at the start of the wait: a later increase is a crash loop.
            for r in results.values():
                for c in r.get("containers", []):
                    baseline.setdefault(c["name"], c["restart_count"])
            first_round = False
        now = clock()
        for w in due:
            name = w.spec["name"]
            w.attempts += 1
            r = results.get(name, {"verdict": "waiting", "detail": "no answer"})
            elapsed = now - start
            facts = {"attempt": w.attempts, "duration": round(elapsed, 3)}
            if r["verdict"] == "ready":
                done[name] = {"state": "healthy", "attempts": w.attempts, "duration": round(elapsed, 3),
                              "detail": r["detail"], "containers": r.get("containers", [])}
                tries = f"{w.attempts} attempt" + ("s" if w.attempts != 1 else "")
                emit(ev.make_event(ev.HEALTH_SUCCESS, name, f"healthy after {elapsed:.1f} s ({tries}): {r['detail']}",
                                   containers=brief_containers(r.get("containers", [])), **facts))
            elif r["verdict"] == "crash_loop":
                logs = r.get("logs", [])
                done[name] = {"state": "crash_loop", "attempts": w.attempts, "duration": round(elapsed, 3),
                              "detail": r["detail"], "logs": logs, "containers": r.get("containers", [])}
                last = f"; last log line: {logs[-1]}" if logs else ""
                emit(ev.make_event(ev.RESTART_LOOP, name, f"crash loop after {elapsed:.1f} s: {r['detail']}{last}",
                                   category="crash_loop", logs=logs, **facts))
            else:
                delay = w.backoff.delay(w.attempts, rng)
                left = w.backoff.deadline - elapsed
                if delay >= left:
                    if left > w.backoff.floor:
                        delay = left  # one last attempt right at the deadline
                    else:
                        done[name] = {"state": "timeout", "attempts": w.attempts, "duration": round(elapsed, 3),
                                      "detail": r["detail"], "containers": r.get("containers", [])}
                        emit(ev.make_event(ev.HEALTH_TIMEOUT, name,
                                           f"not healthy within {w.backoff.deadline:g} s ({w.attempts} attempts): {r['detail']}",
                                           category="timeout", **facts))
                        continue
                w.due = now + delay
                emit(ev.make_event(ev.HEALTH_RETRY, name,
                                   f"not ready: {r['detail']}; attempt {w.attempts}, next in {delay:.1f} s, {max(0.0, left):.0f} s left",
                                   next_delay=round(delay, 3), **facts))
        for name in done:
            pending.pop(name, None)
    return done
