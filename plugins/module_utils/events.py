# Private to aiplatform.stack: not a public API, it may change in any release (README, "Layout").
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
RECORD_DAMAGED = "RECORD_DAMAGED"
RUN_LOCK_WAIT = "RUN_LOCK_WAIT"
# a step of the run failed (module error, engine gone, host unreachable, interruption) without an event of its own
STEP_FAIL = "STEP_FAIL"
# on the host but not enabled there by the inventory: containers, volumes, project directories left behind
ORPHANED = "ORPHANED"
# a running container differs from what the pipeline deployed (changed behind the platform's back)
DRIFT = "DRIFT"
# a service runs as configured but weaker than the platform's security model (status.yml says it every time)
SECURITY_WARNING = "SECURITY_WARNING"
# backup and restore (playbooks/backup.yml, restore.yml): durations and sizes in the JSON event
BACKUP_START = "BACKUP_START"
BACKUP_PAUSE = "BACKUP_PAUSE"  # containers paused while their volume is copied
BACKUP_RESUME = "BACKUP_RESUME"
BACKUP_PRUNED = "BACKUP_PRUNED"
BACKUP_SUCCESS = "BACKUP_SUCCESS"
BACKUP_VERIFIED = "BACKUP_VERIFIED"  # restic check read back a share of the repository's data (aiplatform_backup_verify)
BACKUP_FAIL = "BACKUP_FAIL"
RESTORE_START = "RESTORE_START"
RESTORE_PART = "RESTORE_PART"
RESTORE_SUCCESS = "RESTORE_SUCCESS"
RESTORE_REFUSED = "RESTORE_REFUSED"  # the archive or the host failed a check: nothing was changed
RESTORE_FAIL = "RESTORE_FAIL"
MIGRATION_START = "MIGRATION_START"  # an application's migration records, read before its new release starts
MIGRATION_OK = "MIGRATION_OK"  # read again after the upgrade: what ran, from which to which
MIGRATION_FAIL = "MIGRATION_FAIL"  # unfinished, or the data moved on and the service was rolled back to the old image
UPGRADE_ROLLED_BACK = "UPGRADE_ROLLED_BACK"  # a rolled-back service's data put back from the pre-upgrade snapshot
DATA_REFUSED = "DATA_REFUSED"  # a release older than the one that wrote the data, or a changed key: nothing changed
VERSION_UNKNOWN = "VERSION_UNKNOWN"  # a tag without a release number: a downgrade could not be told apart

ERROR_TYPES = frozenset({DEPLOY_FAIL, HEALTH_TIMEOUT, RESTART_LOOP, PORT_CONFLICT, CONFIG_INVALID, RECOVERY_NEEDED,
                         PRECHECK_FAIL, CONNECTIVITY_FAIL, MODEL_PULL_FAIL, DEPENDENCY_FAIL, STEP_FAIL,
                         BACKUP_FAIL, RESTORE_REFUSED, RESTORE_FAIL, DATA_REFUSED, MIGRATION_FAIL})
WARN_TYPES = frozenset({HEALTH_RETRY, RECOVERY_START, DEPLOY_SKIPPED, DEPENDENCY_WAIT, RECORD_DAMAGED, RUN_LOCK_WAIT,
                        ORPHANED, DRIFT, SECURITY_WARNING, BACKUP_PAUSE, BACKUP_PRUNED, VERSION_UNKNOWN,
                        UPGRADE_ROLLED_BACK})

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
    """Masks secrets by value (the run's own secrets, in the forms they get printed in) and by pattern.

    By value: every secret the run loaded, raw and as it appears URL-encoded, JSON-escaped, env-file-escaped or in a
    Python repr. Secrets of 6 characters or more are masked wherever they occur; shorter ones only as a whole word
    (masking every "abc" inside other words would ruin the log). The values live in memory only.
    By pattern: URL credentials (up to the last @ of the authority), NAME=value assignments whose name says secret
    (digits allowed: N8N_ENCRYPTION_KEY), JSON members such as "password": "...", Authorization schemes
    (Bearer sk-...), and Redis' requirepass / masterauth.
    """

    MASK = "********"
    _SECRET_NAME = r"[A-Za-z0-9_.-]*(?:PASSWORD|PASSWD|PASSPHRASE|SECRET|TOKEN|_KEY|APIKEY|SALT|CREDENTIAL|AUTH)[A-Za-z0-9_.-]*"  # noqa: S105 (a pattern)
    _URL_CREDENTIALS = re.compile(r"(?P<scheme>[a-z][a-z0-9+.-]*://)(?P<user>[^:/@\s]*):(?P<pw>[^\s/]*)@(?=[^@/\s]*)",
                                  re.IGNORECASE)
    _ASSIGNMENT = re.compile(
        r"(?P<key>(?<![A-Za-z0-9_])" + _SECRET_NAME + r")"
        r"(?P<sep>\s*[=:]\s*)(?P<val>\"(?:[^\"\\]|\\.)*\"|'[^']*'|[^\s,;}\"']+)",
        re.IGNORECASE,
    )
    _JSON_MEMBER = re.compile(r"(?P<key>\"" + _SECRET_NAME + r"\"\s*:\s*)(?P<val>\"(?:[^\"\\]|\\.)*\")", re.IGNORECASE)
    _AUTH_SCHEME = re.compile(r"(?P<key>\b(?:Bearer|Basic)\s+)(?P<val>[A-Za-z0-9._~+/=-]{4,})")
    _REDIS_AUTH = re.compile(r"(?P<key>\b(?:requirepass|masterauth|--requirepass|--masterauth|AUTH)\s+)"
                             r"(?P<val>\"[^\"]*\"|'[^']*'|\S+)")
    LONG = 6

    @classmethod
    def secret_name(cls, name: str) -> bool:
        """Does this variable name say it holds a secret (N8N_ENCRYPTION_KEY, REDIS_PASSWORD, ...)?"""
        return re.fullmatch(cls._SECRET_NAME, name, re.IGNORECASE) is not None

    def __init__(self, secrets: object = ()) -> None:
        self._long: set[str] = set()
        self._short: set[str] = set()
        self._short_re: re.Pattern | None = None
        self.add(secrets)

    def __len__(self) -> int:
        return len(self._long) + len(self._short)

    @staticmethod
    def forms(secret: str) -> set[str]:
        """The ways a secret gets printed: raw, URL-encoded, JSON- and env-file-escaped, inside a repr."""
        from urllib.parse import quote, quote_plus

        out = {secret, quote(secret, safe=""), quote_plus(secret, safe=""), json.dumps(secret)[1:-1],
               json.dumps(secret, ensure_ascii=False)[1:-1], repr(secret)[1:-1],
               secret.replace("\\", "\\\\").replace('"', '\\"').replace("$", "\\$").replace("\n", "\\n")}
        return {form for form in out if form}

    def add(self, secrets: object) -> None:
        """Learn secret values from a string, a list or a dict (values only, recursively)."""
        if isinstance(secrets, dict):
            for value in secrets.values():
                self.add(value)
        elif isinstance(secrets, (list, tuple, set, frozenset)):
            for value in secrets:
                self.add(value)
        elif isinstance(secrets, str) and secrets.strip() and secrets != self.MASK:
            for form in self.forms(str(secrets)):
                if len(form) >= self.LONG:
                    self._long.add(form)
                elif form not in self._short:
                    self._short.add(form)
                    self._short_re = None

    def text(self, value: str, patterns: bool = True) -> str:
        """`value` with every known secret masked and, with `patterns`, credential-shaped text too."""
        out = value
        for secret in sorted(self._long, key=len, reverse=True):
            if secret in out:
                out = out.replace(secret, self.MASK)
        if self._short:
            if self._short_re is None:
                words = "|".join(re.escape(s) for s in sorted(self._short, key=len, reverse=True))
                self._short_re = re.compile(r"(?<![A-Za-z0-9])(?:" + words + r")(?![A-Za-z0-9])")
            out = self._short_re.sub(self.MASK, out)
        if not patterns:
            return out
        out = self._URL_CREDENTIALS.sub(lambda m: f"{m['scheme']}{m['user']}:{self.MASK}@", out)
        out = self._JSON_MEMBER.sub(lambda m: f'{m["key"]}"{self.MASK}"', out)
        out = self._AUTH_SCHEME.sub(lambda m: f"{m['key']}{self.MASK}", out)
        out = self._REDIS_AUTH.sub(lambda m: m.group(0) if m["val"] == self.MASK else f"{m['key']}{self.MASK}", out)
        return self._ASSIGNMENT.sub(
            lambda m: m.group(0) if "os.environ/" in m["val"] or self.MASK in m["val"] else f"{m['key']}{m['sep']}{self.MASK}",
            out,
        )

    def data(self, value: object) -> object:
        """Redact every string inside a JSON-like structure (keys included)."""
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, dict):
            return {(self.text(k) if isinstance(k, str) else k): self.data(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [self.data(v) for v in value]
        return value
