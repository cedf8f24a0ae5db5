# Private to aiplatform.stack: not a public API, it may change in any release (README, "Layout").
"""What is wrong with a running service, and what to do about it: diagnosis and recovery plans by category.

Recovery is bounded: each category has an ordered list of actions, one per attempt; past the end of the list the
answer is a call for manual action with advice. No action ever removes a volume.
"""
from __future__ import annotations

import datetime
import time

from ansible_collections.aiplatform.stack.plugins.module_utils import errors as err
from ansible_collections.aiplatform.stack.plugins.module_utils import events as ev
from ansible_collections.aiplatform.stack.plugins.module_utils import probes
from ansible_collections.aiplatform.stack.plugins.plugin_utils import permanent

HEALTHY = "healthy"
CRASH_LOOP = "crash_loop"
UNHEALTHY = "unhealthy"
MISSING = "missing"
STOPPED = "stopped"
# status only, in capitals: conditions for the operator, not recovered by recover.yml
DRIFT = "DRIFT"  # runs, but its containers differ from what was deployed (site.yml puts them back)
ORPHANED = "ORPHANED"  # on the host, but not enabled there by the inventory (teardown.yml removes it on request)

# outcomes a dependent may be recovered after
BACK = ("healthy", "recovered")

RESTART = "restart"
RECREATE = "recreate"
RECONFIGURE = "reconfigure"
MANUAL = "manual"

# state -> actions, one per attempt
PLANS = {
    CRASH_LOOP: [RECREATE, RECONFIGURE],
    UNHEALTHY: [RESTART, RECREATE],
    MISSING: [RECONFIGURE],
    STOPPED: [RECONFIGURE],
}
# categories no restart can fix: straight to the operator
MANUAL_CATEGORIES = {err.CONFIG, err.PORT, err.IMAGE, err.ENGINE, err.DISK, err.COMMAND_TIMEOUT, err.CLAIMED,
                     err.PREREQUISITE, err.MIGRATION}


def _age_seconds(started_at: str | None, now: datetime.datetime) -> float | None:
    started = probes.docker_time(started_at)
    return None if started is None else now.timestamp() - started


# the one judgement of a service's containers (probes.judge), read for status and recover
STATE_OF = {probes.CRASH_LOOP: CRASH_LOOP, probes.STOPPED: STOPPED, probes.MISSING: MISSING,
            probes.NOT_RUNNING: STOPPED, probes.ENGINE_RESTARTED: STOPPED}


def diagnose(entry: dict, now: datetime.datetime | None = None, window: float = 120.0, climb: int = 3) -> tuple[str, str]:
    """(state, why) of a service from one probe round's entry {verdict, detail, containers, engine_started}.

    The containers are judged as the deploy's wait judges them (probes.judge), without its baseline: a restart loop
    is a container that is restarting, or has restarted at least `climb` times and was (re)started less than
    `window` seconds ago. A container stopped with the Docker engine is STOPPED, and says so.
    """
    now = now or datetime.datetime.now(datetime.UTC)
    state, why = probes.judge(entry.get("containers") or [], None, entry.get("engine_started"), now.timestamp(),
                              window, climb)
    if state != probes.RUNNING:
        return STATE_OF[state], why
    if entry.get("verdict") == "ready":
        return HEALTHY, entry.get("detail", "")
    return UNHEALTHY, entry.get("detail", "")


def refused_login(name: str, why: str, logs: list[str]) -> str | None:
    """What a dependency refusing this service's login says, in the words the deploy's wait uses (permanent.py);
    None when its probe and log tail show no refused login."""
    refused = permanent.refused_login(name, [why, *(logs or [])[-5:]])
    return None if refused is None else permanent.describe(name, refused)


def next_action(state: str, attempt: int, category: str | None = None) -> str:
    """The action for attempt number `attempt` (1-based); MANUAL when the plan is used up."""
    if category in MANUAL_CATEGORIES:
        return MANUAL
    plan = PLANS.get(state, [])
    return plan[attempt - 1] if 0 < attempt <= len(plan) else MANUAL


def attempt_delay(attempt: int, base: float = 1.0, cap: float = 30.0) -> float:
    """Seconds to wait before recovery attempt `attempt` (2, 4, 8 ... up to `cap`; none before the first)."""
    return 0.0 if attempt <= 1 else min(cap, base * 2 ** (attempt - 1))


class Recovery:
    """Bring one host's services back, each by its state's plan, bounded, backing off between attempts.

    Plain Python, as the deploy's scheduler: the host is reached through `act(svc, action)` (restart, recreate or
    reconfigure; a result dict, `failed` with `category` and `cause` or `msg`), `stop(svc)` (a crash loop that
    nothing cured is stopped, volumes kept) and `probe(specs, baseline)` (one probe round); time through `clock` and
    `sleep`; `wait(specs, probe, emit, clock=, sleep=)` is health_wait.wait_for. So every path is unit-tested with
    fakes (tests/unit/test_recovery_run.py).
    """

    def __init__(self, act, stop, probe, wait, emit, stable_seconds: float = 10.0, check_mode: bool = False,
                 clock=time.monotonic, sleep=time.sleep) -> None:
        self.act, self.stop, self.probe, self.wait, self.emit = act, stop, probe, wait, emit
        self.stable_seconds, self.check_mode = float(stable_seconds), check_mode
        self.clock, self.sleep = clock, sleep

    def run(self, services: list[dict], found: dict[str, dict],
            dependencies: dict[str, list[str]] | None = None) -> dict[str, dict]:
        """{name: outcome} for each service, judged from `found` (a probe round with the log tails); outcome state is
        healthy (left alone), recovered, or the state it was left in (a call for manual action said why).

        One graph, as the deploy's: `services` come dependencies first, `dependencies` is the plan's map. A service
        whose dependency here was brought back is judged again first (it may have come back with it); one whose
        dependency here is still down is not acted on (no restart cures a missing database), and says which."""
        outcome: dict[str, dict] = {}
        for svc in services:
            name = svc["name"]
            mine = [d for d in (dependencies or {}).get(name) or [] if d in outcome]
            down = [d for d in mine if outcome[d]["state"] not in BACK and not outcome[d].get("would")]
            entry = found.get(name, {})
            if any(outcome[d]["state"] == "recovered" for d in mine):
                entry = self.probe([dict(svc, with_logs=True)], None).get(name, entry)
            if down and diagnose(entry)[0] != HEALTHY:
                outcome[name] = self._blocked(svc, entry, down)
                continue
            outcome[name] = self.recover(svc, entry)
        return outcome

    def _blocked(self, svc: dict, entry: dict, down: list[str]) -> dict:
        state, why = diagnose(entry)
        names = ", ".join(down)
        stopped = ""
        if state == CRASH_LOOP and not self.check_mode:  # not left looping while it waits (volumes kept)
            self.stop(svc)
            stopped = " It was stopped, not left looping."
        self._event(ev.RECOVERY_NEEDED, svc["name"], f"{state} ({why}); not acted on: its dependency {names} is not "
                    f"healthy on this host.{stopped} Recover {names} first (its own RECOVERY_NEEDED says how), then "
                    "re-run.", category=err.DEPENDENCY)
        return {"state": state, "attempts": 0, "why": f"its dependency {names} is not healthy"}

    def recover(self, svc: dict, entry: dict) -> dict:
        """The next action of the service's category, attempt after attempt, until it is healthy and stays so, or
        the list ends (a call for manual action that says why, a crash loop stopped)."""
        name = svc["name"]
        state, why = diagnose(entry)
        if state == HEALTHY:
            return {"state": "healthy", "attempts": 0}
        logs, category, attempt, engine_restarts = entry.get("logs", []), None, 0, 0
        refused = refused_login(name, why, logs)
        if refused:  # no restart cures a wrong credential: straight to the operator, naming it
            category, why = err.CONFIG, refused
        while True:
            attempt += 1
            action = next_action(state, attempt, category)
            if action == MANUAL:
                return self._manual(svc, state, attempt - 1, why, category, logs)
            self._event(ev.RECOVERY_START, name, f"{state} ({why}); attempt {attempt}: {action}", category=state,
                        attempt=attempt, action=action)
            if self.check_mode:
                return {"state": state, "attempts": 0, "would": action}
            if attempt > 1:  # back off between attempts: give a dependency or the engine time to settle
                self.sleep(attempt_delay(attempt))
            ended = self._attempt(svc, action, attempt)
            if not ended:
                return {"state": "recovered", "attempts": attempt, "action": action}
            why, logs = ended.get("detail", ""), ended.get("logs", logs)
            if ended.get("failed"):  # the action itself failed
                category = ended["category"]
                continue
            if ended.get("state") == "engine_restarted":
                # stopped with the Docker engine, no fault of its own: the same action again, not the next one;
                # an engine that keeps restarting is the operator's to look at (category engine), not a crash loop
                if engine_restarts >= ENGINE_RESTARTS:
                    state, category = STOPPED, err.ENGINE
                    why = f"the Docker engine restarted {engine_restarts + 1} times: {why}"
                    continue
                engine_restarts += 1
                attempt -= 1
                self._event(ev.HEALTH_RETRY, name, f"the Docker engine restarted after {action}: {why}; "
                            f"{action} again", category=err.ENGINE)
                continue
            state = CRASH_LOOP if ended.get("state") == "crash_loop" else UNHEALTHY
            if ended.get("state") in (err.CONFIG, err.ENGINE):  # a refused login, an engine gone: no action cures it
                category = ended["state"]

    def _attempt(self, svc: dict, action: str, attempt: int) -> dict:
        """One action and the wait after it: {} when the service is healthy and stayed so (RECOVERY_SUCCESS said
        so); else how it ended: {failed, category, detail} when the action failed, or the wait's (or relapse's) entry
        with its state."""
        name = svc["name"]
        res = self.act(svc, action)
        if res.get("failed"):
            return {"failed": True, "category": res.get("category", "unknown"),
                    "detail": res.get("cause") or res.get("msg", "")}
        waited = self.wait([svc], self.probe, self.emit, clock=self.clock, sleep=self.sleep).get(name, {})
        if waited.get("state") != "healthy":
            return waited or {"state": "unhealthy"}
        relapse = self._unstable(svc, waited)
        if not relapse:
            self._event(ev.RECOVERY_SUCCESS, name, f"healthy again after {action} (attempt {attempt})",
                        attempt=attempt, action=action)
            return {}
        if relapse["verdict"] != "engine_restarted":
            self._event(ev.RESTART_LOOP, name, f"healthy, then {relapse.get('detail')}", category="crash_loop",
                        logs=relapse.get("logs", []))
        return dict(relapse, state=relapse["verdict"])

    def _manual(self, svc: dict, state: str, attempts: int, why: str, category: str | None, logs: list[str]) -> dict:
        """The end of the list: a call for manual action (a crash loop is stopped first, volumes kept)."""
        if state == CRASH_LOOP and not self.check_mode:
            self.stop(svc)
        cause = f"{why}. " if category and why else ""  # what the last attempt failed on
        self._event(ev.RECOVERY_NEEDED, svc["name"], f"{state} after {attempts} recovery attempt(s): "
                    f"{cause}{advice(state, category, logs)}", category=category or state)
        return {"state": state, "attempts": attempts, "why": why}

    def _unstable(self, svc: dict, waited: dict) -> dict:
        """Healthy is not recovered until it stays so for stable_seconds: the probe entry that says it did not (its
        containers loop or exit, or stopped with a restarted engine), or {}."""
        baseline = {c["name"]: c["restart_count"] for c in waited.get("containers", [])}
        deadline = self.clock() + self.stable_seconds
        while self.clock() < deadline:
            self.sleep(1.0)
            entry = self.probe([svc], baseline).get(svc["name"], {})
            if entry.get("verdict") in ("crash_loop", "engine_restarted"):
                return entry
        return {}

    def _event(self, event_type: str, name: str, message: str, **facts) -> None:
        self.emit(ev.make_event(event_type, name, message, **facts))


ENGINE_RESTARTS = probes.ENGINE_RESTARTS  # an engine restart during a recovery repeats the attempt


def advice(state: str, category: str | None, logs: list[str]) -> str:
    if category in MANUAL_CATEGORIES:
        return err.ADVICE[category]
    last = f" Last log line: {logs[-1]}" if logs else ""
    if state == CRASH_LOOP:
        return ("the container keeps exiting after recreate and reconfigure; it was stopped. Read `docker logs` for "
                "the cause (configuration, permissions, a missing dependency), fix it in the inventory and re-run." + last)
    if state == UNHEALTHY:
        return ("it runs but never answers its readiness probe, even after restart and recreate; check its "
                "dependencies and `docker logs`." + last)
    return "bring it up with playbooks/site.yml and read the deploy events." + last


def status_row(name: str, host: str, entry: dict, state: str, url: str | None, now: datetime.datetime | None = None) -> dict:
    """One line of the status table."""
    now = now or datetime.datetime.now(datetime.UTC)
    # one-shot init jobs are counted apart: a finished job is not a stopped service
    every = entry.get("containers") or []
    containers = [c for c in every if not c.get("oneshot")]
    jobs = [c for c in every if c.get("oneshot")]
    running = [c for c in containers if c.get("status") == "running"]
    done = [c for c in jobs if c.get("status") == "exited" and c.get("exit_code") == 0]
    ages = [a for a in (_age_seconds(c.get("started_at"), now) for c in running) if a is not None]
    return {
        "service": name, "host": host, "state": state,
        "health": entry.get("detail", ""),
        "uptime_s": round(min(ages)) if ages else 0,
        "restarts": sum(int(c.get("restart_count") or 0) for c in containers),
        "containers": f"{len(running)}/{len(containers)}" + (f" +{len(done)}/{len(jobs)} jobs done" if jobs else ""),
        "url": url or "",
    }


def orphan_row(orphan: dict, host: str) -> dict:
    """The status row of an orphaned service: what it still holds, one detail line each."""
    containers = orphan.get("containers") or []
    running = [c for c in containers if c.get("state") == "running"]
    details = [f"container {c['name']}: {c.get('status') or c.get('state')} ({c.get('image')})" for c in containers]
    details += [f"port {p}" for p in orphan.get("ports") or []]
    details += [f"volume {v}" for v in orphan.get("volumes") or []]
    details += [f"directory {orphan['project_dir']}"] if orphan.get("project_dir") else []
    return {"service": orphan["service"], "host": host, "state": ORPHANED,
            "health": "not enabled on this host by the inventory", "uptime_s": 0, "restarts": 0,
            "containers": f"{len(running)}/{len(containers)}", "url": "", "details": details,
            "ports": list(orphan.get("ports") or []), "volumes": list(orphan.get("volumes") or [])}


def _duration(seconds: int) -> str:
    if seconds >= 86400:
        return f"{seconds // 86400}d{seconds % 86400 // 3600}h"
    if seconds >= 3600:
        return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
    return f"{seconds // 60}m{seconds % 60:02d}s"


def format_table(rows: list[dict]) -> str:
    cols = ["service", "host", "state", "uptime", "restarts", "containers", "url", "health"]
    data = [[r["service"], r["host"], r["state"], _duration(r["uptime_s"]), str(r["restarts"]), r["containers"], r["url"],
             r["health"][:60]] for r in rows]
    widths = [max(len(c), *(len(d[i]) for d in data)) if data else len(c) for i, c in enumerate(cols)]
    lines = ["  ".join(c.upper().ljust(w) for c, w in zip(cols, widths, strict=True))]
    for r, d in zip(rows, data, strict=True):
        lines.append("  ".join(v.ljust(w) for v, w in zip(d, widths, strict=True)))
        # what a DRIFT or ORPHANED row is about: one line each, under the service's own line
        lines += [" " * (widths[0] + 2) + "- " + str(x) for x in r.get("details") or []]
    return "\n".join(line.rstrip() for line in lines)
