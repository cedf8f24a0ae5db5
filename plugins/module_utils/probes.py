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

import json
import socket

from ansible.module_utils.six.moves.urllib.error import HTTPError, URLError
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


def assess(containers: list[dict], baseline: dict[str, int] | None = None) -> tuple[str, str]:
    """Judge a service's containers while waiting for it.

    Returns (verdict, detail): verdict is "ok" (all running, or one-shot jobs done), "crash_loop" (a container
    exited, is restarting, or restarted since `baseline`), or "missing".
    `baseline` maps container name -> restart count when the wait began.
    """
    if not containers:
        return "missing", "no container"
    baseline = baseline or {}
    for c in containers:
        if c["oneshot"] and c["status"] == "exited" and c["exit_code"] == 0:
            continue
        restarts = c["restart_count"] - baseline.get(c["name"], c["restart_count"])
        if c["status"] == "restarting":
            return "crash_loop", f"{c['name']} restarting (exit code {c['exit_code']}, {c['restart_count']} restarts)"
        if restarts > 0:
            return "crash_loop", f"{c['name']} restarted {restarts} time(s) during the wait ({c['restart_count']} in all)"
        if c["status"] in ("exited", "dead"):
            why = " (out of memory)" if c["oom_killed"] else ""
            return "crash_loop", f"{c['name']} exited with code {c['exit_code']}{why}"
        if not c["running"]:
            return "missing", f"{c['name']} is {c['status']}"
    return "ok", "running"


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

    verdict: ready | waiting | crash_loop. Log lines are collected for crash loops, and for a waiting service that
    asks for them (`with_logs`). `raw`: see project_containers().
    """
    by_project = project_containers(run, sorted({s["project"] for s in services}), docker, raw)
    results = {}
    for svc in services:
        containers = by_project.get(svc["project"], [])
        verdict, detail = assess(containers, baseline)
        entry = {"containers": containers}
        if verdict == "crash_loop":
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
