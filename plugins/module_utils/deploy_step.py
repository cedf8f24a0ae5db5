# Private to aiplatform.stack: not a public API, it may change in any release (README, "Layout").
"""One round trip of a host's deploy: everything the scheduler needs from the host at one moment, done together.

A request may ask, in this order: `check` projects (validate, compare hashes, probe the unchanged ones), `stop` or
roll back (`previous`) projects, bring projects `up` (in parallel threads), `probe` services, probe `remote`
endpoints of dependencies on other hosts, make the application `databases` (once PostgreSQL answers), set up the
applications' first administrators (`admins`, each once its application answers), register the applications'
LiteLLM virtual keys (`virtual_keys`, once LiteLLM answers), and check the `wiring` of
services from inside their network namespaces. The scheduler on the controller decides what comes next;
the one wait here is `poll`: a step that only probes may keep probing on the host (a probe costs milliseconds
here, a round trip from the controller a few hundred) until one of its services or dependencies changes, so a
service is seen ready within a second of answering.
"""
from __future__ import annotations

import json
import random
import socket
import time
from concurrent.futures import ThreadPoolExecutor
from urllib.error import URLError

from ansible.module_utils.urls import open_url

from . import app_databases, drift, first_admin, litellm_keys, pg_login, run_lock, runner, step_protocol
from . import errors as err
from .compose import ComposeError
from .connectivity import in_netns
from .model_pull import missing
from .probes import http_probe, log_tail, probe_services, tcp_probe
from .project import ProjectDeployer


def _present(p: step_protocol.ProjectSpec, pull: str, networks: list[str], check_mode: bool, run) -> step_protocol.ProjectResult:
    # the link networks its compose file joins (parsed on the controller), made when missing before `up`
    networks = sorted(set(networks) | set((p.get("model") or {}).get("external_networks") or []))
    try:
        deployer = ProjectDeployer(run, p["project_src"], p["project_name"], check_mode=check_mode)
        return deployer.present(p.get("files") or {}, pull=pull, networks=networks,
                                recreate_services=p.get("recreate_services"), validated=p.get("validated"))
    except ComposeError as exc:
        return dict(exc.info, failed=True, changed=False)
    except (OSError, ValueError) as exc:
        return {"failed": True, "changed": False, "category": err.CONFIG, "cause": str(exc),
                "advice": err.ADVICE[err.CONFIG]}


def _check_or_start(p: step_protocol.ProjectSpec, pull: str, networks: list[str], check_mode: bool, run) -> step_protocol.ProjectResult:
    """The check of one project; one that asks to be started and whose files changed is brought up in the same call
    (`brought_up`), with what the check validated. One changed only in its containers (stopped, removed, labelled
    by hand) is left to the drift check of this step, which says what differs before the up step puts it back."""
    r = _present(p, pull, networks, True, run)
    if p.get("start_if_changed") and not check_mode and r.get("changed_files") and not r.get("failed"):
        up = _present(dict(p, validated=r.get("validated")), pull, networks, False, run)
        r = up if up.get("failed") else dict(up, brought_up=True)
    return r


def _simple(p: step_protocol.ProjectSpec, state: str, run) -> step_protocol.ProjectResult:
    try:
        deployer = ProjectDeployer(run, p["project_src"], p["project_name"])
        return deployer.previous() if state == "previous" else deployer.stopped()
    except ComposeError as exc:
        return dict(exc.info, failed=True, changed=False)


def probe_remote(dep: step_protocol.RemoteSpec) -> step_protocol.RemoteResult:
    """A dependency on another host, probed at its published endpoint from here.

    PostgreSQL is ready for its consumers here when each can log in to its own database (`logins`).
    """
    probe = dep.get("probe") or {}
    if dep.get("logins"):
        for item in dep["logins"]:
            try:
                pg_login.login(dep["host"], dep["port"], item["user"], item["password"], item["database"])
            except (pg_login.LoginError, OSError) as exc:
                return {"verdict": "waiting", "detail": f"{dep['host']}:{dep['port']} {item['database']} as "
                                                        f"{item['user']}: {exc}"}
        return {"verdict": "ready", "detail": f"{dep['host']}:{dep['port']}: " + ", ".join(
            f"{i['user']} logged in to {i['database']}" for i in dep["logins"])}
    if probe.get("type") in ("postgres", "redis"):
        try:
            ok, detail = (pg_login.ping if probe["type"] == "postgres" else redis_ping)(dep["host"], dep["port"])
        except (OSError, pg_login.LoginError) as exc:
            ok, detail = False, str(exc)
    elif probe.get("type") == "http":
        host = f"[{dep['host']}]" if ":" in dep["host"] else dep["host"]  # an IPv6 address in a URL
        ok, detail = http_probe(dict(probe, port=dep["port"], url=None), host)
    else:
        ok, detail = tcp_probe(dep["host"], dep["port"])
    return {"verdict": "ready" if ok else "waiting", "detail": f"{dep['host']}:{dep['port']} {detail}"}


def models_missing(probe: step_protocol.ProbeResult, spec: step_protocol.ModelsSpec) -> list[str] | None:
    """The models among spec's `names` that Ollama does not list; None when it cannot be asked."""
    address = next((c.get("address") for c in probe.get("containers") or [] if c.get("address")), None)
    if not address or not spec.get("names"):
        return None if not address else []
    try:
        tags = json.loads(open_url(f"http://{address}:{spec['port']}/api/tags", timeout=5, use_proxy=False).read())
    except (URLError, OSError, ValueError):
        return None
    return missing(list(spec["names"]), tags)


def container_address(probe: step_protocol.ProbeResult, target: str) -> str | None:
    """The address of the probed container of compose service `target` on its network."""
    return next((c.get("address") for c in probe.get("containers") or []
                 if c.get("service") == target and c.get("address")), None)


def _at_container(ensure, what: str, spec: dict, probe: step_protocol.ProbeResult, check_mode: bool) -> dict:
    """ensure(spec, url, check_mode, wait) at the address of the spec's target container, as the probe found it."""
    target = spec.get("target") or spec["service"]
    address = container_address(probe, target)
    if not address:
        return {"ok": False, "changed": False, "category": err.UNKNOWN,
                "cause": f"{what}: container {target} has no network address"}
    return ensure(spec, f"http://{address}:{spec['port']}", check_mode, float(spec.get("wait", 30)))


def claim_admin(spec: step_protocol.AdminSpec, probe: step_protocol.ProbeResult, check_mode: bool) -> step_protocol.AdminResult:
    """The first administrator of one application (module_utils/first_admin.py), at its container's address."""
    return _at_container(first_admin.ensure, "setup of the first administrator", spec, probe, check_mode)


def register_keys(spec: step_protocol.VirtualKeysSpec, probe: step_protocol.ProbeResult, check_mode: bool) -> step_protocol.KeysResult:
    """The applications' LiteLLM virtual keys (module_utils/litellm_keys.py), at LiteLLM's container address."""
    return _at_container(litellm_keys.ensure, "virtual keys", spec, probe, check_mode)


def redis_ping(host: str, port: int, timeout: float = 3.0) -> tuple[bool, str]:
    """Is Redis serving? PONG, or a demand for a password, means yes; LOADING (reading its data back) means no."""
    with socket.create_connection((host, int(port)), timeout=timeout) as sock:
        sock.settimeout(timeout)
        sock.sendall(b"PING\r\n")
        line = sock.recv(256).split(b"\r\n", 1)[0].decode("utf-8", "replace")
    return line == "+PONG" or line.startswith("-NOAUTH"), line or "no answer"


def wiring(run, svc: step_protocol.WiringSpec) -> dict[str, step_protocol.LinkCheck]:
    """{dependency: {ok, address, detail}} for one service's links, from inside its network namespace."""
    rc, out, dummy = run(["docker", "inspect", "-f", "{{.State.Pid}}", svc["container"]])
    pid = int(out.strip() or 0) if rc == 0 else 0
    endpoints = svc["endpoints"]
    if not pid:
        checks = [{"ok": False, "address": f"{e['host']}:{e['port']}", "detail": f"{svc['container']} is not running"}
                  for e in endpoints]
    else:
        try:
            checks = in_netns(pid, [(e["host"], int(e["port"])) for e in endpoints])
        except OSError as exc:
            checks = [{"ok": False, "address": f"{e['host']}:{e['port']}",
                       "detail": f"cannot enter the network of {svc['container']}: {exc}"} for e in endpoints]
    return {e["name"]: found for e, found in zip(endpoints, checks)}


def run_step(request: step_protocol.StepRequest, check_mode: bool = False, run=runner.run) -> step_protocol.StepResult:
    """Do what `request` asks (see the module docstring); returns a result per part and per service."""
    pull = request.get("pull", "missing")
    networks = list(request.get("networks") or [])
    parallel = max(1, int(request.get("parallel", 8)))
    out: step_protocol.StepResult = {}

    def pool_map(fn, items):
        if not items:
            return []
        with ThreadPoolExecutor(max_workers=min(parallel, len(items))) as pool:
            return list(pool.map(fn, items))

    checks = request.get("check") or []
    # check: what would change (files validated on a staged copy, hashes against the running containers); a project
    # marked start_if_changed (it needs nothing that is not healthy yet) is brought up at once when it changed
    found = pool_map(lambda p: _check_or_start(p, pull, networks, check_mode, run), checks)
    out["check"] = {p["service"]: dict(r, changed=bool(r.get("changed"))) for p, r in zip(checks, found)}
    judged = [p for p in checks if not out["check"][p["service"]].get("brought_up")]
    if not check_mode:
        for state in ("stop", "previous"):
            items = request.get(state) or []
            out[state] = {p["service"]: r for p, r in zip(items, pool_map(lambda p, s=state: _simple(p, s, run), items))}
        ups = request.get("up") or []
        out["up"] = {p["service"]: r for p, r in zip(ups, pool_map(lambda p: _present(p, pull, networks, False, run), ups))}

    # probes: the services asked for, and the unchanged ones of the check (ready ones need no wait)
    wanted = list(request.get("probe") or [])
    # (and those changed without a changed file: their containers are inspected for the drift check)
    wanted += [{"name": p["service"], "project": p["project_name"], "probe": p["probe"], "target": p.get("target")}
               for p in judged if p.get("probe") and not out["check"][p["service"]].get("failed")
               and (not out["check"][p["service"]]["changed"] or drift.relabelled(out["check"][p["service"]]))]
    out["probe"] = {}
    inspected: dict = {}  # the probe's inspect documents, reused by the drift check (they stay on the host)
    if wanted:
        try:
            out["probe"] = probe_services(run, wanted, request.get("baseline") or {}, int(request.get("log_lines", 20)),
                                          raw=inspected)
        except RuntimeError as exc:
            out["probe"] = engine_down(wanted, exc)
    _judge_drift(run, judged, out, inspected, check_mode)
    remote = request.get("remote") or []
    out["remote"] = {d["name"]: r for d, r in zip(remote, pool_map(probe_remote, remote))}
    if request.get("poll") and (wanted or remote):
        out["polls"] = poll(run, request, out, pool_map)

    def ready(name: str) -> bool:
        return (out["probe"].get(name) or {}).get("verdict") == "ready"

    dbs = request.get("databases")
    if dbs and (not dbs.get("when_ready") or ready(dbs["when_ready"])):
        try:
            changes = app_databases.ensure(lambda argv, data: run(argv, data=data), dbs["container"],
                                           dbs.get("admin_user", "postgres"), dbs["databases"], check_mode)
            out["databases"] = {"ok": True, "changes": changes}
        except app_databases.DatabaseError as exc:
            out["databases"] = {"ok": False, "category": exc.category, "cause": str(exc)}
    # first administrators of the applications that answered in this step (in parallel: each may wait a little)
    admins = [a for a in request.get("admins") or [] if ready(a["service"])]
    out["admins"] = {a["service"]: r for a, r in
                     zip(admins, pool_map(lambda a: claim_admin(a, out["probe"][a["service"]], check_mode), admins))}
    # the applications' LiteLLM keys, once LiteLLM answers (before it counts healthy, so they start with them)
    keys = [k for k in request.get("virtual_keys") or [] if ready(k["service"])]
    out["virtual_keys"] = {k["service"]: register_keys(k, out["probe"][k["service"]], check_mode) for k in keys}
    # models of the services that answered: only what is missing is left for the (slow, progress-reporting) pull step
    out["models"] = {}
    for m in request.get("models") or []:
        if ready(m["service"]):
            have = models_missing(out["probe"][m["service"]], m)
            if have is not None:
                out["models"][m["service"]] = have
    # wiring only of what runs: a service given with if_ready is checked when its probe of this step said ready
    out["wiring"] = {w["name"]: wiring(run, w) for w in request.get("wiring") or []
                     if not w.get("if_ready") or ready(w["name"])}
    started = [(p, out["up"][p["service"]]) for p in ([] if check_mode else request.get("up") or [])]
    started += [(p, out["check"][p["service"]]) for p in checks if out["check"][p["service"]].get("brought_up")]
    for p, r in started:
        if not r.get("failed"):  # the specs of what now runs, for status.yml
            drift.remember(p["project_src"], r.get("config_hash"), p.get("model"))
    lock = request.get("release_lock_if_settled")
    if lock and not check_mode and settled(request, out):
        out["lock_released"] = run_lock.release(lock["dir"], lock["run"])
    return out


def poll(run, request: step_protocol.StepRequest, out: dict, pool_map, clock=time.monotonic, sleep=time.sleep, rng=random) -> int:
    """Probe again while every answer in `out` is "waiting", for at most `poll.seconds`; returns the rounds made.

    The pause between rounds grows from `base` to `cap` (exponential, full jitter, never under 0.1 s). Restart
    counts keep the baseline of the first round, so a container that restarts meanwhile is a crash loop.
    """
    spec = request["poll"]
    end = clock() + float(spec.get("seconds", 5))
    base, cap = float(spec.get("base", 0.25)), float(spec.get("cap", 1.0))
    wanted = [dict(s, with_logs=False) for s in request.get("probe") or []]
    remote = request.get("remote") or []
    baseline = dict(request.get("baseline") or {})
    rounds = 0
    while _all_waiting(out):
        delay = max(0.1, rng.uniform(0.0, min(cap, base * 2 ** rounds)))
        if clock() + delay > end:
            break
        sleep(delay)
        rounds += 1
        for r in out["probe"].values():
            for c in r.get("containers") or []:
                baseline.setdefault(c["name"], c["restart_count"])
        if wanted:
            try:
                out["probe"] = probe_services(run, wanted, baseline, int(request.get("log_lines", 20)))
            except RuntimeError as exc:
                out["probe"] = engine_down(wanted, exc)
        if remote:
            out["remote"] = {d["name"]: r for d, r in zip(remote, pool_map(probe_remote, remote))}
    if rounds and _all_waiting(out):
        # the log tail asked for (refused logins show there), once, from the last round
        for s in request.get("probe") or []:
            r = out["probe"].get(s["name"]) or {}
            if s.get("with_logs") and r.get("containers") and not r.get("logs"):
                r["logs"] = log_tail(run, r["containers"][0]["name"], int(request.get("log_lines", 20)))
    return rounds


def engine_down(wanted: list[step_protocol.ProbeSpec], exc: Exception) -> dict[str, step_protocol.ProbeResult]:
    """Every asked-for service "waiting" because the engine did not answer (the scheduler gives it a grace)."""
    return {s["name"]: {"verdict": "waiting", "detail": f"the Docker engine does not answer: {exc}",
                        "engine_down": True} for s in wanted}


def _all_waiting(out: step_protocol.StepResult) -> bool:
    return all(r.get("verdict") == "waiting" for part in ("probe", "remote") for r in out[part].values())


def _judge_drift(run, checks: list[step_protocol.ProjectSpec], out: step_protocol.StepResult, inspected: dict, check_mode: bool) -> None:
    """Unchanged projects whose containers drifted count as changed (the up step recreates them); their probe
    answer is dropped, so nothing later in this step takes them for settled."""
    try:
        drifted = drift.check_step(run, checks, out["check"], inspected)
    except (OSError, ValueError, KeyError) as exc:  # a check that cannot judge must not fail the deploy
        out.setdefault("warnings", []).append(f"drift check skipped: {exc}")
        drifted = {}
    for p in checks:
        r = out["check"][p["service"]]
        if p["service"] in drifted:
            diffs = drifted[p["service"]]
            r.update(drift.result_for(p["service"], diffs),
                     diff=list(r.get("diff") or []) + [drift.diff_entry(p["service"], diffs)])
            out["probe"].pop(p["service"], None)
        elif not check_mode and not r.get("failed") and not r.get("changed"):
            drift.remember(p["project_src"], r.get("config_hash"), p.get("model"))  # known good: for status.yml


def settled(request: step_protocol.StepRequest, out: step_protocol.StepResult) -> bool:
    """Nothing left to do after this step: nothing started or stopped, every project unchanged and every service
    asked for answering, databases, administrators, keys, wiring, models and remote dependencies fine."""
    if any(request.get(part) for part in ("up", "stop", "previous")):
        return False
    checks = [out["check"].get(p["service"]) or {} for p in request.get("check") or []]
    if any(c.get("failed") or c.get("changed") for c in checks):
        return False
    asked = [p["service"] for p in request.get("check") or []] + [s["name"] for s in request.get("probe") or []]
    if any((out["probe"].get(name) or {}).get("verdict") != "ready" for name in asked):
        return False
    if request.get("databases") and not (out.get("databases") or {}).get("ok"):
        return False
    if any(not r.get("ok") for part in ("admins", "virtual_keys") for r in (out.get(part) or {}).values()):
        return False
    if any(not c.get("ok") for checks_ in out["wiring"].values() for c in checks_.values()):
        return False
    if any(out["models"].get(m["service"]) != [] for m in request.get("models") or []):
        return False
    return all(r.get("verdict") == "ready" for r in out["remote"].values())
