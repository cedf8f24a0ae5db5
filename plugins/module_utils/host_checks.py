# Private to aiplatform.stack: not a public API, it may change in any release (README, "Layout").
"""Prechecks on a Docker host before anything changes: engine, disk, published ports.

Port owners are read from /proc (no ss/lsof needed): /proc/net/tcp{,6} for listening sockets, /proc/<pid>/fd for
the process that holds a socket. A port held by the service's own running container is not a conflict.
"""
from __future__ import annotations

import json
import os
import re
import socket
import struct

from . import errors as err
from . import events as ev
from . import runner

TCP_LISTEN = "0A"
# `docker compose --progress json` (the event stream project.py parses) arrived in Compose 2.29.
MIN_COMPOSE = (2, 29, 0)
DOCKER_HOST_SCHEMES = ("unix://", "tcp://", "ssh://", "npipe://", "fd://")


def compose_version(text: str) -> tuple[int, int, int] | None:
    """(major, minor, patch) of `docker compose version --short` output ("2.40.3", "v2.29.1-desktop.1")."""
    m = re.search(r"(\d+)\.(\d+)(?:\.(\d+))?", text or "")
    return (int(m.group(1)), int(m.group(2)), int(m.group(3) or 0)) if m else None


def compose_problem(text: str, minimum: tuple[int, int, int] = MIN_COMPOSE) -> str | None:
    """None when the Compose plugin is new enough, else what is wrong and what to do."""
    version = compose_version(text)
    need = ".".join(map(str, minimum[:2]))
    if version is None:
        return f"cannot read the Docker Compose version from {text.strip()!r}; the platform needs Compose {need} or newer"
    if version < minimum:
        return (f"Docker Compose {'.'.join(map(str, version))} is too old: the platform needs {need} or newer (it reads "
                f"compose's JSON progress stream, --progress json); install a newer Compose v2 plugin "
                f"(docker-compose-plugin, or the static binary in /usr/local/lib/docker/cli-plugins)")
    return None


def docker_host_problem(docker_host: str | None) -> str | None:
    """None for an empty or well-formed DOCKER_HOST value (unix://, tcp://, ssh://, npipe://, fd://)."""
    if not docker_host or docker_host.startswith(DOCKER_HOST_SCHEMES):
        return None
    return f"docker_host {docker_host!r} must start with one of {', '.join(DOCKER_HOST_SCHEMES)}"


def use_docker_host(docker_host: str | None, environ=None) -> None:
    """Every docker call of this module (run_command and subprocesses inherit the environment) reaches that engine."""
    if docker_host:
        (os.environ if environ is None else environ)["DOCKER_HOST"] = docker_host


def _hex_ip(text: str) -> str:
    raw = bytes.fromhex(text)
    if len(raw) == 4:
        return socket.inet_ntop(socket.AF_INET, struct.pack("<I", int(text, 16)))
    words = struct.unpack("<4I", raw)  # each 32-bit word is in host (little-endian) order
    return socket.inet_ntop(socket.AF_INET6, struct.pack(">4I", *words))


def parse_proc_net_tcp(text: str) -> list[dict]:
    """Listening sockets of a /proc/net/tcp or tcp6 table: [{ip, port, inode}]."""
    out = []
    for line in text.splitlines()[1:]:
        parts = line.split()
        if len(parts) < 10 or parts[3] != TCP_LISTEN:
            continue
        ip_hex, port_hex = parts[1].split(":")
        out.append({"ip": _hex_ip(ip_hex), "port": int(port_hex, 16), "inode": parts[9]})
    return out


def listening(proc: str = "/proc") -> list[dict]:
    sockets = []
    for name in ("tcp", "tcp6"):
        try:
            with open(os.path.join(proc, "net", name)) as fh:
                sockets += parse_proc_net_tcp(fh.read())
        except OSError:
            continue
    return sockets


def owners(inodes: set[str], proc: str = "/proc") -> dict[str, dict]:
    """Process (pid, command) of each socket inode; sockets of processes we cannot read stay unknown."""
    found: dict[str, dict] = {}
    wanted = {f"socket:[{i}]" for i in inodes}
    for pid in os.listdir(proc):
        if not pid.isdigit():
            continue
        fd_dir = os.path.join(proc, pid, "fd")
        try:
            for fd in os.listdir(fd_dir):
                target = os.readlink(os.path.join(fd_dir, fd))
                if target in wanted:
                    with open(os.path.join(proc, pid, "cmdline"), "rb") as fh:
                        cmd = fh.read().replace(b"\0", b" ").decode("utf-8", "replace").strip()
                    found[target[8:-1]] = {"pid": int(pid), "command": cmd[:200]}
        except OSError:
            continue
        if len(found) == len(inodes):
            break
    return found


def _covers(bind: str, ip: str) -> bool:
    wild = ("0.0.0.0", "::")  # noqa: S104 (addresses compared, not bound)
    return bind in wild or ip in wild or bind == ip or (bind == "127.0.0.1" and ip == "::ffff:127.0.0.1")


def port_conflicts(wanted: list[dict], sockets: list[dict], published: dict[int, str], host: str) -> list[dict]:
    """Conflicts for wanted [{service, name, port, bind, container}].

    `published` maps host port -> name of the running container that publishes it. A port published by the
    service's own container is fine; one published by another container or held by a process is a conflict.
    """
    conflicts = []
    for w in wanted:
        port, bind = int(w["port"]), w.get("bind") or "0.0.0.0"  # noqa: S104 (an address compared, not bound)
        holder = published.get(port)
        if holder == w["container"]:
            continue
        taken = [s for s in sockets if s["port"] == port and _covers(bind, s["ip"])]
        if holder or taken:
            conflicts.append({"service": w["service"], "port": port, "bind": bind, "host": host,
                              "container": holder, "inodes": sorted({s["inode"] for s in taken})})
    return conflicts


def describe_conflict(c: dict, procs: dict[str, dict]) -> str:
    if c.get("container"):
        who = f"container {c['container']}"
    else:
        found = [procs[i] for i in c["inodes"] if i in procs]
        who = ", ".join(f"process {p['pid']} ({p['command']})" for p in found) or "a process this user cannot see"
    return (f"port {c['port']} on {c['host']} ({c['bind']}) wanted by {c['service']} is held by {who}; "
            f"stop that or set {c['service']}_published_port to a free port")


def disk_free_gb(path: str) -> float:
    while path and not os.path.exists(path):
        path = os.path.dirname(path)
    st = os.statvfs(path or "/")
    return st.f_bavail * st.f_frsize / 1024 ** 3


class _PrecheckError(Exception):
    def __init__(self, result: dict) -> None:
        super().__init__(result["msg"])
        self.result = result


def precheck(params: dict, run) -> dict:
    """Engine, Compose version, disk and published ports of this host, for `params` {ports, paths, min_disk_gb,
    docker_host}; run is runner.run. Returns {engine, conflicts, events} or the same with failed, msg, category."""
    host = socket.gethostname()
    events: list[dict] = []

    def fail(category, message, **extra):
        events.append(ev.make_event(ev.PRECHECK_FAIL, "host", message, category=category, host=host))
        raise _PrecheckError(dict(failed=True, msg=f"[{category}] {message}", category=category,
                                  advice=err.ADVICE[category], events=events, conflicts=[], **extra))

    try:
        problem = docker_host_problem(params.get("docker_host"))
        if problem:
            fail(err.CONFIG, problem)
        use_docker_host(params.get("docker_host"))
        rc, out, errout = run(["docker", "info", "--format", "{{json .}}"])
        if rc == runner.NOT_FOUND_RC:
            fail(err.PREREQUISITE, "the docker CLI is not installed on this host (no docker in PATH); install the "
                 "Docker engine (docker.io or docker-ce) and its Compose v2 plugin")
        if rc != 0:
            fail(err.COMMAND_TIMEOUT if rc == runner.TIMEOUT_RC else err.ENGINE,
                 "Docker engine not reachable: %s" % (errout.strip().splitlines() or ["no answer"])[-1])
        info = json.loads(out)
        if info.get("ServerErrors"):
            fail(err.ENGINE, "Docker engine not reachable: %s" % "; ".join(info["ServerErrors"]))
        rc, compose_version, errout = run(["docker", "compose", "version", "--short"])
        if rc != 0:
            fail(err.PREREQUISITE, "the Docker Compose v2 plugin is missing (docker compose version: %s)"
                 % ((errout.strip().splitlines() or ["no answer"])[-1]))
        problem = compose_problem(compose_version)
        if problem:
            fail(err.PREREQUISITE, problem, engine={"server": info.get("ServerVersion"), "compose": compose_version.strip()})
        # An NVIDIA runtime registered with the engine is what a GPU profile (Ollama) needs.
        engine = {"server": info.get("ServerVersion"), "compose": compose_version.strip(),
                  "root": info.get("DockerRootDir"), "gpu": "nvidia" in (info.get("Runtimes") or {})}
        for path in [engine["root"]] + list(params.get("paths") or []):
            free = disk_free_gb(path)
            if free < float(params.get("min_disk_gb", 2.0)):
                fail(err.DISK, "only %.1f GiB free for %s (need %.1f)" % (free, path, float(params.get("min_disk_gb", 2.0))),
                     engine=engine)
    except _PrecheckError as exc:
        return exc.result

    wanted = list(params.get("ports") or [])
    conflicts = []
    if wanted:
        rc, out, errout = run(["docker", "ps", "--format", "{{.Names}}\t{{.Ports}}"])
        published = {}
        for line in out.splitlines():
            name, dummy, ports = line.partition("\t")
            for item in ports.split(", "):
                if "->" in item:
                    port = item.split("->")[0].rsplit(":", 1)[-1]
                    if port.isdigit():
                        published[int(port)] = name
        found = port_conflicts(wanted, listening(), published, host)
        procs = owners({i for c in found for i in c["inodes"]}) if found else {}
        for c in found:
            message = describe_conflict(c, procs)
            conflicts.append(dict(c, message=message))
            events.append(ev.make_event(ev.PORT_CONFLICT, c["service"], message, category=err.PORT, host=host))
    if conflicts:
        return {"failed": True, "msg": "[port] " + "; ".join(c["message"] for c in conflicts), "category": err.PORT,
                "advice": err.ADVICE[err.PORT], "conflicts": conflicts, "events": events, "engine": engine}
    return {"engine": engine, "conflicts": [], "events": events}
