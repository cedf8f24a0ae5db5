# Private to aiplatform.stack: not a public API, it may change in any release (README, "Layout").
"""Readiness probes and container assessment, run on the Docker host.

Probe kinds (a service's `probe` dict):
  http:    {type: http, port: 4000, path: /health/readiness, status: [200], body_contains: "...", json: {db: connected}}
           sent to the container's address on its network (no published port needed) or to `url` when given.
  tcp:     {type: tcp, port: 5432}
  command: {type: command, command: [pg_isready, -h, localhost], expect_output: "PONG"}  run inside the container
  docker:  {type: docker}  the image's own HEALTHCHECK must report healthy
  all:     {type: all, probes: [{target: api, type: http, ...}, {target: sandbox, ...}]}  every probe, each against
           its own container of the project (services of several containers, such as Dify)
"""
from __future__ import annotations

import datetime
import json
import os
import socket
import time
from urllib.error import HTTPError, URLError

from ansible.module_utils.urls import open_url

PROBE_TYPES = ("http", "tcp", "command", "docker", "all")


def check_http_answer(probe: dict, status: int, body: str) -> tuple[bool, str]:
    """Judge an HTTP answer against the probe's expectations."""
    want = probe.get("status") or [200]
    if status not in want:
        return False, f"HTTP {status}{_excerpt(body)}"
    needle = probe.get("body_contains")
    if needle and needle not in body:
        return False, f"HTTP {status} without '{needle}' in the body{_excerpt(body)}"
    fields = probe.get("json") or {}
    if fields:
        try:
            doc = json.loads(body)
        except ValueError:
            return False, f"HTTP {status}, body is not JSON{_excerpt(body)}"
        for key, value in fields.items():
            got = doc.get(key) if isinstance(doc, dict) else None
            if got != value:
                return False, f"HTTP {status}, {key}={got!r} (want {value!r})"
    return True, f"HTTP {status}"


def _excerpt(body: str, size: int = 120) -> str:
    body = " ".join((body or "").split())
    return f": {body[:size]}" if body else ""


def http_probe(probe: dict, address: str | None, timeout: float = 3.0) -> tuple[bool, str]:
    url = probe.get("url") or f"http://{address}:{probe['port']}{probe.get('path', '/')}"
    try:
        resp = open_url(url, timeout=timeout, follow_redirects="none", use_proxy=False)
        return check_http_answer(probe, resp.getcode(), resp.read(4096).decode("utf-8", "replace"))
    except HTTPError as exc:
        return check_http_answer(probe, exc.code, exc.read(4096).decode("utf-8", "replace"))
    except (URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        return False, f"{url}: {reason}"


def tcp_probe(host: str, port: int, timeout: float = 2.0) -> tuple[bool, str]:
    try:
        with socket.create_connection((host, int(port)), timeout=timeout):
            return True, f"tcp {host}:{port} open"
    except OSError as exc:
        return False, f"tcp {host}:{port}: {exc.strerror or exc}"


def container_address(inspect: dict) -> str | None:
    """The container's first IP address on any network (the host reaches bridge networks directly)."""
    networks = (inspect.get("NetworkSettings") or {}).get("Networks") or {}
    for name in sorted(networks):
        ip = networks[name].get("IPAddress")
        if ip:
            return ip
    return None


def container_facts(inspect: dict) -> dict:
    """The facts of `docker inspect` that the wait and status need."""
    state = inspect.get("State") or {}
    labels = (inspect.get("Config") or {}).get("Labels") or {}
    return {
        "name": inspect.get("Name", "").lstrip("/"),
        "service": labels.get("com.docker.compose.service", ""),
        "project": labels.get("com.docker.compose.project", ""),
        "oneshot": labels.get("aiplatform.stack.oneshot") == "true",
        "status": state.get("Status", "missing"),
        "running": bool(state.get("Running")),
        "exit_code": state.get("ExitCode"),
        "restart_count": inspect.get("RestartCount", 0),
        "health": (state.get("Health") or {}).get("Status"),
        "started_at": state.get("StartedAt"),
        "created": inspect.get("Created"),
        "finished_at": state.get("FinishedAt"),
        "oom_killed": bool(state.get("OOMKilled")),
        "address": container_address(inspect),
        "image": (inspect.get("Config") or {}).get("Image"),
    }


# The judgement of a service's containers (judge), shared by the deploy's wait, status and recover.
RUNNING = "running"  # every container runs (one-shot jobs may have ended with 0)
CRASH_LOOP = "crash_loop"  # a container exited with an error, is restarting, or keeps restarting
STOPPED = "stopped"  # a container ended by itself with exit code 0
MISSING = "missing"  # no container at all
NOT_RUNNING = "not_running"  # a container is neither running nor ended (created, not started yet; removing)
ENGINE_RESTARTED = "engine_restarted"  # a container stopped with the Docker engine, which has started again since
# A container that ended at most this long before the engine's current start stopped with it (a graceful restart of
# dockerd stops its containers, then starts again within seconds); an older exit is the container's own.
ENGINE_STOP_SECONDS = 120.0
# An engine that died (killed, out of memory) stopped nothing: its next start ends what still ran, and stamps that end
# just after it started (0.3 s measured here after `kill -9` of dockerd, exit code 0). A container started before the
# engine's current start and ended at most this long after it was ended that way.
ENGINE_REAP_SECONDS = 10.0
# what such an end reads (0 measured; killed: 137, terminated: 143); an error of its own is not taken for it
REAPED_EXIT_CODES = (0, None, 137, 143)
# A service stopped with a restarting engine is brought up again at most this often a run (deploy and recovery alike);
# past it the engine itself is the operator's to look at.
ENGINE_RESTARTS = 2


def docker_time(stamp: str | None) -> float | None:
    """Epoch seconds of a Docker timestamp (2026-12-07T09:30:01.123456789Z); None for none or the zero time."""
    if not stamp or stamp.startswith("0001-"):
        return None
    whole, dummy, fraction = stamp.rstrip("Z").partition(".")
    try:
        moment = datetime.datetime.strptime(whole, "%Y-%m-%dT%H:%M:%S").replace(tzinfo=datetime.timezone.utc)
    except ValueError:
        return None
    return moment.timestamp() + (float("0." + fraction[:9]) if fraction.isdigit() else 0.0)


def engine_started_at(pidfile: str = "/var/run/docker.pid") -> float | None:
    """When the local Docker engine started (epoch seconds): dockerd writes its pid file as it starts. None when it
    cannot be told here (DOCKER_HOST or DOCKER_CONTEXT names another engine, or no pid file: rootless)."""
    if os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock") != "unix:///var/run/docker.sock" or \
            os.environ.get("DOCKER_CONTEXT", "default") != "default":
        return None
    try:
        return os.stat(pidfile).st_mtime
    except OSError:
        return None


def ended_with_engine(c: dict, engine_started: float | None) -> str | None:
    """Why an ended container stopped with the Docker engine, not by a fault of its own; None when it did not: it
    ended shortly before the engine's current start (a graceful restart), or it ran before that start and was ended
    as it happened (the engine had died)."""
    code, finished, started = c.get("exit_code"), docker_time(c.get("finished_at")), docker_time(c.get("started_at"))
    if engine_started is None or finished is None:
        return None
    if engine_started - ENGINE_STOP_SECONDS <= finished <= engine_started:
        return (f"{c['name']} stopped with the Docker engine (exit code {code}); the engine started again "
                f"{engine_started - finished:.0f} s later")
    if started is not None and code in REAPED_EXIT_CODES and \
            started < engine_started <= finished <= engine_started + ENGINE_REAP_SECONDS:
        return (f"{c['name']} still ran when the Docker engine stopped without stopping it (exit code {code}); ended "
                f"as the engine started again")
    return None


def judge(containers: list[dict], baseline: dict[str, int] | None = None, engine_started: float | None = None,
          now: float | None = None, window: float = 120.0, climb: int = 3) -> tuple[str, str]:
    """(state, detail) of a service from its containers' facts (container_facts): one of the states above.

    A restart counts towards a crash loop when it happened since `baseline` (container name -> restart count when a
    wait began) or, without a baseline, when a container restarted at least `climb` times and last started less than
    `window` seconds before `now`. A container that ended shortly before the engine's current start
    (`engine_started`), or that ran before it and was ended as it started (the engine had died), was stopped with the
    engine, not by a fault of its own.
    """
    if not containers:
        return MISSING, "no container"
    now = time.time() if now is None else now
    for c in containers:
        if c.get("oneshot") and c.get("status") == "exited" and c.get("exit_code") == 0:
            continue
        count = c.get("restart_count") or 0
        if c.get("status") == "restarting":
            return CRASH_LOOP, f"{c['name']} restarting (exit code {c.get('exit_code')}, {count} restarts)"
        if baseline is not None:
            restarts = count - baseline.get(c["name"], count)
            if restarts > 0:
                return CRASH_LOOP, f"{c['name']} restarted {restarts} time(s) during the wait ({count} in all)"
        else:
            started = docker_time(c.get("started_at"))
            if count >= climb and started is not None and now - started < window:
                return CRASH_LOOP, f"{c['name']} restarting: {count} restarts, last exit code {c.get('exit_code')}"
        if c.get("status") == "created":
            return NOT_RUNNING, f"{c['name']} created, not started"
        if c.get("status") in ("exited", "dead"):
            code = c.get("exit_code")
            with_engine = ended_with_engine(c, engine_started)
            if with_engine:
                return ENGINE_RESTARTED, with_engine
            if code not in (0, None):
                why = " (out of memory)" if c.get("oom_killed") else ""
                return CRASH_LOOP, f"{c['name']} exited with code {code}{why}"
            return STOPPED, f"{c['name']} {c['status']} (exit code {code})"
        if not c.get("running", c.get("status") == "running"):
            return NOT_RUNNING, f"{c['name']} is {c.get('status')}"
    return RUNNING, "running"


# the deploy's wait: what each judgement means for it (a container that ended by itself ends the wait at once)
WAIT_VERDICT = {RUNNING: "ok", CRASH_LOOP: "crash_loop", STOPPED: "crash_loop", MISSING: "missing",
                NOT_RUNNING: "missing", ENGINE_RESTARTED: "engine_restarted"}


def assess(containers: list[dict], baseline: dict[str, int] | None = None,
           engine_started: float | None = None) -> tuple[str, str]:
    """The deploy's wait's reading of judge(): "ok", "crash_loop", "missing" or "engine_restarted"."""
    state, detail = judge(containers, baseline or {}, engine_started)
    return WAIT_VERDICT[state], detail


def _docker_json(run, argv: list[str]) -> list:
    rc, out, dummy = run(argv)
    if rc != 0 or not out.strip():
        return []
    return json.loads(out)


def project_containers(run, projects: list[str], docker: str = "docker",
                       raw: dict | None = None) -> dict[str, list[dict]]:
    """Container facts of the given compose projects, keyed by project (two docker calls in all).

    `raw`, when given, receives the full inspect documents by project (for the drift check, which reuses this
    inspect; they hold environment values, so they never go into a result)."""
    rc, out, errout = run([docker, "ps", "--all", "--no-trunc", "--filter", "label=com.docker.compose.project",
                           "--format", '{{.ID}} {{.Label "com.docker.compose.project"}}'])
    if rc != 0:
        raise RuntimeError(errout.strip() or "docker ps failed")
    wanted = set(projects)
    ids = [line.split()[0] for line in out.splitlines() if len(line.split()) == 2 and line.split()[1] in wanted]
    found: dict[str, list[dict]] = {p: [] for p in projects}
    if ids:
        for inspect in _docker_json(run, [docker, "inspect", *ids]):
            facts = container_facts(inspect)
            found.setdefault(facts["project"], []).append(facts)
            if raw is not None:
                raw.setdefault(facts["project"], []).append(inspect)
    for items in found.values():
        items.sort(key=lambda c: c["name"])
    return found


def log_tail(run, container: str, lines: int, docker: str = "docker") -> list[str]:
    dummy, out, errout = run([docker, "logs", "--tail", str(lines), container])
    text = (out or "") + (errout or "")
    return [line for line in text.splitlines() if line.strip()][-lines:]


def run_probe(run, probe: dict, target: dict | None, docker: str = "docker") -> tuple[bool, str]:
    """One probe attempt against a service's target container."""
    kind = probe.get("type", "http")
    if kind not in PROBE_TYPES or kind == "all":
        return False, f"unknown probe type '{kind}'"
    if target is None:
        return False, "probe target container not found"
    if kind == "docker":
        health = target.get("health")
        return health == "healthy", f"docker health: {health or 'no HEALTHCHECK in image'}"
    if kind == "command":
        env = []
        for key, value in sorted((probe.get("env") or {}).items()):
            env += ["-e", f"{key}={value}"]
        rc, out, errout = run([docker, "exec", *env, target["name"], *probe["command"]])
        expect = probe.get("expect_output")
        text = (out or "").strip()
        if rc != 0:
            said = (errout or out or "").strip()[:160] or "no output"
            return False, f"{' '.join(probe['command'][:2])} exited {rc}: {said}"
        if expect and expect not in text:
            return False, f"output {text[:80]!r} lacks {expect!r}"
        return True, text[:80] or "exit 0"
    address = probe.get("host") or target.get("address")
    if not address and not probe.get("url"):
        return False, f"{target['name']} has no network address yet"
    if kind == "tcp":
        return tcp_probe(address, probe["port"])
    return http_probe(probe, address)


def probe_targets(run, svc: dict, containers: list[dict], docker: str = "docker") -> tuple[bool, str]:
    """Run a service's probe; an `all` probe runs each of its probes against its own container."""
    probe = svc["probe"]
    parts = probe.get("probes") if probe.get("type") == "all" else [dict(probe, target=svc.get("target") or svc["name"])]
    details = []
    for part in parts or []:
        target = next((c for c in containers if c["service"] == part.get("target")), None)
        ok, detail = run_probe(run, part, target, docker)
        if not ok:
            return False, f"{part.get('target')}: {detail}" if len(parts) > 1 else detail
        details.append(f"{part.get('target')}: {detail}" if len(parts) > 1 else detail)
    return bool(parts), "; ".join(details) or "no probes"


def probe_services(run, services: list[dict], baseline: dict[str, int] | None = None,
                   log_lines: int = 20, docker: str = "docker", raw: dict | None = None) -> dict[str, dict]:
    """One round: for each service {name, project, probe, target}, its verdict and facts.

    verdict: ready | waiting | crash_loop | engine_restarted. Log lines are collected for crash loops, and for a
    waiting service that asks for them (`with_logs`). `raw`: see project_containers().
    """
    by_project = project_containers(run, sorted({s["project"] for s in services}), docker, raw)
    engine_started = engine_started_at()
    results = {}
    for svc in services:
        containers = by_project.get(svc["project"], [])
        verdict, detail = assess(containers, baseline, engine_started)
        entry = {"containers": containers, "engine_started": engine_started}
        if verdict == "engine_restarted":
            entry.update(verdict=verdict, detail=detail)
        elif verdict == "crash_loop":
            bad = next((c for c in containers if detail.startswith(c["name"])), containers[0])
            entry.update(verdict="crash_loop", detail=detail, logs=log_tail(run, bad["name"], log_lines, docker))
        elif verdict == "missing":
            entry.update(verdict="waiting", detail=detail)
        else:
            ok, detail = probe_targets(run, svc, containers, docker)
            entry.update(verdict="ready" if ok else "waiting", detail=detail)
            if not ok and svc.get("with_logs") and containers:
                # asked for now and then during a wait: a refused login often shows only in the log
                entry["logs"] = log_tail(run, containers[0]["name"], log_lines, docker)
        results[svc["name"]] = entry
    return results
