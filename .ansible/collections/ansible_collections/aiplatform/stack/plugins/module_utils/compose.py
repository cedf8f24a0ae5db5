# Private to aiplatform.stack: not a public API, it may change in any release (README, "Layout").
"""Docker Compose v2 CLI: command lines, parsing of its JSON progress output, project state.

Pure functions plus a small runner that takes a `run(argv, data=None) -> (rc, stdout, stderr)` callable, so it is
tested against recorded real outputs without a Docker engine.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field

from . import errors as err
from . import events as ev

COMPOSE_FILE = "compose.yml"
ONESHOT_LABEL = "aiplatform.stack.oneshot"
# The hash of every rendered file of the project, passed to compose as ${AIPLATFORM_CONFIG_HASH} and stored as
# this label by the templates. compose's own config-hash cannot be used for drift: `config --hash` disagrees with
# the label for services with env_file (docker/compose#14001), and mounted config files are not part of it.
HASH_LABEL = "aiplatform.stack.config-hash"
HASH_ENV = "AIPLATFORM_CONFIG_HASH"


@dataclass
class Progress:
    """What compose reported while it worked."""

    steps: list[dict] = field(default_factory=list)  # {"id": "Container x", "status": "Started"}
    errors: list[str] = field(default_factory=list)
    other: list[str] = field(default_factory=list)  # lines that were not JSON: a parser gap worth a warning

    @property
    def started(self) -> list[str]:
        return sorted({s["id"].split(" ", 1)[-1] for s in self.steps if s.get("status") in ("Started", "Recreated", "Created")})


def parse_progress(text: str) -> Progress:
    """Parse `docker compose --progress json` output (one JSON object per line)."""
    progress = Progress()
    for raw in (text or "").splitlines():
        line = raw.strip()
        if not line:
            continue
        try:
            obj = json.loads(line)
        except ValueError:
            progress.other.append(line)
            continue
        if not isinstance(obj, dict):
            progress.other.append(line)
        elif obj.get("error"):
            progress.errors.append(str(obj.get("message", "")))
        else:
            step = {"id": str(obj.get("id", "")), "status": str(obj.get("status") or obj.get("text") or "")}
            if obj.get("text") == "Error" or step["status"].lower().startswith("error"):
                progress.errors.append(str(obj.get("status") or obj.get("text")))
            progress.steps.append(step)
    return progress


def failure(rc: int, stdout: str, stderr: str) -> dict:
    """A failed compose call as {category, cause, message}; the cause is the most telling line."""
    progress = parse_progress(stderr)
    text = "\n".join(progress.errors + progress.other + [stdout or ""])
    category = err.classify(text)
    cause = err.cause_of(text) or f"docker compose exited with {rc}"
    return {"category": category, "cause": cause, "advice": err.ADVICE[category], "rc": rc}


def parse_ps(text: str) -> list[dict]:
    """Parse `docker compose ps --format json`: a JSON array (older) or one object per line (newer)."""
    text = (text or "").strip()
    if not text:
        return []
    if text.startswith("["):
        return list(json.loads(text))
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def parse_services(text: str) -> list[str]:
    """Parse `docker compose config --services`: one name per line."""
    return sorted(line.strip() for line in (text or "").splitlines() if line.strip())


def _labels(container: dict) -> dict[str, str]:
    labels = container.get("Labels") or {}
    if isinstance(labels, dict):
        return labels
    out = {}
    for item in str(labels).split(","):
        key, dummy, value = item.partition("=")
        out[key] = value
    return out


def drift(services: list[str], config_hash: str, containers: list[dict]) -> list[str]:
    """Services whose container is missing, stopped, or carries another config hash than `config_hash`.

    A one-shot service (label aiplatform.stack.oneshot=true) that exited 0 is up to date.
    """
    by_service: dict[str, list[dict]] = {}
    for c in containers:
        by_service.setdefault(c.get("Service", ""), []).append(c)
    out = []
    for service in sorted(services):
        found = by_service.get(service, [])
        if not found:
            out.append(service)
            continue
        for c in found:
            labels = _labels(c)
            oneshot_done = labels.get(ONESHOT_LABEL) == "true" and c.get("State") == "exited" and int(c.get("ExitCode") or 0) == 0
            if labels.get(HASH_LABEL) != config_hash or (c.get("State") != "running" and not oneshot_done):
                out.append(service)
                break
    return out


class Compose:
    """Runs `docker compose` for one project directory."""

    def __init__(self, run, project_dir: str, project_name: str, docker: str = "docker",
                 env: dict | None = None) -> None:
        self._run = run
        self.env = dict(env or {})
        self.project_dir = project_dir
        self.project_name = project_name
        self.docker = docker
        # the values of the project's private (env) files: masked in whatever compose prints back
        self.redactor = ev.Redactor()

    def argv(self, *args: str, project_dir: str | None = None) -> list[str]:
        return [self.docker, "compose", "--project-directory", project_dir or self.project_dir,
                "-p", self.project_name, "--progress", "json", *args]

    def call(self, *args: str, project_dir: str | None = None) -> tuple[int, str, str]:
        rc, out, errout = self._run(self.argv(*args, project_dir=project_dir), env=self.env)
        if len(self.redactor):
            out, errout = self.redactor.text(out or "", patterns=False), self.redactor.text(errout or "", patterns=False)
        return rc, out, errout

    def _failure(self, rc: int, out: str, errout: str) -> dict:
        """failure() with the project's secrets masked also where compose quoted them inside its JSON lines."""
        return self.redactor.data(failure(rc, out, errout)) if len(self.redactor) else failure(rc, out, errout)

    def validate(self, project_dir: str | None = None) -> tuple[dict | None, list[str], list[str]]:
        """(failure or None, services, images) of the project, from one `docker compose config` call.

        A failure is a dict of category config (what compose said, secrets masked)."""
        rc, out, errout = self.call("config", "--format", "json", project_dir=project_dir)
        if rc == 0:
            try:
                services = json.loads(out).get("services") or {}
            except ValueError:
                services = None
            if isinstance(services, dict):
                return None, sorted(services), sorted({str(s.get("image")) for s in services.values() if s.get("image")})
            out, errout = "", "docker compose config printed no project"
        result = self._failure(rc or 1, out, errout)
        if result["category"] == err.UNKNOWN:
            result["category"] = err.CONFIG
            result["advice"] = err.ADVICE[err.CONFIG]
        return result, [], []

    def state(self) -> tuple[list[str], list[dict]]:
        """(services defined in the compose file, containers of the project)."""
        rc, out, errout = self.call("config", "--services")
        if rc != 0:
            raise ComposeError(self._failure(rc, out, errout))
        services = parse_services(out)
        rc, out, errout = self.call("ps", "--all", "--format", "json")
        if rc != 0:
            raise ComposeError(self._failure(rc, out, errout))
        return services, parse_ps(out)

    def checked(self, *args: str) -> Progress:
        rc, out, errout = self.call(*args)
        if rc != 0:
            raise ComposeError(self._failure(rc, out, errout))
        return parse_progress(errout)


class ComposeError(Exception):
    def __init__(self, info: dict) -> None:
        super().__init__(info.get("cause", "docker compose failed"))
        self.info = info
