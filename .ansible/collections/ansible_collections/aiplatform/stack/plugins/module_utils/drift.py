# Private to aiplatform.stack: not a public API, it may change in any release (README, "Layout").
"""Drift: a running container compared with what the pipeline deploys for it.

Compared per container: image, the platform's config-hash label, environment keys (values only by digest, never
shown), mounts (type, source, target), published ports (host ip, host port, container port), networks and restart
policy - what kolla-ansible's check-containers compares, for containers changed behind the platform's back (recreated
by hand with another image, environment or port) that the config-hash label alone does not reveal.

The expected side starts from the rendered compose file, parsed on the controller (hosts need no YAML library) into
`service_specs()`; the host resolves env files and relative bind sources (`expected()`). The found side is `docker
inspect` output (`found()`). The specs each deploy sent are kept beside the project (`remember()`, keyed by config
hash, so a rollback finds its own) for status.yml, which renders nothing. Pure functions except `image_envs()` and
`load_models()`/`remember()`; `run` is runner.run-like.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile

from .compose import HASH_LABEL, ONESHOT_LABEL
from .project_files import existing_files, files_hash, plan_files

MODELS_FILE = ".aiplatform-models.json"  # a dot file: not part of the project's files, its hash or its rollback copy
KEEP_MODELS = 3
NONE = "(none)"
_ANONYMOUS = re.compile(r"^[0-9a-f]{64}$")  # a volume the engine made for an image's VOLUME: not ours to compare


# -- the expected side -----------------------------------------------------------------------------------------
def _unescape(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"  # as compose passes a YAML boolean
    return str(value).replace("$$", "$")  # the templates write a literal $ as $$ (compose interpolation)


def _port_text(ip: str, published: object, target: object, protocol: str = "tcp") -> str:
    ip = str(ip or "").strip("[]") or "0.0.0.0"  # noqa: S104 (an address compared, not bound)
    host = f"[{ip}]" if ":" in ip else ip
    return f"{host}:{published}->{target}/{protocol or 'tcp'}"


def _short_port(text: str) -> str | None:
    """compose's short port syntax `[ip:]published:target[/proto]` (a bare target publishes nothing fixed)."""
    body, dummy, proto = str(text).partition("/")
    if body.startswith("["):  # [::1]:4000:4000
        ip, dummy, rest = body[1:].partition("]:")
        published, dummy, target = rest.partition(":")
    else:
        parts = body.rsplit(":", 2)
        if len(parts) < 2:
            return None
        ip, published, target = ([""] + parts)[-3:]
    return _port_text(ip, published, target, proto or "tcp")


def _volume_name(key: str, top: dict, project: str) -> str:
    spec = top.get(key) or {}
    if spec.get("name"):
        return str(spec["name"])
    return key if spec.get("external") else f"{project}_{key}"


def _mounts(volumes: list, top: dict, project: str) -> list[dict]:
    out = []
    for v in volumes or []:
        if isinstance(v, dict):
            kind, source, target = v.get("type", "volume"), str(v.get("source") or ""), str(v.get("target") or "")
        else:
            parts = str(v).split(":")
            if len(parts) == 1:
                continue  # an anonymous volume: no source to compare
            source, target = parts[0], parts[1]
            kind = "bind" if source.startswith((".", "/", "~")) else "volume"
        if kind == "volume" and source:
            source = _volume_name(source, top, project)
        if kind in ("volume", "bind") and source and target:
            out.append({"type": kind, "source": source, "target": target})
    return out


def _networks(svc: dict, top: dict, project: str) -> list[str]:
    if svc.get("network_mode"):  # none (the one-shot jobs): the engine lists the mode as the container's network
        return [str(svc["network_mode"])]
    names = svc.get("networks") or ["default"]
    keys = list(names) if isinstance(names, (dict, list)) else ["default"]
    out = []
    for key in keys:
        spec = top.get(key) or {}
        out.append(str(spec.get("name") or (key if spec.get("external") else f"{project}_{key}")))
    return sorted(out)


def service_specs(compose_doc: dict) -> dict:
    """What drift is judged by, from a parsed compose file: {project, services: {name: {container, image,
    environment, env_file, mounts, ports, networks, restart, oneshot}}, external_networks}. Plain data (crosses to the host as JSON)."""
    doc = compose_doc if isinstance(compose_doc, dict) else {}
    project = str(doc.get("name") or "")
    volumes, networks = doc.get("volumes") or {}, doc.get("networks") or {}
    services = {}
    for name, svc in sorted((doc.get("services") or {}).items()):
        svc = svc or {}
        env = svc.get("environment") or {}
        if isinstance(env, list):
            env = dict(item.split("=", 1) if "=" in item else (item, None) for item in map(str, env))
        env_files = svc.get("env_file") or []
        env_files = [env_files] if isinstance(env_files, (str, dict)) else env_files
        ports = []
        for p in svc.get("ports") or []:
            text = _port_text(p.get("host_ip", ""), p.get("published"), p.get("target"), p.get("protocol", "tcp")) \
                if isinstance(p, dict) else _short_port(p)
            published = text.split("->", maxsplit=1)[0] if text else ""
            if published and not published.endswith(":") and "None" not in published:  # a random port: not compared
                ports.append(text)
        labels = svc.get("labels") or {}
        oneshot = (labels.get(ONESHOT_LABEL) if isinstance(labels, dict) else f"{ONESHOT_LABEL}=true" in labels) in ("true", True)
        services[name] = {
            "container": svc.get("container_name"),
            "image": str(svc.get("image") or ""),
            # values of the compose file (no secrets there: those live in the private env files)
            "environment": {str(k): _unescape(v) for k, v in env.items() if v is not None},
            "env_file": [str(f.get("path") if isinstance(f, dict) else f) for f in env_files],
            "mounts": _mounts(svc.get("volumes"), volumes, project),
            "ports": sorted(ports),
            "networks": _networks(svc, networks, project),
            "restart": str(svc.get("restart") or "no"),
            "oneshot": bool(oneshot),
        }
    # the networks the project joins but does not own (the link networks): made before `up`
    external = sorted(str(spec.get("name") or key) for key, spec in networks.items()
                      if isinstance(spec, dict) and spec.get("external"))
    return {"project": project, "services": services, "external_networks": external}


def env_file_pairs(text: str) -> dict[str, str]:
    """KEY=value lines of an env file written with env_quote (single-quoted literal, or double-quoted escapes)."""
    out = {}
    for line in (text or "").splitlines():
        key, sep, raw = line.partition("=")
        key = key.strip()
        if not sep or not key or key.startswith("#"):
            continue
        if key.startswith("export "):
            key = key[7:].strip()
        if len(raw) >= 2 and raw[0] == raw[-1] == "'":
            out[key] = raw[1:-1]
        elif len(raw) >= 2 and raw[0] == raw[-1] == '"':
            out[key] = re.sub(r"\\(.)", lambda m: {"n": "\n", "r": "\r"}.get(m[1], m[1]), raw[1:-1])
        else:
            out[key] = raw
    return out


def digest(value: str) -> str:
    """Values are compared by this digest only; neither values nor digests leave the host."""
    return hashlib.sha256(value.encode("utf-8", "surrogateescape")).hexdigest()[:16]


def normal_image(ref: str) -> str:
    """`redis:7` and `docker.io/library/redis:7` are one image; no tag means latest."""
    ref = str(ref or "")
    for prefix in ("docker.io/library/", "docker.io/", "index.docker.io/library/"):
        if ref.startswith(prefix):
            ref = ref[len(prefix):]
            break
    last = ref.rsplit("/", 1)[-1]
    return ref if "@" in ref or ":" in last else ref + ":latest"


def expected(specs: dict, files: dict[str, dict], project_dir: str, config_hash: str | None) -> dict[str, dict]:
    """Per compose service, what its container must show: the specs with env files resolved (values digested)."""
    out = {}
    for name, s in (specs.get("services") or {}).items():
        env: dict[str, str] = {}
        for rel in s.get("env_file") or []:
            env.update(env_file_pairs((files.get(rel) or {}).get("content", "")))
        env.update(s.get("environment") or {})  # compose: environment wins over env_file
        mounts = set()
        for m in s.get("mounts") or []:
            source = m["source"]
            if m["type"] == "bind":
                source = os.path.normpath(os.path.join(project_dir, os.path.expanduser(source)))
            mounts.add(f"{m['type']} {source}:{m['target']}")
        out[name] = {"container": s.get("container"), "image": normal_image(s.get("image", "")),
                     "config_hash": config_hash, "env": {k: digest(v) for k, v in env.items()},
                     "mounts": mounts, "ports": set(s.get("ports") or []), "networks": set(s.get("networks") or []),
                     "restart": s.get("restart") or "no"}
    return out


# -- the found side --------------------------------------------------------------------------------------------
def found(inspect: dict) -> dict:
    """The same fields from one container's `docker inspect`."""
    config, host = inspect.get("Config") or {}, inspect.get("HostConfig") or {}
    env = {}
    for item in config.get("Env") or []:
        key, dummy, value = str(item).partition("=")
        env[key] = digest(value)
    mounts = set()
    for m in inspect.get("Mounts") or []:
        if m.get("Type") == "volume":
            if not _ANONYMOUS.match(str(m.get("Name") or "")):
                mounts.add(f"volume {m.get('Name')}:{m.get('Destination')}")
        elif m.get("Type") == "bind":
            mounts.add(f"bind {m.get('Source')}:{m.get('Destination')}")
    ports = set()
    for target, bindings in (host.get("PortBindings") or {}).items():
        number, dummy, proto = str(target).partition("/")
        for b in bindings or []:
            ports.add(_port_text(b.get("HostIp", ""), b.get("HostPort", ""), number, proto or "tcp"))
    labels = config.get("Labels") or {}
    return {"container": str(inspect.get("Name", "")).lstrip("/"), "service": labels.get("com.docker.compose.service", ""),
            "image": normal_image(config.get("Image", "")), "image_id": inspect.get("Image", ""),
            "config_hash": labels.get(HASH_LABEL), "env": env, "mounts": mounts, "ports": ports,
            "networks": set((inspect.get("NetworkSettings") or {}).get("Networks") or {}),
            "restart": ((host.get("RestartPolicy") or {}).get("Name") or "no")}


def image_envs(run, image_ids: list[str], docker: str = "docker") -> dict[str, dict[str, str]]:
    """{image id: {KEY: digest}} of the images' own environment (one call): keys a container inherits from its image
    are not drift. An image the engine no longer has is left out (its containers' extra keys are then not judged)."""
    if not image_ids:
        return {}
    dummy, out, dummy2 = run([docker, "image", "inspect", *image_ids])
    try:
        docs = json.loads(out) if (out or "").strip() else []  # printed for the images found even when one is gone
    except ValueError:
        return {}
    envs = {}
    for doc in docs if isinstance(docs, list) else []:
        env = {}
        for item in (doc.get("Config") or {}).get("Env") or []:
            key, dummy, value = str(item).partition("=")
            env[key] = digest(value)
        envs[doc.get("Id", "")] = env
    return envs


# -- the comparison --------------------------------------------------------------------------------------------
def _difference(want: dict, got: dict, field: str, expected_: str, found_: str) -> dict:
    return {"service": got["service"], "container": got["container"], "field": field, "expected": expected_,
            "found": found_}


def compare(want: dict, got: dict, image_env: dict[str, str] | None) -> list[dict]:
    """Differences of one container from what it should be: [{service, container, field, expected, found}].

    Environment entries name the key only: expected/found say `KEY`, `KEY=<configured value>` or `(none)`.
    `image_env` None: the image's own keys are unknown, so keys the container has beyond the configuration are not
    judged.
    """
    out = []
    if want["image"] != got["image"]:
        out.append(_difference(want, got, "image", want["image"], got["image"]))
    if want.get("config_hash") and want["config_hash"] != got["config_hash"]:
        out.append(_difference(want, got, "config hash", want["config_hash"][:12], (got["config_hash"] or NONE)[:12]))
    for key in sorted(want["env"]):
        if key not in got["env"]:
            out.append(_difference(want, got, "env", key, NONE))
        elif got["env"][key] != want["env"][key]:
            out.append(_difference(want, got, "env", f"{key}=<configured value>", f"{key}=<another value>"))
    if image_env is not None:
        for key in sorted(set(got["env"]) - set(want["env"])):
            if image_env.get(key) != got["env"][key]:  # not the image's own value either: set by hand
                out.append(_difference(want, got, "env", NONE, key))
    for field, plural in (("mount", "mounts"), ("port", "ports"), ("network", "networks")):
        for item in sorted(want[plural] - got[plural]):
            out.append(_difference(want, got, field, item, NONE))
        for item in sorted(got[plural] - want[plural]):
            out.append(_difference(want, got, field, NONE, item))
    if want["restart"] != got["restart"]:
        out.append(_difference(want, got, "restart", want["restart"], got["restart"]))
    return out


def compare_project(want: dict[str, dict], inspects: list[dict], envs: dict[str, dict] | None = None) -> list[dict]:
    """Differences of all of a project's containers; a container of a service the configuration lacks is one too."""
    out = []
    for inspect in sorted(inspects, key=lambda i: str(i.get("Name", ""))):
        got = found(inspect)
        if got["service"] not in want:
            out.append(_difference({}, got, "service", NONE, got["service"] or got["container"]))
            continue
        out.extend(compare(want[got["service"]], got, None if envs is None else envs.get(got["image_id"])))
    return out


def describe(d: dict) -> str:
    """One difference in a few words (no values of the environment: they are never known here)."""
    field, want, got = d["field"], d["expected"], d["found"]
    if want == NONE:
        return f"{field} {got} added"
    if got == NONE:
        return f"{field} {want} missing"
    if field == "env":
        return f"env {want.split('=', 1)[0]} changed"
    return f"{field} {got} (want {want})"


def summary(diffs: list[dict]) -> str:
    """`drift: image x (want y), port ... added` for a message."""
    return "drift: " + ", ".join(describe(d) for d in diffs)


def diff_entry(service: str, diffs: list[dict]) -> dict:
    """An Ansible diff entry: what runs (before) and what the pipeline deploys (after), one line per difference."""
    def side(key: str) -> str:
        return "".join(f"{d['container']}: {d['field']}: {d[key]}\n" for d in diffs)
    return {"before_header": f"{service} (running containers)", "after_header": f"{service} (as deployed)",
            "before": side("found"), "after": side("expected")}


def result_for(service: str, diffs: list[dict]) -> dict:
    """What a check result gains for a drifted service: changed, the differences, the compose services to
    recreate (compose will not: their hash label still matches), a reason and a diff entry."""
    return {"changed": True, "container_drift": diffs, "reason": summary(diffs),
            "recreate_services": sorted({d["service"] for d in diffs if d["field"] != "service"})}


def judge(run, items: list[tuple[str, dict, list[dict]]], docker: str = "docker") -> dict[str, list[dict]]:
    """{service: differences} for (service, expected, its containers' inspect documents), the drifted ones only;
    one `docker image inspect` for all their images."""
    items = [i for i in items if i[2]]
    envs = image_envs(run, sorted({str(d.get("Image")) for i in items for d in i[2] if d.get("Image")}), docker)
    out = {}
    for service, want, inspects in items:
        diffs = compare_project(want, inspects, envs)
        if diffs:
            out[service] = diffs
    return out


def relabelled(check: dict) -> bool:
    """A check that found no changed file yet a change: containers missing, stopped, or labelled by another hash."""
    return bool(check.get("changed")) and "changed_files" in check and not check["changed_files"]


def check_step(run, projects: list[dict], results: dict[str, dict], inspected: dict[str, list[dict]],
               docker: str = "docker") -> dict[str, list[dict]]:
    """The drift of the projects a deploy step's check found unchanged (hash label current, containers running),
    from the containers the same step's probe inspected (`inspected`, by compose project): no extra container
    inspect. A project without `model` (specs) or not probed is not judged."""
    items = []
    for p in projects:
        r = results.get(p["service"]) or {}
        if p.get("model") and not r.get("failed") and (not r.get("changed") or relabelled(r)) \
                and inspected.get(p["project_name"]):
            want = expected(p["model"], p.get("files") or {}, p["project_src"], r.get("config_hash"))
            items.append((p["service"], want, inspected[p["project_name"]]))
    return judge(run, items, docker)


def on_disk(run, services: list[dict], projects_dir: str, inspected: dict[str, list[dict]],
            docker: str = "docker") -> dict[str, list[dict]]:
    """The drift of services [{name, project}] from the project last deployed under `projects_dir` (its files and
    the specs kept for their hash). Without kept specs only the config-hash label is compared."""
    items, label_only = [], {}
    for svc in services:
        project_dir = os.path.join(projects_dir, svc["name"])
        inspects = inspected.get(svc["project"]) or []
        if not inspects or not os.path.isdir(project_dir):
            continue
        files = existing_files(project_dir)
        config_hash = files_hash(plan_files(project_dir, files))
        specs = load_models(project_dir).get(config_hash)
        if specs:
            items.append((svc["name"], expected(specs, files, project_dir, config_hash), inspects))
            continue
        diffs = [{"service": g["service"], "container": g["container"], "field": "config hash",
                  "expected": config_hash[:12], "found": (g["config_hash"] or NONE)[:12]}
                 for g in map(found, inspects) if g["config_hash"] != config_hash]
        if diffs:
            label_only[svc["name"]] = diffs
    return dict(judge(run, items, docker), **label_only)


# -- the specs kept beside the project (status.yml renders nothing) ------------------------------------------------
def load_models(project_dir: str) -> dict:
    try:
        with open(os.path.join(project_dir, MODELS_FILE), encoding="utf-8") as fh:
            data = json.load(fh)
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def remember(project_dir: str, config_hash: str, specs: dict) -> bool:
    """Keep `specs` for `config_hash` (the last KEEP_MODELS, so a rollback finds its own); True when written."""
    if not specs or not config_hash or not os.path.isdir(project_dir):
        return False
    models = load_models(project_dir)
    if models.get(config_hash) == specs:
        return False
    models.pop(config_hash, None)
    models[config_hash] = specs
    for old in list(models)[:-KEEP_MODELS]:
        del models[old]
    fd, tmp = tempfile.mkstemp(dir=project_dir, prefix=".tmp-")
    try:
        os.fchmod(fd, 0o600)
        os.write(fd, json.dumps(models).encode())  # insertion order: the oldest first
    finally:
        os.close(fd)
    os.replace(tmp, os.path.join(project_dir, MODELS_FILE))
    return True
