# Private to aiplatform.stack: not a public API, it may change in any release (README, "Layout").
"""The deploy step's protocol: what the scheduler (controller) asks the deploy_step module (host), and what it answers.

One definition for both sides: `ARGUMENT_SPEC` is the module's argument spec, the `*Spec` TypedDicts are the request's
parts as the scheduler builds them, the `*Result` TypedDicts the response as module_utils/deploy_step.py returns it.
tests/unit/test_step_protocol.py holds them against the module's DOCUMENTATION and RETURN, so they cannot drift.

Every value is a plain dict at run time (a TypedDict is only a name for a shape): nothing sent or returned changes.
Keys that a part may leave out are in a `total=False` class; the required ones in its `total=True` base.
Runs on managed hosts too: Python 3.8's `typing` only.
"""
from __future__ import annotations

from typing import Any, Dict, List, Optional, TypedDict

from .first_admin import KINDS

# -- the request: the module's argument spec ---------------------------------------------------------------------

_LIST = {"type": "list", "elements": "dict", "default": []}
_DATABASE = {"name": {"type": "str", "required": True}, "owner": {"type": "str", "required": True},
             "password": {"type": "str", "required": True, "no_log": True},
             "extensions": {"type": "list", "elements": "str", "default": []}}
# secret_files carry the env files with secrets: declared no_log so no invocation or syslog line holds them
_PROJECTS = dict(_LIST, options={
    "service": {"type": "str", "required": True},
    "project_src": {"type": "path", "required": True},
    "project_name": {"type": "str", "required": True},
    "files": {"type": "dict", "default": {}},
    "secret_files": {"type": "dict", "default": {}, "no_log": True},
    "probe": {"type": "dict"},
    "target": {"type": "str"},
    "model": {"type": "dict"},
    "recreate_services": {"type": "list", "elements": "str"},
    "validated": {"type": "dict"},
    "start_if_changed": {"type": "bool", "default": False},
})

ARGUMENT_SPEC = {
    "check": _PROJECTS, "up": _PROJECTS, "stop": _PROJECTS, "previous": _PROJECTS, "probe": _LIST,
    "remote": dict(_LIST, options={
        "name": {"type": "str", "required": True}, "host": {"type": "str", "required": True},
        "port": {"type": "int", "required": True}, "probe": {"type": "dict", "default": {}},
        "backoff": {"type": "dict"}, "type": {"type": "str"},
        "logins": {"type": "list", "elements": "dict", "options": {
            "user": {"type": "str", "required": True}, "password": {"type": "str", "required": True, "no_log": True},
            "database": {"type": "str", "required": True}}}}),
    "wiring": _LIST, "models": _LIST,
    "baseline": {"type": "dict", "default": {}},
    "poll": {"type": "dict", "options": {"seconds": {"type": "float", "default": 5.0},
                                         "base": {"type": "float", "default": 0.25},
                                         "cap": {"type": "float", "default": 1.0}}},
    "release_lock_if_settled": {"type": "dict"},
    "admins": dict(_LIST, options={
        "service": {"type": "str", "required": True},
        "kind": {"type": "str", "required": True, "choices": list(KINDS)},
        "target": {"type": "str"}, "port": {"type": "int", "required": True},
        "email": {"type": "str", "required": True}, "name": {"type": "str", "default": "Platform Admin"},
        "password": {"type": "str", "required": True, "no_log": True},
        "init_password": {"type": "str", "no_log": True},
        "secrets_file": {"type": "str"}, "reset": {"type": "str"},
        "wait": {"type": "float", "default": 30}}),
    # the key values inside are no_log; the names and models around them are not secret
    "virtual_keys": dict(_LIST, no_log=False, options={
        "service": {"type": "str", "required": True}, "target": {"type": "str"},
        "port": {"type": "int", "required": True},
        "master_key": {"type": "str", "required": True, "no_log": True},
        "applications": {"type": "list", "elements": "dict", "required": True, "options": {
            "alias": {"type": "str", "required": True},
            "key": {"type": "str", "required": True, "no_log": True},
            "models": {"type": "list", "elements": "str", "default": []}}},
        "secrets_file": {"type": "str"},
        "wait": {"type": "float", "default": 30}}),
    # only the passwords are secret: a no_log on the whole dict would mask every name in the output
    "databases": {"type": "dict", "options": {
        "container": {"type": "str", "required": True},
        "admin_user": {"type": "str", "default": "postgres"},
        "when_ready": {"type": "str"},
        "databases": {"type": "list", "elements": "dict", "required": True, "options": _DATABASE}}},
    "pull": {"type": "str", "default": "missing", "choices": ["missing", "never", "always"]},
    "networks": {"type": "list", "elements": "str", "default": []},
    "parallel": {"type": "int", "default": 8},
    "log_lines": {"type": "int", "default": 20},
}


# -- the request's parts, as the scheduler builds them -----------------------------------------------------------

class Validated(TypedDict):
    """What a check found valid in a project's files (its `up` need not validate them again)."""

    hash: str
    services: List[str]
    images: List[str]


class _ProjectKeys(TypedDict):
    service: str
    project_src: str
    project_name: str


class ProjectSpec(_ProjectKeys, total=False):
    """One compose project, in `check`, `up`, `stop` and `previous`."""

    files: Dict[str, Dict[str, Any]]  # {relative path: {content, mode}}
    secret_files: Dict[str, Dict[str, Any]]  # the same, with a private mode (env files with secrets)
    probe: Optional[Dict[str, Any]]
    target: Optional[str]
    model: Dict[str, Any]  # drift.py's compose model
    recreate_services: List[str]
    validated: Validated
    start_if_changed: bool


class _ProbeKeys(TypedDict):
    name: str
    project: str


class ProbeSpec(_ProbeKeys, total=False):
    """A service to probe (`probe`: a list of dicts without declared suboptions); also the scheduler's wait spec."""

    probe: Dict[str, Any]
    target: Optional[str]
    backoff: Dict[str, Any]  # read by the scheduler's wait only
    type: str  # read by the scheduler's wait only
    with_logs: bool  # asks for the log tail of a waiting service


class PollSpec(TypedDict, total=False):
    seconds: float
    base: float
    cap: float


class Login(TypedDict):
    user: str
    password: str
    database: str


class _RemoteKeys(TypedDict):
    name: str
    host: str
    port: int


class RemoteSpec(_RemoteKeys, total=False):
    """A dependency on another host, probed from here at its published endpoint."""

    probe: Dict[str, Any]
    backoff: Dict[str, Any]
    type: str
    logins: List[Login]


class _AppDatabaseKeys(TypedDict):
    name: str
    owner: str
    password: str


class AppDatabase(_AppDatabaseKeys, total=False):
    extensions: List[str]


class _DatabasesKeys(TypedDict):
    container: str
    databases: List[AppDatabase]


class DatabasesSpec(_DatabasesKeys, total=False):
    admin_user: str
    when_ready: str


class _AdminKeys(TypedDict):
    service: str
    kind: str
    port: int
    email: str
    password: str


class AdminSpec(_AdminKeys, total=False):
    """An application's first administrator (module_utils/first_admin.py)."""

    target: Optional[str]
    name: str
    init_password: Optional[str]
    secrets_file: Optional[str]
    reset: Optional[str]
    wait: float


class _KeyApplicationKeys(TypedDict):
    alias: str
    key: str


class KeyApplication(_KeyApplicationKeys, total=False):
    models: List[str]


class _VirtualKeysKeys(TypedDict):
    service: str
    port: int
    master_key: str
    applications: List[KeyApplication]


class VirtualKeysSpec(_VirtualKeysKeys, total=False):
    """LiteLLM's virtual keys for the applications (module_utils/litellm_keys.py)."""

    target: Optional[str]
    secrets_file: Optional[str]
    wait: float


class Endpoint(TypedDict):
    name: str
    host: str
    port: int


class _WiringKeys(TypedDict):
    name: str
    container: str
    endpoints: List[Endpoint]


class WiringSpec(_WiringKeys, total=False):
    """A service's links (`wiring`: a list of dicts without declared suboptions)."""

    if_ready: bool


class _ModelsKeys(TypedDict):
    service: str
    names: List[str]


class ModelsSpec(_ModelsKeys, total=False):
    """The models a service should have (`models`: a list of dicts without declared suboptions)."""

    port: int


class RunLock(TypedDict):
    dir: str
    run: str


class StepRequest(TypedDict, total=False):
    """One step: the module's arguments (ARGUMENT_SPEC); the scheduler sends only the parts it needs."""

    check: List[ProjectSpec]
    up: List[ProjectSpec]
    stop: List[ProjectSpec]
    previous: List[ProjectSpec]
    probe: List[ProbeSpec]
    baseline: Dict[str, int]  # restart count per container when its wait began
    poll: PollSpec
    remote: List[RemoteSpec]
    databases: DatabasesSpec
    admins: List[AdminSpec]
    virtual_keys: List[VirtualKeysSpec]
    wiring: List[WiringSpec]
    models: List[ModelsSpec]
    release_lock_if_settled: RunLock
    pull: str
    networks: List[str]
    parallel: int
    log_lines: int


# -- the response, as module_utils/deploy_step.py returns it -----------------------------------------------------

class DriftEntry(TypedDict):
    service: str
    container: str
    field: str
    expected: Any
    found: Any


class Failure(TypedDict, total=False):
    """A categorised failure (module_utils/errors.py), in a result that has `failed` or `ok: false`."""

    category: str
    cause: str
    advice: str


class ProjectResult(Failure, total=False):
    """Per service in `check`, `up`, `stop` and `previous`: module_utils/project.py's result (compose_project's)."""

    changed: bool
    failed: bool
    rc: int  # of the failed compose call
    msg: str
    note: str
    changed_files: List[str]
    diff: List[Dict[str, Any]]
    actions: List[str]
    config_hash: str
    validated: Validated
    drift: List[str]  # compose services to (re)create
    rollback_available: bool
    networks_created: List[str]
    started: List[str]
    unparsed: List[str]  # compose output the parser does not know
    brought_up: bool  # check only: started by the same call (start_if_changed)
    container_drift: List[DriftEntry]  # check only: containers changed behind the platform's back
    reason: str
    recreate_services: List[str]


class Container(TypedDict, total=False):
    """The facts of one probed container (module_utils/probes.py container_facts)."""

    name: str
    service: str
    project: str
    oneshot: bool
    status: str
    running: bool
    exit_code: Optional[int]
    restart_count: int
    health: Optional[str]
    started_at: Optional[str]
    created: Optional[str]
    finished_at: Optional[str]
    oom_killed: bool
    address: Optional[str]
    image: Optional[str]


class ProbeResult(TypedDict, total=False):
    """Per service in `probe`."""

    verdict: str  # ready | waiting | crash_loop | engine_restarted
    detail: str
    containers: List[Container]
    logs: List[str]
    engine_down: bool  # the Docker engine did not answer
    engine_started: Optional[float]  # epoch seconds the local engine started (None: not known here)


class RemoteResult(TypedDict):
    """Per dependency in `remote`."""

    verdict: str  # ready | waiting
    detail: str


class DatabasesResult(TypedDict, total=False):
    ok: bool
    changes: List[str]
    category: str
    cause: str


class AdminResult(Failure, total=False):
    """Per application in `admins`."""

    ok: bool
    changed: bool
    action: str  # created, verified, present, unverified, would_create


class KeysResult(Failure, total=False):
    """For LiteLLM in `virtual_keys`."""

    ok: bool
    changed: bool
    actions: Dict[str, str]  # per application: registered, replaced, updated, verified, would_register, ...


class LinkCheck(TypedDict):
    """Per service, per dependency in `wiring`."""

    ok: bool
    address: str
    detail: str


class StepResult(TypedDict, total=False):
    """What run_step returns: the module's RETURN (and Ansible's own `warnings`)."""

    check: Dict[str, ProjectResult]
    up: Dict[str, ProjectResult]
    stop: Dict[str, ProjectResult]
    previous: Dict[str, ProjectResult]
    probe: Dict[str, ProbeResult]
    remote: Dict[str, RemoteResult]
    polls: int
    databases: DatabasesResult
    admins: Dict[str, AdminResult]
    virtual_keys: Dict[str, KeysResult]
    models: Dict[str, List[str]]  # per service, the models it lacks
    wiring: Dict[str, Dict[str, LinkCheck]]
    lock_released: bool
    warnings: List[str]


class StepResponse(StepResult, total=False):
    """What the scheduler gets back: the module's result and `changed`, or the module's failure (`failed`, `msg`,
    `category`: the engine did not answer, or the action's module_failure when the module gave no reason)."""

    changed: bool
    failed: bool
    msg: str
    category: str
