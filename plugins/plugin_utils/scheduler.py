# Private to aiplatform.stack: not a public API, it may change in any release (README, "Layout").
"""Deploy one host's services as a dependency graph: each starts the moment its own dependencies are healthy.

Plain Python: the host is reached only through `step(request) -> response` (one module round trip, see
module_utils/deploy_step.py), time through `clock` (it never sleeps: every wait is polled on the host), so the whole
schedule is unit-tested with fakes.

A run: one `check` step compares every service with what runs (the no-op fast path ends here when all are unchanged
and answer their probe), then each step brings up what has become startable, probes what is due (local services and
dependencies on other hosts), and rolls back, stops, makes databases or checks wiring as earlier steps decided.
Dependents of a failed service are skipped with the reason; independent services carry on. An application
with a first administrator to set up (`admin`) counts as healthy only once that is done, in the step in which it
first answers its probe (module_utils/first_admin.py); LiteLLM with virtual keys to register (`virtual_keys`) likewise
(module_utils/litellm_keys.py), so the applications, which wait for it, start with registered keys.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field

from ansible_collections.aiplatform.stack.plugins.module_utils import errors as err
from ansible_collections.aiplatform.stack.plugins.module_utils import events as ev
from ansible_collections.aiplatform.stack.plugins.module_utils import probes
from ansible_collections.aiplatform.stack.plugins.module_utils import step_protocol as sp
from ansible_collections.aiplatform.stack.plugins.plugin_utils.health_wait import HealthTracker, brief_containers

PENDING = "pending"  # waiting for its dependencies
STARTING = "starting"  # in the step that brings it up
WAITING = "waiting"  # started, waiting until it answers its probe
PROVISIONING = "provisioning"  # healthy PostgreSQL, application databases not made yet
UNWINDING = "unwinding"  # a stop or a rollback is asked for in the next step
ROLLING_BACK = "rolling_back"  # previous version started, waiting for it
HEALTHY = "healthy"
ROLLED_BACK = "rolled_back"  # the previous version runs healthy; the change did not
WOULD_CHANGE = "would_change"  # check mode
FAILED = "failed"
SKIPPED = "skipped"

OK_STATES = frozenset({HEALTHY, ROLLED_BACK, WOULD_CHANGE})
BAD_STATES = frozenset({FAILED, SKIPPED})
ACTIVE_STATES = frozenset({PENDING, STARTING, WAITING, PROVISIONING, UNWINDING, ROLLING_BACK})
# A step with nothing to start or undo probes on the host for at most this long: an event at least this often.
POLL_SECONDS = 3.0
ENGINE_RESTARTS = probes.ENGINE_RESTARTS
REMOTE_EVENT = {ev.HEALTH_RETRY: ev.DEPENDENCY_WAIT, ev.HEALTH_SUCCESS: ev.DEPENDENCY_READY,
                ev.HEALTH_TIMEOUT: ev.DEPENDENCY_FAIL, ev.RESTART_LOOP: ev.DEPENDENCY_FAIL}


@dataclass
class Service:
    """One service placed on this host."""

    name: str
    project: sp.ProjectSpec  # {service, project_src, project_name, files, secret_files, probe, target}
    wait: sp.ProbeSpec  # {name, project, probe, target, backoff, type} for the health wait
    deps: list[str] = field(default_factory=list)
    wiring: sp.WiringSpec | None = None  # {name, container, endpoints}
    databases: sp.DatabasesSpec | None = None  # PostgreSQL only: {container, admin_user, databases}
    models: dict | None = None  # {port, names}: models it should have (Ollama); sp.ModelsSpec less service
    admin: dict | None = None  # {kind, target, port, email, name, password, ...}: sp.AdminSpec less service
    virtual_keys: dict | None = None  # LiteLLM: {target, port, master_key, applications}: sp.VirtualKeysSpec less service
    models_missing: list | None = None  # None: not known (the pull step will look)
    unchanged: bool = False  # runs as the files say but did not answer the check's probe
    failure: tuple | None = None  # (category, cause) known before the deploy (its files could not be rendered)
    state: str = PENDING
    changed: bool = False
    rollback_available: bool = False
    category: str = ""
    detail: str = ""
    diff: list = field(default_factory=list)
    drift: str = ""  # what the check found changed behind the platform's back (drift.summary), put back by the up
    engine_restarts: int = 0  # times its wait saw its containers stopped with the Docker engine
    reverted: bool = False  # its previous files were put back (a rollback), whether it then came up or not


class Scheduler:
    def __init__(self, services: list[Service], step, emit, remote: dict[str, dict] | None = None,
                 down: set[str] | None = None, rollback: bool = True, serial: bool = False, check_mode: bool = False,
                 lock: dict | None = None, clock=time.monotonic, wall=time.time, rng=None) -> None:
        """remote: {name: {host, port, probe, backoff}} dependencies on other hosts; down: known failed elsewhere;
        lock: {dir, run} of the host's run lock, given back by the step that finds nothing left to do."""
        self.services = {s.name: s for s in services}
        self.order = [s.name for s in services]
        self.step, self.emit = step, emit
        self.remote = dict(remote or {})
        self.remote_state = {name: FAILED for name in (down or set())}
        self.rollback, self.serial, self.check_mode = rollback, serial, check_mode
        self.clock, self.wall = clock, wall
        self.tracker = HealthTracker(emit, rng)
        self.remote_tracker = HealthTracker(self._emit_remote, rng, ask_logs=False)
        self.wiring_after_deps: list[Service] = []  # healthy, but their links are checked once their dependencies are
        self.queued: dict[str, list] = {"stop": [], "previous": [], "wiring": []}
        self.queued_databases: sp.DatabasesSpec | None = None
        self.steps = 0
        self.changed_elsewhere = False  # databases made, loops stopped, rollbacks
        self.warnings: list[str] = []
        self.lock = lock
        self.lock_released = False
        self.engine_started = 0.0  # the latest start of the host's Docker engine its probes reported (0: unknown)

    # -- events -------------------------------------------------------------------------------------------------
    def _event(self, event_type: str, service: str, message: str, **facts) -> None:
        self.emit(ev.make_event(event_type, service, message, **facts))

    def _emit_remote(self, event: dict) -> None:
        event["type"] = REMOTE_EVENT.get(event["type"], event["type"])
        event["level"] = ev.level_of(event["type"])
        event["message"] = "dependency on another host: " + event["message"]
        self.emit(event)

    def _start_event(self, s: Service, at: float | None = None) -> None:
        """at: when its deploy began, if before now (brought up by the check: other hosts may see it ready first)."""
        event = ev.make_event(ev.DEPLOY_START, s.name, f"deploying project {s.project['project_name']}")
        if at is not None:
            event["time"] = at
        self.emit(event)

    def _fail(self, s: Service, category: str, cause: str, advice: str = "") -> None:
        s.state, s.category, s.detail = FAILED, category, cause
        fix = f"; fix: {advice}" if advice else ""
        if category in ev.SPECIFIC_FAILURE and category != "crash_loop":
            self._event(ev.SPECIFIC_FAILURE[category], s.name, cause + fix, category=category)
            fix = ""  # said once, in the event of its kind
        self._event(ev.DEPLOY_FAIL, s.name, f"[{category}] {cause}{fix}", category=category)

    # -- the state of a dependency, wherever it runs ------------------------------------------------------------
    def dep_state(self, name: str) -> str:
        if name in self.services:
            return self.services[name].state
        if name in self.remote_state:
            return self.remote_state[name]
        return PENDING if name in self.remote else HEALTHY  # not deployed in this run: not a gate

    # -- the run ------------------------------------------------------------------------------------------------
    def run(self) -> dict:
        try:
            for s in self.services.values():
                if s.failure:
                    self._start_event(s)
                    self._fail(s, *s.failure)
                else:
                    self._skip_if_blocked(s)
            self._check()
            # a link check, stop or databases request still queued is sent even when no service waits any more
            while any(s.state in ACTIVE_STATES for s in self.services.values()) or self.wiring_after_deps \
                    or any(self.queued.values()) or self.queued_databases:
                if not self._advance():
                    break
        except (KeyboardInterrupt, SystemExit):
            for s in self.services.values():
                if s.state in ACTIVE_STATES:
                    was = s.state
                    s.state, s.category, s.detail = FAILED, "interrupted", f"interrupted while {was}"
                    self._event(ev.DEPLOY_FAIL, s.name, f"[interrupted] the run was stopped while {s.name} was "
                                f"{was.replace('_', ' ')}; re-run to converge", category="interrupted")
            raise
        return self.summary()

    def _check(self) -> None:
        """The first step: every service compared with what runs, the unchanged ones probed (the fast path)."""
        todo = [s for s in self.services.values() if s.state == PENDING]
        if not todo:
            return
        # what needs nothing that is not healthy already is brought up by the check itself when it changed
        free = set() if self.check_mode or self.serial else \
            {s.name for s in todo if all(self.dep_state(d) in OK_STATES for d in s.deps)}
        request = {"check": [dict(s.project, start_if_changed=True) if s.name in free else s.project for s in todo],
                   "remote": [dict(spec, name=n) for n, spec in self.remote.items() if n not in self.remote_state],
                   "wiring": [dict(s.wiring, if_ready=True) for s in todo if s.wiring]}
        pg = next((s for s in todo if s.databases), None)
        if pg:
            request["databases"] = dict(pg.databases, when_ready=pg.name)
        request["models"] = [dict(s.models, service=s.name) for s in todo if s.models]
        self._ask_claims(request, [s.name for s in todo])
        if self.lock:
            request["release_lock_if_settled"] = self.lock
        started, began = self.clock(), self.wall()
        resp = self._call(request)
        now = self.clock()
        duration = round(now - started, 3)
        self.lock_released = bool(resp.get("lock_released"))
        if resp.get("failed"):
            for s in todo:
                self._start_event(s)
                self._fail(s, resp.get("category", "engine"), resp.get("msg", "the host did not answer"))
            return
        remote = resp.get("remote") or {}
        for name, spec in self.remote.items():
            if name in self.remote_state:
                continue
            if (remote.get(name) or {}).get("verdict") == "ready":
                self.remote_state[name] = HEALTHY  # recorded as well: when this host saw it ready is part of the order
                self._event(ev.DEPENDENCY_READY, name, f"dependency on another host: ready at {spec['host']}:"
                            f"{spec['port']} at the first look: {remote[name].get('detail', '')}")
            else:
                self.remote_tracker.add(dict(spec, name=name), started, immediate=True)
                if name in remote:
                    self._remote_ended(self.remote_tracker.record({name: remote[name]}, now))
        probes = resp.get("probe") or {}
        self._engine_seen(probes)  # the engine's start before anything answered: a later one is a restart
        for s in todo:
            name = s.name
            r = (resp.get("check") or {}).get(name) or {"failed": True, "category": "unknown", "cause": "no answer"}
            if self._skip_if_blocked(s):
                continue  # a dependency is already known failed (its host dropped out): not even when it answers
            ready = (probes.get(name) or {}).get("verdict") == "ready"
            if r.get("failed") or r.get("brought_up") or (not r.get("changed") and ready):
                # otherwise its deploy starts when its dependencies let it (never in check mode)
                self._start_event(s, at=began if r.get("brought_up") else None)
            if r.get("failed"):
                self._fail(s, r.get("category", "unknown"), r.get("cause") or r.get("msg", ""), r.get("advice", ""))
            elif r.get("changed"):
                if r.get("validated"):  # its up need not validate the same files again
                    s.project = dict(s.project, validated=r["validated"])
                s.diff = [dict(d, before_header=f"{name}/{d.get('before_header', '')}",
                               after_header=f"{name}/{d.get('after_header', '')}") for d in r.get("diff") or []]
                if r.get("brought_up"):
                    self._started(s, r, duration, now)
                elif r.get("container_drift"):
                    self._drifted(s, r)
                if self.check_mode:
                    s.state, s.changed = WOULD_CHANGE, True
                    what = ", ".join(r.get("changed_files") or []) or r.get("reason") or \
                        "containers drifted: " + ", ".join(r.get("drift") or [])
                    self._event(ev.DEPLOY_SUCCESS, name, f"would change ({what}); check mode: nothing started",
                                changed=True, duration=duration, changed_files=r.get("changed_files"))
            elif ready:
                probe = probes[name]
                self._event(ev.DEPLOY_SUCCESS, name, f"unchanged, nothing restarted ({duration:.1f} s)",
                            changed=False, duration=duration, changed_files=[])
                s.models_missing = (resp.get("models") or {}).get(name)
                self._event(ev.HEALTH_SUCCESS, name, f"healthy, unchanged: {probe['detail']}", attempt=1,
                            duration=0.0, containers=brief_containers(probe.get("containers", [])))
                self._healthy(s, resp)
            else:
                # runs unchanged but does not answer: once its dependencies are healthy it is waited for, not started
                s.unchanged = True

    def _drifted(self, s: Service, r: sp.ProjectResult) -> None:
        """Containers changed behind the platform's back: said now, recreated by the up step (their hash label still
        matches, so compose alone would not)."""
        s.drift = r.get("reason", "drift")
        s.project = dict(s.project, recreate_services=r.get("recreate_services") or [])
        then = "check mode: nothing changed" if self.check_mode else "they will be recreated"
        self._event(ev.DRIFT, s.name, f"containers differ from the deployed configuration: {s.drift}; {then}",
                    drift=r.get("container_drift"))

    def _healthy(self, s: Service, resp: sp.StepResponse) -> None:
        """A service answered its probe; PostgreSQL also needs the application databases before it counts."""
        if s.state == ROLLING_BACK:
            s.state = ROLLED_BACK
        elif s.state in BAD_STATES:
            pass  # failed while still waited for (its databases' step failed): a later answer does not undo it
        elif s.databases and not self._databases_done(s, resp):
            s.state = PROVISIONING
            self.queued_databases = dict(s.databases)
        elif s.state not in BAD_STATES and (not s.admin or self._admin_done(s, resp)) \
                and (not s.virtual_keys or self._keys_done(s, resp)):
            s.state = HEALTHY
        if not s.wiring or s.state in BAD_STATES:
            return
        if not all(self.dep_state(d) in OK_STATES for d in s.deps):
            self.wiring_after_deps.append(s)  # a link to a dependency that is not back yet says nothing yet
        elif s.name in (resp.get("wiring") or {}):  # checked in the step in which it answered (if_ready)
            self._wired(s, resp["wiring"][s.name])
        else:
            self.queued["wiring"].append(s.wiring)

    def _databases_done(self, s: Service, resp: sp.StepResponse) -> bool:
        got = resp.get("databases")
        if got is None:
            return False
        if not got.get("ok"):
            self._fail(s, got.get("category", "unknown"), f"application databases: {got.get('cause')}",
                       "check the PostgreSQL admin credentials and the database names")
            return True
        if got.get("changes"):
            self.changed_elsewhere = True
            self._event(ev.DEPLOY_SUCCESS, s.name, "application databases: " + ", ".join(got["changes"]),
                        changed=True, databases=True)
        return True

    def _ask_claims(self, request: sp.StepRequest, names: list[str]) -> None:
        """The first-administrator setups and virtual keys of these services, done on the host if their probe answers
        in the step."""
        asked = [self.services[n] for n in names if n in self.services and self.services[n].state in (PENDING, WAITING)]
        for part, attr in (("admins", "admin"), ("virtual_keys", "virtual_keys")):
            specs = [dict(getattr(s, attr), service=s.name) for s in asked if getattr(s, attr)]
            if specs:
                request[part] = specs

    def _admin_done(self, s: Service, resp: sp.StepResponse) -> bool:
        """Its first administrator was set up or verified in this step; otherwise it fails (never overwritten)."""
        got = (resp.get("admins") or {}).get(s.name) or {
            "ok": False, "category": err.UNKNOWN, "cause": "setup of the first administrator: no answer"}
        if not got.get("ok"):
            self._fail(s, got.get("category", err.UNKNOWN), got.get("cause", ""), got.get("advice", ""))
            return False
        where = s.admin.get("secrets_file") or "the secrets file"
        if got.get("action") == "created":
            self.changed_elsewhere = True
            self._event(ev.DEPLOY_SUCCESS, s.name, f"first administrator {s.admin['email']} created; its password is "
                        f"admin_password in {where}", changed=True, admin="created")
        elif got.get("action") == "unverified":
            self.warnings.append(f"{s.name}: its first administrator exists; the login with the stored credentials "
                                 f"was not tried now ({got.get('cause')}); the next run checks it")
        elif got.get("action") == "would_create":
            self.changed_elsewhere = True
            self._event(ev.DEPLOY_SUCCESS, s.name, f"would create the first administrator {s.admin['email']}; check "
                        "mode: nothing changed", changed=True, admin="would_create")
        return True

    def _keys_done(self, s: Service, resp: sp.StepResponse) -> bool:
        """The applications' virtual keys were registered or verified in this step; otherwise it fails."""
        got = (resp.get("virtual_keys") or {}).get(s.name) or {
            "ok": False, "category": err.UNKNOWN, "cause": "virtual keys: no answer"}
        if not got.get("ok"):
            self._fail(s, got.get("category", err.UNKNOWN), got.get("cause", ""), got.get("advice", ""))
            return False
        done = {app: action for app, action in sorted((got.get("actions") or {}).items()) if action != "verified"}
        if done:
            self.changed_elsewhere = True
            check = "; check mode: nothing changed" if self.check_mode else ""
            self._event(ev.DEPLOY_SUCCESS, s.name, "virtual keys: " + ", ".join(
                f"{app} {action.replace('_', ' ')}" for app, action in done.items()) + check, changed=True,
                virtual_keys=done)
        return True

    def _wired(self, s: Service, checks: dict[str, sp.LinkCheck]) -> None:
        broken = {dep: c for dep, c in sorted(checks.items()) if not c.get("ok")}
        for dep, c in broken.items():
            self._event(ev.CONNECTIVITY_FAIL, s.name, f"cannot reach {dep} at {c['address']}: {c['detail']}",
                        category="dependency")
        if broken and s.state not in BAD_STATES:
            s.state, s.category = FAILED, "dependency"
            s.detail = "cannot reach " + ", ".join(f"{d} at {c['address']}" for d, c in broken.items())

    def _skip_if_blocked(self, s: Service) -> bool:
        """Skip a service one of whose dependencies failed, with the reason; True when it was skipped."""
        bad = next((d for d in s.deps if self.dep_state(d) in BAD_STATES), None)
        if bad is None:
            return False
        s.state, s.category = SKIPPED, "dependency"
        s.detail = f"not started: it depends on {bad}, which failed"
        self._event(ev.DEPLOY_SKIPPED, s.name, s.detail, category="dependency", blocked_by=bad)
        return True

    def _startable(self) -> list[Service]:
        ready = []
        for name in self.order:
            s = self.services[name]
            if s.state != PENDING:
                continue
            if self._skip_if_blocked(s):
                continue
            if all(self.dep_state(d) in OK_STATES for d in s.deps):
                ready.append(s)
        if self.serial:
            busy = any(s.state in (STARTING, WAITING, UNWINDING, ROLLING_BACK) for s in self.services.values())
            return [] if busy else ready[:1]
        return ready

    def _advance(self) -> bool:
        """One step; False when nothing can move any more."""
        now = self.clock()
        up = self._startable()
        request: sp.StepRequest = {}
        for s in [s for s in up if s.unchanged]:
            self._start_event(s)
            self._event(ev.DEPLOY_SUCCESS, s.name, "unchanged, nothing restarted", changed=False, changed_files=[])
            s.state = WAITING
            self.tracker.add(s.wait, now, immediate=True)
        up = [s for s in up if not s.unchanged]
        if up:
            request["up"] = [s.project for s in up]
            for s in up:
                s.state = STARTING
                self._start_event(s)
        for s in list(self.wiring_after_deps):
            if any(self.dep_state(d) in BAD_STATES for d in s.deps):
                self.wiring_after_deps.remove(s)  # that dependency failed: its own event says so
            elif all(self.dep_state(d) in OK_STATES for d in s.deps):
                self.wiring_after_deps.remove(s)
                self.queued["wiring"].append(s.wiring)
        for part in ("stop", "previous", "wiring"):
            if self.queued[part]:
                request[part], self.queued[part] = self.queued[part], []
        if self.queued_databases:
            request["databases"], self.queued_databases = self.queued_databases, None
        if not request and (self.tracker.pending or self.remote_tracker.pending):
            request = self._poll_request(now)
        due = [] if "poll" in request else self.tracker.due(now)
        if due:
            request["probe"] = due
            request["baseline"] = dict(self.tracker.baseline)
            self._ask_claims(request, [d["name"] for d in due])
            self._ask_wiring(request, [d["name"] for d in due])
            pg = next((s for s in self.services.values() if s.databases and s.state == WAITING), None)
            if pg and any(d["name"] == pg.name for d in due):
                # made in the same step as soon as PostgreSQL answers: its consumers need not wait another round
                request["databases"] = dict(pg.databases, when_ready=pg.name)
        remote_due = [] if "poll" in request else self.remote_tracker.due(now)
        if remote_due:
            request["remote"] = remote_due
        if not request:  # nothing to start or undo, and no wait left (a wait is always polled): it cannot move
            self._end_unsettled()
            return False
        if self.lock and self._may_be_last(request):
            request["release_lock_if_settled"] = self.lock
        started = self.clock()
        resp = self._call(request)
        self.lock_released = self.lock_released or bool(resp.get("lock_released"))
        self._settle(request, resp, started)
        return True

    def _end_unsettled(self) -> None:
        """Nothing is left that could answer: what still waits ends failed (or skipped), not in neither list."""
        for s in self.services.values():
            if s.state == PROVISIONING:
                self._fail(s, err.ENGINE, "application databases: the host never answered")
        for s in self.services.values():
            if s.state == PENDING and not self._skip_if_blocked(s):
                self._fail(s, err.DEPENDENCY, "its dependencies never settled")

    def _ask_wiring(self, request: sp.StepRequest, names: list[str]) -> None:
        """The links of these services, checked on the host in the step in which they answer (when the services
        they link to are healthy already): no round trip of its own after they become healthy."""
        wiring = [dict(s.wiring, if_ready=True) for s in (self.services[n] for n in names if n in self.services)
                  if s.wiring and s.state == WAITING and all(self.dep_state(d) in OK_STATES for d in s.deps)]
        if wiring:
            request["wiring"] = list(request.get("wiring") or []) + wiring

    def _may_be_last(self, request: sp.StepRequest) -> bool:
        """Nothing would follow this step if every service it probes answers: the host may give the run lock back
        in it (deploy_step's `settled` decides), which spares the playbook a task."""
        if any(part in request for part in ("up", "stop", "previous", "databases", "remote")):
            return False
        if self.wiring_after_deps or any(self.queued.values()) or self.queued_databases or self.remote_tracker.pending:
            return False
        probed = {p["name"] for p in request.get("probe") or []}
        wired = {w["name"] for w in request.get("wiring") or [] if w.get("if_ready")}
        for s in self.services.values():
            if s.state in BAD_STATES or s.state not in (HEALTHY, WAITING):
                return False
            if s.state == WAITING and (s.name not in probed or (s.wiring and s.name not in wired)):
                return False
            if s.models and s.models_missing != []:
                return False  # the pull step follows
        return True

    def _poll_request(self, now: float) -> sp.StepRequest:
        """Nothing to start or undo: every wait is probed on the host until one of them changes (`poll`)."""
        request: sp.StepRequest = {"poll": {"seconds": max(0.1, min(POLL_SECONDS, self.tracker.time_left(now),
                                                                    self.remote_tracker.time_left(now)))}}
        if self.tracker.pending:
            request["probe"] = self.tracker.due(None)
            request["baseline"] = dict(self.tracker.baseline)
            self._ask_claims(request, [d["name"] for d in request["probe"]])
            self._ask_wiring(request, [d["name"] for d in request["probe"]])
            pg = next((s for s in self.services.values() if s.databases and s.state == WAITING), None)
            if pg and pg.name in self.tracker.pending:
                request["databases"] = dict(pg.databases, when_ready=pg.name)
        if self.remote_tracker.pending:
            request["remote"] = self.remote_tracker.due(None)
        return request

    def _call(self, request: sp.StepRequest) -> sp.StepResponse:
        self.steps += 1
        return self.step(request)

    def _settle(self, request: sp.StepRequest, resp: sp.StepResponse, started: float) -> None:
        now = self.clock()
        duration = round(now - started, 3)
        if resp.get("failed"):
            # the host did not answer this step: what it should have done counts as failed, waits go on
            cause, category = resp.get("msg", "the host did not answer"), resp.get("category", "engine")
            for part in ("up", "stop", "previous"):
                for p in request.get(part) or []:
                    self._fail(self.services[p["service"]], category, cause)
            if request.get("databases"):
                pg = next(s for s in self.services.values() if s.databases)
                self._fail(pg, category, f"application databases: {cause}")
            resp = {"probe": {s["name"]: {"verdict": "waiting", "detail": cause} for s in request.get("probe") or []},
                    "remote": {s["name"]: {"verdict": "waiting", "detail": cause} for s in request.get("remote") or []}}
        for p in request.get("stop") or []:
            s = self.services[p["service"]]
            self.changed_elsewhere = True
            r = (resp.get("stop") or {}).get(s.name) or {}
            self._event(ev.RESTART_LOOP, s.name, "containers stopped to end the crash loop; volumes kept"
                        if not r.get("failed") else f"could not stop the crash loop: {r.get('cause')}",
                        category="crash_loop")
            if s.state not in BAD_STATES:
                s.state = FAILED
        for p in request.get("previous") or []:
            s = self.services[p["service"]]
            r = (resp.get("previous") or {}).get(s.name) or {"failed": True, "cause": "no answer"}
            if r.get("failed"):
                self._fail(s, r.get("category", "unknown"), f"rollback failed: {r.get('cause')}", r.get("advice", ""))
            else:
                s.state, s.reverted = ROLLING_BACK, True
                self.changed_elsewhere = True
                self._event(ev.DEPLOY_SUCCESS, s.name, f"rolled back to the previous version ({duration:.1f} s)",
                            changed=True, duration=duration, rollback=True)
                self.tracker.add(s.wait, now)
        for p in request.get("up") or []:
            s = self.services[p["service"]]
            if s.state in BAD_STATES:
                continue
            r = (resp.get("up") or {}).get(s.name) or {"failed": True, "category": "unknown", "cause": "no answer"}
            if r.get("failed"):
                self._fail(s, r.get("category", "unknown"), r.get("cause") or r.get("msg", ""), r.get("advice", ""))
                continue
            self._started(s, r, duration, now)
        if request.get("databases"):
            pg = next(s for s in self.services.values() if s.databases)
            if pg.state == PROVISIONING and self._databases_done(pg, resp) and pg.state == PROVISIONING:
                pg.state = HEALTHY
        probes = resp.get("probe") or {}
        self._engine_seen(probes)
        polled = "poll" in request
        asked = {s["name"] for s in request.get("probe") or []}
        self._ended(self.tracker.record({n: probes.get(n) or {"verdict": "waiting", "detail": "no answer"}
                                         for n in asked}, now, polled), resp)
        remote = resp.get("remote") or {}
        asked = {s["name"] for s in request.get("remote") or []}
        self._remote_ended(self.remote_tracker.record({n: remote.get(n) or {"verdict": "waiting", "detail": "no answer"}
                                                       for n in asked}, now, polled))
        wired = resp.get("wiring") or {}
        for w in request.get("wiring") or []:
            if w["name"] in wired and not w.get("if_ready"):  # those were judged as their service became healthy
                self._wired(self.services[w["name"]], wired[w["name"]])

    def _started(self, s: Service, r: sp.ProjectResult, duration: float, now: float) -> None:
        """Its `up` went through (in an up step, or in the check for what needs nothing): now waited for."""
        if r.get("unparsed"):
            self.warnings.append(f"{s.name}: compose printed output the parser does not know: "
                                 f"{'; '.join(r['unparsed'][:5])}")
        s.changed = s.changed or bool(r.get("changed"))  # brought up again after an engine restart: still changed
        s.rollback_available = bool(r.get("rollback_available"))
        what = "started " + ", ".join(r.get("actions") or []) if s.changed else "unchanged, nothing restarted"
        what += f"; put back {s.drift}" if s.drift and s.changed else ""
        self._event(ev.DEPLOY_SUCCESS, s.name, f"{what} ({duration:.1f} s)", changed=s.changed,
                    duration=duration, changed_files=r.get("changed_files"))
        s.state = WAITING
        self.tracker.add(s.wait, now)

    def _ended(self, done: dict[str, dict], resp: sp.StepResponse | None = None) -> None:
        for name, outcome in done.items():
            s = self.services[name]
            if outcome["state"] == "healthy":
                self._healthy(s, resp or {})
                continue
            if outcome["state"] == "engine":  # nothing to roll back or stop with: the engine is gone
                self._fail(s, err.ENGINE, f"while waiting for {name}: {outcome['detail']}", err.ADVICE[err.ENGINE])
                continue
            if outcome["state"] == "engine_restarted":
                self._engine_restarted(s, outcome["detail"])
                continue
            s.category = {"crash_loop": "crash_loop", "config": "config"}.get(outcome["state"], "timeout")
            s.detail = outcome["detail"]
            if s.state == WAITING and s.changed and s.rollback_available and self.rollback:
                s.state = UNWINDING
                self.queued["previous"].append(s.project)
            elif outcome["state"] == "crash_loop":
                # prevention: a crash-looping container is stopped, not left looping (volumes are kept)
                s.state = UNWINDING
                self.queued["stop"].append(s.project)
            else:
                s.state = FAILED

    def _engine_seen(self, probes: dict[str, sp.ProbeResult]) -> None:
        """The engine's start as the host reports it: a later one than before means it restarted during the run, and
        what answered before may have stopped with it (with restart policy "no", for good): brought up again."""
        started = max((p.get("engine_started") or 0.0 for p in probes.values()), default=0.0)
        if not started:
            return
        if self.engine_started and started > self.engine_started:
            for s in self.services.values():
                if s.state in (HEALTHY, PROVISIONING, ROLLED_BACK):
                    self._engine_restarted(s, "it answered before; the engine may have stopped it", "after it answered")
        self.engine_started = max(self.engine_started, started)

    def _engine_restarted(self, s: Service, detail: str, when: str = "while waiting for it") -> None:
        """Its containers stopped with the Docker engine, which runs again: no fault of its own, so it is brought up
        again and given a whole wait (at most ENGINE_RESTARTS times a run), instead of being judged a crash loop."""
        if s.engine_restarts >= ENGINE_RESTARTS:
            self._fail(s, err.ENGINE, f"the Docker engine restarted {s.engine_restarts + 1} times {when} "
                       f"({s.name}): {detail}", err.ADVICE[err.ENGINE])
            return
        s.engine_restarts += 1
        self._event(ev.HEALTH_RETRY, s.name, f"the Docker engine restarted {when}: {detail}; bringing it up again, "
                    "its wait starts over", category=err.ENGINE)
        if s.state in (ROLLING_BACK, ROLLED_BACK):  # its previous version again, never the one that failed
            s.state = UNWINDING
            self.queued["previous"].append(s.project)
        else:  # up again once its dependencies answer (they may have stopped too)
            s.state, s.unchanged = PENDING, False

    def _remote_ended(self, done: dict[str, dict]) -> None:
        for name, outcome in done.items():
            self.remote_state[name] = HEALTHY if outcome["state"] == "healthy" else FAILED

    def summary(self) -> dict:
        out = {name: {"state": s.state, "changed": s.changed, "category": s.category, "detail": s.detail}
               for name, s in self.services.items()}
        healthy = [n for n in self.order if self.services[n].state in (HEALTHY, ROLLED_BACK)]
        return {
            "services": out,
            "healthy": healthy,
            # models to pull: of the healthy services, those not known to have them all
            "models": [n for n in healthy if self.services[n].models and self.services[n].models_missing != []],
            "failed_services": [n for n in self.order if self.services[n].state in BAD_STATES],
            "rolled_back": [n for n in self.order if self.services[n].state == ROLLED_BACK],
            # the previous files are back on disk (healthy again or not): what upgrade.yml may put old data under
            "reverted": [n for n in self.order if self.services[n].reverted],
            "changed": self.changed_elsewhere or any(s.changed for s in self.services.values()),
            "steps": self.steps,
            "diff": [d for n in self.order for d in self.services[n].diff],
        }
