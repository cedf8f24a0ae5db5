# Private to aiplatform.stack: not a public API, it may change in any release (README, "Layout").
"""Orphans: what the platform left on a host for services the inventory no longer enables there.

Everything on a host that carries the platform's labels (containers, volumes, networks) and every project directory
under the base directory is compared with the services the inventory enables on that host. Three engine calls in all
(`docker ps`, `docker volume ls`, `docker network ls`, each filtered by label), then pure functions; `run` is
runner.run-like (argv) -> (rc, out, err), so everything is tested with recorded outputs and no engine.
Only the platform's own projects count: containers labelled `aiplatform.stack.service` (every template sets it) in a
compose project named `aiplatform-<service>`; other compose projects on the host are never looked at.
"""
from __future__ import annotations

import json
import os
import shutil
from concurrent.futures import ThreadPoolExecutor

from . import errors as err
from . import events as ev
from .compose import COMPOSE_FILE

PROJECT_PREFIX = "aiplatform-"  # every service's compose project is aiplatform-<name> (catalog.py, the role vars)
PROJECT_LABEL = "com.docker.compose.project"
SERVICE_LABEL = "aiplatform.stack.service"
NETWORK_LABEL = "aiplatform.stack.network"
REMOVE_HINT = "remove with playbooks/teardown.yml -e aiplatform_remove_orphans=true (volumes only with aiplatform_purge)"


class ScanError(RuntimeError):
    """The engine did not answer a listing; the message names the command."""


def scan_commands(docker: str = "docker") -> dict[str, list[str]]:
    """The three listings, one JSON object per line (`{{json .}}` works on every engine from 20.10 on)."""
    return {
        "containers": [docker, "ps", "--all", "--no-trunc", "--filter", f"label={SERVICE_LABEL}",
                       "--format", "{{json .}}"],
        "volumes": [docker, "volume", "ls", "--filter", f"label={PROJECT_LABEL}", "--format", "{{json .}}"],
        "networks": [docker, "network", "ls", "--filter", f"label={NETWORK_LABEL}=true", "--format", "{{json .}}"],
    }


def parse_lines(text: str) -> list[dict]:
    """`--format '{{json .}}'` output: one object per line (a JSON array is accepted too)."""
    text = (text or "").strip()
    if not text:
        return []
    if text.startswith("["):
        return [o for o in json.loads(text) if isinstance(o, dict)]
    return [o for o in (json.loads(line) for line in text.splitlines() if line.strip()) if isinstance(o, dict)]


def labels_of(item: dict) -> dict[str, str]:
    """Labels of a listing row: the CLI joins them as `k=v,k=v`; a dict is taken as it is."""
    labels = item.get("Labels") or {}
    if isinstance(labels, dict):
        return dict(labels)
    out = {}
    for part in str(labels).split(","):
        key, sep, value = part.partition("=")
        if sep:
            out[key] = value
    return out


def _split(text: str) -> list[str]:
    return sorted({p.strip() for p in str(text or "").split(",") if p.strip()})


def project_dirs(base_dir: str) -> dict[str, str]:
    """{service: directory} of the compose projects below `base_dir` (a directory holding compose.yml)."""
    out = {}
    try:
        names = sorted(os.listdir(base_dir))
    except OSError:
        return out
    for name in names:
        path = os.path.join(base_dir, name)
        if not name.startswith(".") and os.path.isfile(os.path.join(path, COMPOSE_FILE)):
            out[name] = path
    return out


def find_orphans(containers: list[dict], volumes: list[dict], networks: list[dict], dirs: dict[str, str],
                 enabled: list[str], wanted_networks: list[str] | None = None) -> dict:
    """Compare what the engine and the base directory hold with the services `enabled` on this host.

    `wanted_networks`: the link networks the enabled services need here (catalog.link_network_names); every other
    network with the platform's label is spare (a link no longer declared, or the one shared network of releases
    before 0.3). Returns {services: [{service, project, containers: [{name, state, status, image}], ports, volumes,
    networks, project_dir}], networks: [platform networks nothing enabled here needs]} (services sorted by name).
    """
    wanted = set(enabled)
    found: dict[str, dict] = {}

    def entry(service: str, project: str = "") -> dict:
        return found.setdefault(service, {"service": service, "project": project or PROJECT_PREFIX + service,
                                          "containers": [], "ports": [], "volumes": [], "networks": [],
                                          "project_dir": None})

    service_of_project: dict[str, str] = {}
    for c in containers:
        labels = labels_of(c)
        project, service = labels.get(PROJECT_LABEL, ""), labels.get(SERVICE_LABEL, "")
        if not project.startswith(PROJECT_PREFIX) or not service:
            continue  # not one of the platform's projects
        service_of_project[project] = service
        if service in wanted:
            continue
        e = entry(service, project)
        e["containers"].append({"name": str(c.get("Names", "")).split(",", maxsplit=1)[0], "state": c.get("State", ""),
                                "status": c.get("Status", ""), "image": c.get("Image", "")})
        e["ports"] = sorted(set(e["ports"]) | set(_split(c.get("Ports"))))
        e["networks"] = sorted(set(e["networks"]) | set(_split(c.get("Networks"))))
    for v in volumes:
        project = labels_of(v).get(PROJECT_LABEL, "")
        if not project.startswith(PROJECT_PREFIX):
            continue
        service = service_of_project.get(project, project[len(PROJECT_PREFIX):])
        if service and service not in wanted:
            entry(service, project)["volumes"].append(v.get("Name", ""))
    for service, path in dirs.items():
        if service not in wanted:
            entry(service)["project_dir"] = path
    for e in found.values():
        e["containers"].sort(key=lambda c: c["name"])
        e["volumes"].sort()
    keep = set(wanted_networks or [])
    spare = sorted(n.get("Name", "") for n in networks
                   if labels_of(n).get(NETWORK_LABEL) == "true" and n.get("Name", "") not in keep)
    return {"services": [found[k] for k in sorted(found)], "networks": spare}


def scan(run, base_dir: str, enabled: list[str], docker: str = "docker", wanted_networks: list[str] | None = None) -> dict:
    """find_orphans() over this host's engine (three calls, at once) and `base_dir`; raises ScanError when the engine
    fails."""
    commands = scan_commands(docker)
    with ThreadPoolExecutor(max_workers=len(commands)) as pool:  # runner.run is thread-safe
        answers = dict(zip(commands, pool.map(run, commands.values())))
    listed = {}
    for what, argv in commands.items():
        rc, out, errout = answers[what]
        if rc != 0:
            raise ScanError(f"{' '.join(argv[:3])}: {(errout or '').strip() or f'exit code {rc}'}")
        try:
            listed[what] = parse_lines(out)
        except ValueError as exc:
            raise ScanError(f"{' '.join(argv[:3])}: output is not JSON lines: {exc}") from None
    return find_orphans(listed["containers"], listed["volumes"], listed["networks"], project_dirs(base_dir), enabled,
                        wanted_networks)


def holdings(orphan: dict) -> str:
    """What an orphan still holds, in one line."""
    parts = []
    if orphan["containers"]:
        parts.append("containers " + ", ".join(f"{c['name']} ({c['state'] or c['status']})" for c in orphan["containers"]))
    if orphan["ports"]:
        parts.append("ports " + ", ".join(orphan["ports"]))
    if orphan["volumes"]:
        parts.append("volumes " + ", ".join(orphan["volumes"]))
    if orphan["project_dir"]:
        parts.append("directory " + orphan["project_dir"])
    return "; ".join(parts) or "nothing"


def orphan_events(found: dict, host: str = "") -> list[dict]:
    """One ORPHANED warning per orphaned service, one for spare platform networks."""
    out = [ev.make_event(ev.ORPHANED, o["service"], f"not enabled on this host by the inventory, still holds: "
                         f"{holdings(o)}; {REMOVE_HINT}", host=host or None, orphan=o) for o in found["services"]]
    if found.get("networks"):
        out.append(ev.make_event(ev.ORPHANED, "host", "platform networks no service enabled on this host needs: "
                                 + ", ".join(found["networks"]) + "; remove with playbooks/teardown.yml "
                                 "-e aiplatform_remove_orphans=true -e aiplatform_orphans_only=true",
                                 host=host or None, networks=found["networks"]))
    return out


def remove(run, found: dict, remove_volumes: bool = False, check_mode: bool = False, docker: str = "docker") -> dict:
    """Remove the orphans' containers (one call); with `remove_volumes` also their volumes and project directories.

    Then the spare platform networks (found["networks"]): one still in use (a container of another project joined
    it) is kept and named in `kept_networks`. Returns {changed, removed: {containers, volumes, project_dirs,
    networks}, kept_networks} or the same with failed, category, cause.
    """
    orphans = found.get("services") or []
    names = [c["name"] for o in orphans for c in o["containers"]]
    volumes = [v for o in orphans for v in o["volumes"]] if remove_volumes else []
    dirs = [o["project_dir"] for o in orphans if o["project_dir"]] if remove_volumes else []
    spare = list(found.get("networks") or [])
    removed = {"containers": names, "volumes": volumes, "project_dirs": dirs, "networks": spare}
    if check_mode or not (names or volumes or dirs or spare):
        return {"changed": bool(names or volumes or dirs or spare), "removed": removed, "kept_networks": []}
    for argv in ([docker, "rm", "--force", *names] if names else None,
                 [docker, "volume", "rm", *volumes] if volumes else None):
        if argv is None:
            continue
        rc, dummy, errout = run(argv)
        if rc != 0:
            category = err.classify(errout)
            return {"changed": True, "failed": True, "removed": dict(removed, networks=[]), "kept_networks": spare,
                    "category": err.ENGINE if category == err.UNKNOWN else category,
                    "cause": f"{' '.join(argv[:3])}: {(errout or '').strip()}"}
    for path in dirs:
        shutil.rmtree(path, ignore_errors=True)
    gone, kept = remove_networks(run, spare, docker)
    removed["networks"] = gone
    return {"changed": bool(names or volumes or dirs or gone), "removed": removed, "kept_networks": kept}


def remove_networks(run, names: list[str], docker: str = "docker") -> tuple[list[str], list[str]]:
    """`docker network rm` each of `names`; (removed, kept: still in use or refused)."""
    gone, kept = [], []
    for name in names:
        rc, dummy, errout = run([docker, "network", "rm", name])
        if rc == 0 or "not found" in (errout or ""):
            gone.append(name)
        else:
            kept.append(name)
    return gone, kept
