"""Events: the one log line format, levels, JSON form and secret redaction.

`[YYYY-MM-DD HH:MM:SS] [LEVEL] [service] message` is the only line format the collection writes; the JSON form
carries the same facts plus host, run id, attempt, duration and category.
"""
from __future__ import annotations

import json
import re
import time
import uuid

DEPLOY_START = "DEPLOY_START"
DEPLOY_SUCCESS = "DEPLOY_SUCCESS"
DEPLOY_FAIL = "DEPLOY_FAIL"
DEPLOY_SKIPPED = "DEPLOY_SKIPPED"
HEALTH_RETRY = "HEALTH_RETRY"
HEALTH_SUCCESS = "HEALTH_SUCCESS"
HEALTH_TIMEOUT = "HEALTH_TIMEOUT"
# a dependency on another host, waited for from here at its published endpoint
DEPENDENCY_WAIT = "DEPENDENCY_WAIT"
DEPENDENCY_READY = "DEPENDENCY_READY"
DEPENDENCY_FAIL = "DEPENDENCY_FAIL"
RESTART_LOOP = "RESTART_LOOP"
PORT_CONFLICT = "PORT_CONFLICT"
CONFIG_INVALID = "CONFIG_INVALID"
RECOVERY_START = "RECOVERY_START"
RECOVERY_SUCCESS = "RECOVERY_SUCCESS"
RECOVERY_NEEDED = "RECOVERY_NEEDED"
PRECHECK_FAIL = "PRECHECK_FAIL"
CONNECTIVITY_FAIL = "CONNECTIVITY_FAIL"
SERVICE_STATUS = "SERVICE_STATUS"
SERVICE_REMOVED = "SERVICE_REMOVED"
MODEL_PULL = "MODEL_PULL"
MODEL_READY = "MODEL_READY"
MODEL_PULL_FAIL = "MODEL_PULL_FAIL"
METRICS = "METRICS"
RUN_START = "RUN_START"
RUN_END = "RUN_END"

ERROR_TYPES = frozenset({DEPLOY_FAIL, HEALTH_TIMEOUT, RESTART_LOOP, PORT_CONFLICT, CONFIG_INVALID, RECOVERY_NEEDED,
                         PRECHECK_FAIL, CONNECTIVITY_FAIL, MODEL_PULL_FAIL, DEPENDENCY_FAIL})
WARN_TYPES = frozenset({HEALTH_RETRY, RECOVERY_START, DEPLOY_SKIPPED, DEPENDENCY_WAIT})

# a failure's category -> the event said before DEPLOY_FAIL
SPECIFIC_FAILURE = {"config": CONFIG_INVALID, "port": PORT_CONFLICT, "crash_loop": RESTART_LOOP}

LINE_RE = re.compile(r"^\[\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}\] \[(INFO|WARN|ERROR)\] \[[A-Za-z0-9_.-]+\] \S.*$")


def level_of(event_type: str) -> str:
    if event_type in ERROR_TYPES:
        return "ERROR"
    if event_type in WARN_TYPES:
        return "WARN"
    return "INFO"


def make_event(event_type: str, service: str, message: str, **facts: object) -> dict:
    """A new event as a plain dict (it crosses process and module boundaries as JSON)."""
    event = {
        "id": uuid.uuid4().hex,
        "time": time.time(),
        "type": event_type,
        "level": level_of(event_type),
        "service": service,
        "message": message,
    }
    event.update({k: v for k, v in facts.items() if v is not None})
    return event


def format_line(event: dict) -> str:
    """The standard log line of an event (local time of the controller)."""
    stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(event["time"]))
    message = " ".join(str(event["message"]).split())  # one event, one line
    return f"[{stamp}] [{event.get('level') or level_of(event['type'])}] [{event['service']}] {message}"


def to_json(event: dict) -> str:
    return json.dumps(event, sort_keys=True, separators=(",", ":"), default=str)


class Redactor:
    """Replaces known secret values and credential-shaped substrings with a mask."""

    MASK = "********"
    _URL_CREDENTIALS = re.compile(r"(?P<scheme>[a-z][a-z0-9+.-]*://)(?P<user>[^:/@\s]*):(?P<pw>[^@/\s]+)@", re.IGNORECASE)
    _ASSIGNMENT = re.compile(
        r"(?P<key>\b[A-Za-z_]*(?:PASSWORD|PASSWD|SECRET|TOKEN|MASTER_KEY|SALT_KEY|API_KEY|ENCRYPTION_KEY)[A-Za-z_]*)"
        r"(?P<sep>\s*[=:]\s*)(?P<val>\"[^\"]*\"|'[^']*'|[^\s,;}\"']+)",
        re.IGNORECASE,
    )

    def __init__(self, secrets: object = ()) -> None:
        self._secrets: set[str] = set()
        self.add(secrets)

    def add(self, secrets: object) -> None:
        """Learn secret values from a string, a list or a dict (values only, recursively)."""
        if isinstance(secrets, dict):
            for value in secrets.values():
                self.add(value)
        elif isinstance(secrets, (list, tuple, set, frozenset)):
            for value in secrets:
                self.add(value)
        elif isinstance(secrets, str) and len(secrets) >= 6:  # short strings would mask ordinary words
            self._secrets.add(secrets)

    def text(self, value: str) -> str:
        out = value
        for secret in sorted(self._secrets, key=len, reverse=True):
            out = out.replace(secret, self.MASK)
        out = self._URL_CREDENTIALS.sub(lambda m: f"{m['scheme']}{m['user']}:{self.MASK}@", out)
        return self._ASSIGNMENT.sub(
            lambda m: m.group(0) if "os.environ/" in m["val"] or m["val"] == self.MASK else f"{m['key']}{m['sep']}{self.MASK}",
            out,
        )

    def data(self, value: object) -> object:
        """Redact every string inside a JSON-like structure."""
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, dict):
            return {k: self.data(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [self.data(v) for v in value]
        return value
