# Private to aiplatform.stack: not a public API, it may change in any release (README, "Layout").
"""Error categories and the classification of Docker / Compose error text into them.

Every failure the collection reports carries one category, so that recovery can act by category and an
operator can read the cause instead of compose's generic "Error when processing ..." wrapper.
"""
from __future__ import annotations

import re

IMAGE = "image"
PORT = "port"
CONFIG = "config"
ENGINE = "engine"
DEPENDENCY = "dependency"
TIMEOUT = "timeout"
CRASH_LOOP = "crash_loop"
DISK = "disk"
# A docker or compose command that did not finish within its limit (module_utils/runner.py): a stuck engine, not a
# slow service (that is TIMEOUT, a health wait that ran out).
COMMAND_TIMEOUT = "command_timeout"
# An application's first administrator exists, but not with the credentials the platform stored (module_utils/first_admin.py).
CLAIMED = "claimed"
# Something the host must have installed is missing or too old (the docker CLI, the Compose v2 plugin).
PREREQUISITE = "prerequisite"
# An application's migration records say its data moved on without it (a rolled-back upgrade, an unfinished migration).
MIGRATION = "migration"
UNKNOWN = "unknown"

# What an operator should do first, per category.
ADVICE = {
    IMAGE: "check the image name and tag variable, or load the image on this host (docker load) when no registry is reachable",
    PORT: "free the port on the host or set another published port for the service in the inventory",
    CONFIG: "fix the named field in the inventory and re-run",
    ENGINE: "start the Docker engine (or fix its socket permissions) and re-run",
    DEPENDENCY: "bring the dependency up healthy first; the dependent was not started",
    TIMEOUT: "read the container log (docker logs); raise the service's health deadline if it is only slow",
    CRASH_LOOP: "read the last log lines; fix the cause (config, permissions, missing dependency) and re-run",
    DISK: "free disk space on the host (docker system df) and re-run",
    COMMAND_TIMEOUT: "check that the Docker engine answers (docker info; journalctl -u docker) and re-run; raise "
                     "AIPLATFORM_COMMAND_TIMEOUT (seconds, in the play's environment) if the host is only slow",
    CLAIMED: "reset the application's administrator, or store its credentials in the service's secrets file "
             "(admin_password) and set aiplatform_admin_email; the platform never overwrites an administrator",
    PREREQUISITE: "install what is named on the host (the docker CLI and engine: docker.io or docker-ce; Compose v2: "
                  "docker-compose-plugin, or its static binary in /usr/local/lib/docker/cli-plugins) and re-run",
    MIGRATION: "restore the snapshot taken before the upgrade (README \"Upgrading\"), or fix what failed and pin the "
               "new release again; never start the old release on the migrated data",
    UNKNOWN: "read the full compose output in the task result",
}

# (category, pattern) in order of precedence: the first match wins.
_RULES: tuple[tuple[str, str], ...] = (
    (COMMAND_TIMEOUT, r"did not finish within [0-9.]+ s and was stopped"),
    (ENGINE, r"cannot connect to the docker daemon|is the docker daemon running|permission denied while trying to connect to the docker"),
    (ENGINE, r"error during connect|docker\.sock: connect: (no such file|connection refused)"),
    (PORT, r"port is already allocated|address already in use|bind for [^ ]+ failed|ports are not available"),
    (DISK, r"no space left on device"),
    (IMAGE, r"pull access denied|manifest unknown|manifest for .* not found|repository does not exist"),
    (IMAGE, r"no such image|invalid reference format|error pulling image|failed to resolve reference|not found: not found"),
    (IMAGE, r"failed to do request: |dial tcp: lookup [^ ]+ .*no such host|toomanyrequests|unauthorized: "),
    (DEPENDENCY, r"dependency failed to start|is unhealthy|depends on undefined service"),
    (CONFIG, r"yaml: |validating .*: |additional property|is not allowed|invalid (interpolation|compose project)"),
    (CONFIG, r"services\.[^ ]+ (must be|additional)|env file .* not found|no configuration file provided|undefined (volume|network)"),
    (CONFIG, r"invalid mount config|mount config|not a directory|invalid volume specification|invalid port"),
    (CONFIG, r"required variable .* is missing|error while interpolating"),
    (TIMEOUT, r"timeout|timed out|deadline exceeded"),
    (CRASH_LOOP, r"exited with code|is restarting"),
)
_COMPILED = tuple((cat, re.compile(pat, re.IGNORECASE)) for cat, pat in _RULES)

# Compose wraps causes in these; they say nothing by themselves.
_WRAPPERS = re.compile(
    r"^(error response from daemon: |error when processing [^:]*: |failed to (create|start) [^:]*: |error: )+",
    re.IGNORECASE,
)


def classify(text: str) -> str:
    """Return the category of an error text; UNKNOWN when no rule matches."""
    for category, pattern in _COMPILED:
        if pattern.search(text or ""):
            return category
    return UNKNOWN


def cause_of(text: str) -> str:
    """The most telling line of an error text, stripped of compose's generic wrappers."""
    lines = [line.strip() for line in (text or "").splitlines() if line.strip()]
    for pattern in (compiled for dummy, compiled in _COMPILED):
        for line in lines:
            if pattern.search(line):
                return _WRAPPERS.sub("", line)
    return _WRAPPERS.sub("", lines[-1]) if lines else ""
