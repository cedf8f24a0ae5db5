# Private to aiplatform.stack: not a public API, it may change in any release (README, "Layout").
"""Wait until services are ready: per-service exponential backoff with full jitter, cap and deadline.

All services of a wave are waited for together: each round probes only the services that are due, in one call.
A crash loop (container exited, restarting, or restarted during the wait) ends that service's wait at once.
The clock, sleep and probe are injected, so the schedule is tested without Docker or Ansible.
"""
from __future__ import annotations

import random
import time
from dataclasses import dataclass, field

from ansible_collections.aiplatform.stack.plugins.module_utils import events as ev
from ansible_collections.aiplatform.stack.plugins.plugin_utils import permanent
from ansible_collections.aiplatform.stack.plugins.plugin_utils.backoff import Backoff, for_service

# A refused login seen on this many consecutive probes spanning this long ends the wait (category config).
REFUSED_PROBES = 3
REFUSED_SECONDS = 10.0
# An engine that has not answered for this long ends the wait (category engine). A restart of dockerd is shorter:
# its stop waits up to 15 s for the containers (measured here: 12.6 s, then 2.0 s to start again).
ENGINE_SECONDS = 45.0


@dataclass
class Waiting:
    spec: dict
    backoff: Backoff
    due: float
    attempts: int = 0
    last: str = ""
    outcome: dict = field(default_factory=dict)
    refused_since: float | None = None  # first of the consecutive probes that showed a refused login
    engine_since: float | None = None  # first of the consecutive probes the engine did not answer
    refused_count: int = 0
    refused: dict | None = None  # the refusal last seen, with the probe detail it came with (`detail`)


def brief_containers(containers: list[dict]) -> list[dict]:
    """The container facts the metrics need (uptime), carried by the event."""
    keys = ("name", "status", "started_at", "created", "restart_count", "oneshot")
    return [{k: c.get(k) for k in keys} for c in containers]


class HealthTracker:
    """Per-service readiness waits that a caller steps: which services are due, then what a probe round said.

    Each service has its own backoff, deadline and restart-count baseline (taken from its first probe), so services
    can join at any time: a scheduler adds a service the moment it starts and probes whatever is due.
    """

    def __init__(self, emit, rng: random.Random | None = None, ask_logs: bool = True) -> None:
        self.emit = emit
        self.ask_logs = ask_logs  # endpoints on other hosts have no log to ask for
        self.rng = rng
        self.pending: dict[str, Waiting] = {}
        self.started: dict[str, float] = {}
        self.baseline: dict[str, int] = {}
        self._containers: dict[str, list[str]] = {}

    def add(self, spec: dict, now: float, immediate: bool = False) -> None:
        """Start waiting for a service; `immediate` probes at once (nothing was restarted)."""
        backoff = for_service(spec)
        name = spec["name"]
        self.pending[name] = Waiting(spec=spec, backoff=backoff, due=now if immediate else now + backoff.initial)
        self.started[name] = now
        # a restarted service gets new containers: its old restart counts say nothing any more
        for container in self._containers.pop(name, []):
            self.baseline.pop(container, None)

    def next_due(self) -> float | None:
        return min((w.due for w in self.pending.values()), default=None)

    def due(self, now: float | None) -> list[dict]:
        """Specs of the services due now (all of them for None); every third attempt also asks for the log tail."""
        return [dict(w.spec, with_logs=True) if self.ask_logs and w.attempts % 3 == 2 else w.spec
                for w in self.pending.values() if now is None or w.due <= now]

    def time_left(self, now: float) -> float:
        """Seconds until the nearest deadline of a pending wait (infinity when none is pending)."""
        return min((w.backoff.deadline - (now - self.started[n]) for n, w in self.pending.items()), default=float("inf"))

    def record(self, results: dict[str, dict], now: float, polled: bool = False) -> dict[str, dict]:
        """Judge one probe round of the due services; returns the waits that ended {name: outcome}.

        polled: the host kept probing until something changed; the next round is due at once (its own pauses grow).
        """
        done: dict[str, dict] = {}
        for name, r in results.items():
            w = self.pending.get(name)
            if w is None:
                continue
            if name not in self._containers:
                # Restart counts at the start of the wait: a later increase is a crash loop.
                for c in r.get("containers", []):
                    self.baseline.setdefault(c["name"], c["restart_count"])
                self._containers[name] = [c["name"] for c in r.get("containers", [])]
            outcome = self._judge(w, r, now, polled)
            if outcome is not None:
                done[name] = outcome
                del self.pending[name]
        return done

    def _judge(self, w: Waiting, r: dict, now: float, polled: bool = False) -> dict | None:
        name = w.spec["name"]
        w.attempts += 1
        elapsed = now - self.started[name]
        facts = {"attempt": w.attempts, "duration": round(elapsed, 3)}
        base = {"attempts": w.attempts, "duration": round(elapsed, 3), "detail": r["detail"],
                "containers": r.get("containers", [])}
        if r["verdict"] == "ready":
            tries = f"{w.attempts} attempt" + ("s" if w.attempts != 1 else "")
            self.emit(ev.make_event(ev.HEALTH_SUCCESS, name, f"healthy after {elapsed:.1f} s ({tries}): {r['detail']}",
                                    containers=brief_containers(r.get("containers", [])), **facts))
            return dict(base, state="healthy")
        if r["verdict"] == "engine_restarted":  # not the service's fault: the caller decides (scheduler: up again)
            return dict(base, state="engine_restarted")
        if r["verdict"] == "crash_loop":
            logs = r.get("logs", [])
            last = f"; last log line: {logs[-1]}" if logs else ""
            self.emit(ev.make_event(ev.RESTART_LOOP, name, f"crash loop after {elapsed:.1f} s: {r['detail']}{last}",
                                    category="crash_loop", logs=logs, **facts))
            return dict(base, state="crash_loop", logs=logs)
        if r.get("engine_down"):
            w.engine_since = now if w.engine_since is None else w.engine_since
            if now - w.engine_since >= ENGINE_SECONDS:
                return dict(base, state="engine", detail=f"{r['detail']} (for {now - w.engine_since:.0f} s)")
        else:
            w.engine_since = None
        refused = permanent.refused_login(name, [r["detail"], *(r.get("logs") or [])[-5:]])
        if refused is None and "logs" not in r and w.refused and w.refused["detail"] == r["detail"]:
            refused = w.refused  # the log is read every third probe: the same answer without it still stands refused
        w.refused = dict(refused, detail=r["detail"]) if refused else None
        if refused:
            w.refused_since = now if w.refused_since is None else w.refused_since
            w.refused_count += 1
            if w.refused_count >= REFUSED_PROBES and now - w.refused_since >= REFUSED_SECONDS:
                # permanent: waiting out the deadline would only delay the error
                self.emit(ev.make_event(ev.CONFIG_INVALID, name,
                                        f"{permanent.describe(name, refused)}; gave up after {elapsed:.0f} s "
                                        f"instead of waiting {w.backoff.deadline:g} s", category="config",
                                        link=refused["link"], **facts))
                return dict(base, state="config", detail=f"{refused['link']} refused the login: {refused['evidence']}",
                            link=refused["link"])
        else:
            w.refused_since, w.refused_count = None, 0
        left = w.backoff.deadline - elapsed
        if polled:
            if left <= max(w.backoff.floor, 0.25):
                self.emit(ev.make_event(ev.HEALTH_TIMEOUT, name,
                                        f"not healthy within {w.backoff.deadline:g} s ({w.attempts} attempts): {r['detail']}",
                                        category="timeout", **facts))
                return dict(base, state="timeout")
            w.due = now
            self.emit(ev.make_event(ev.HEALTH_RETRY, name,
                                    f"not ready: {r['detail']}; attempt {w.attempts}, probing on, {left:.0f} s left",
                                    next_delay=0.0, **facts))
            return None
        delay = w.backoff.delay(w.attempts, self.rng)
        if delay >= left:
            if left > w.backoff.floor:
                delay = left  # one last attempt right at the deadline
            else:
                self.emit(ev.make_event(ev.HEALTH_TIMEOUT, name,
                                        f"not healthy within {w.backoff.deadline:g} s ({w.attempts} attempts): {r['detail']}",
                                        category="timeout", **facts))
                return dict(base, state="timeout")
        w.due = now + delay
        self.emit(ev.make_event(ev.HEALTH_RETRY, name,
                                f"not ready: {r['detail']}; attempt {w.attempts}, next in {delay:.1f} s, {max(0.0, left):.0f} s left",
                                next_delay=round(delay, 3), **facts))
        return None


def wait_for(services: list[dict], probe_round, emit, clock=time.monotonic, sleep=time.sleep,
             rng: random.Random | None = None, baseline: dict[str, int] | None = None) -> dict[str, dict]:
    """Wait for every service {name, backoff, ...}; returns {name: {state, attempts, duration, detail, logs}}.

    probe_round(list of specs, baseline) -> {name: {verdict, detail, containers, logs}}
    emit(event dict) delivers HEALTH_RETRY / HEALTH_SUCCESS / HEALTH_TIMEOUT / RESTART_LOOP events as they happen.
    state is healthy, timeout, crash_loop, config (a dependency kept refusing the login), engine (the Docker
    engine stopped answering; the caller reports it) or engine_restarted (its containers stopped with the engine,
    which has started again).
    """
    tracker = HealthTracker(emit, rng)
    tracker.baseline.update(baseline or {})
    start = clock()
    for spec in services:
        tracker.add(spec, start)
    done: dict[str, dict] = {}
    while tracker.pending:
        now = clock()
        nearest = tracker.next_due()
        if nearest > now:
            sleep(nearest - now)
            now = clock()
        due = tracker.due(now)
        results = probe_round(due, tracker.baseline)
        # a service the round did not answer for is judged as waiting
        results = {s["name"]: results.get(s["name"], {"verdict": "waiting", "detail": "no answer"}) for s in due}
        done.update(tracker.record(results, clock()))
    return done
